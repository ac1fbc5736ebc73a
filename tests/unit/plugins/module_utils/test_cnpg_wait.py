"""The watch loop and transport of module_utils/cnpg_wait.py, against a scripted fake API and clock."""

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils import cnpg_wait, k8s_client
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import PHASE_HEALTHY, TERMINAL_PHASES
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg_wait import (
    AccessDenied,
    ClusterDeleted,
    ClusterNotFound,
    ClusterWaiter,
    OperatorNotInstalled,
    TerminalPhase,
    WaitError,
    WaitTimeout,
    iter_lines,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import ApiError, Unavailable

from tests.unit.plugins.module_utils.test_cnpg import cluster, event, healthy


def test_iter_lines_reassembles_split_chunks():
    class Response:
        def stream(self, amt=None, decode_content=False):
            yield b'{"type": "ADDED", "obj'
            yield b'ect": {}}\n\n{"type": "MOD'
            yield b'IFIED", "object": {}}\n{"partial": 1}'

    assert list(iter_lines(Response())) == [
        b'{"type": "ADDED", "object": {}}',
        b'{"type": "MODIFIED", "object": {}}',
        b'{"partial": 1}',
    ]


# ----------------------------------------------------------------------------------------------
# The watch loop, against a scripted API and a fake clock
# ----------------------------------------------------------------------------------------------


class Advance:
    """A pause inside a watch stream: the fake clock moves on by ``seconds``."""

    def __init__(self, seconds):
        self.seconds = seconds


class FakeApi:
    """``lists``: (cluster, resourceVersion) tuples or exceptions, one per list call.
    ``watches``: one script per watch call: an exception (raised when opening), or a list of
    events, ``Advance`` pauses and exceptions (raised mid-stream). When the scripts run out a
    watch idles until its timeout, as a real API server does.
    """

    def __init__(self, clock, lists=(), watches=(), operator_installed=True):
        self.clock = clock
        self.lists = list(lists)
        self.watches = list(watches)
        self.installed = operator_installed
        self.calls = []

    def list(self, namespace, name):
        self.calls.append(("list", namespace, name))
        item = self.lists.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def watch(self, namespace, name, resource_version, timeout):
        self.calls.append(("watch", resource_version, round(timeout, 3)))
        if not self.watches:
            self.clock.now += timeout
            return iter(())
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        return self._stream(script)

    def _stream(self, script):
        for item in script:
            if isinstance(item, Advance):
                self.clock.now += item.seconds
            elif isinstance(item, Exception):
                raise item
            else:
                yield item

    def operator_installed(self):
        self.calls.append(("discovery",))
        return self.installed

    def verbs(self):
        return [c[0] for c in self.calls]


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def waiter(api, clock, timeout=60, **kwargs):
    return ClusterWaiter(api, "ns", "db", timeout, clock=clock, wall_clock=lambda: 0.0, sleep=clock.sleep, **kwargs)


def test_ready_at_first_list_does_not_watch(clock):
    api = FakeApi(clock, lists=[(healthy(), "10")])
    w = waiter(api, clock)
    assert w.wait()["status"]["phase"] == PHASE_HEALTHY
    assert api.verbs() == ["list"]
    assert w.result()["ready"] is True


def test_normal_progression_records_timeline(clock):
    api = FakeApi(
        clock,
        lists=[(cluster("Setting up primary", 0, ready="False"), "10")],
        watches=[
            [
                Advance(1),
                event(cluster("Creating a new replica", 1, ready="False", rv="11")),
                Advance(1),
                event(cluster("Creating a new replica", 2, ready="False", rv="12")),
                Advance(1),
                event(healthy(rv="13")),
                event(healthy(rv="14")),  # never consumed
            ]
        ],
    )
    w = waiter(api, clock)
    w.wait()
    result = w.result()
    assert result["ready"] is True and result["elapsed"] == 3.0
    assert [(t["phase"], t["elapsed"]) for t in result["timeline"]] == [
        ("Setting up primary", 0.0),
        ("Creating a new replica", 1.0),
        (PHASE_HEALTHY, 3.0),
    ]
    assert api.calls[1] == ("watch", "10", 60.0)


def stale_healthy(rv):
    """A healthy status left from before a spec change to 3 instances of a new size (nothing in it says so)."""
    return healthy(rv=rv)


def test_changed_spec_waits_for_the_operator_to_leave_healthy(clock):
    """After a spec change the healthy status first read is not taken: the operator starts a rollout
    (its next status write), and only the healthy status after that counts."""
    api = FakeApi(
        clock,
        lists=[(stale_healthy("20"), "20")],
        watches=[
            [
                Advance(0.5),
                event(cluster("Upgrading cluster", 2, 3, ready="False", rv="21")),
                Advance(4.5),
                event(healthy(rv="22")),
            ]
        ],
    )
    w = waiter(api, clock, spec_changed=True, settle_seconds=2)
    w.wait()
    assert w.elapsed == 5.0
    assert [t["phase"] for t in w.result()["timeline"]] == [PHASE_HEALTHY, "Upgrading cluster", PHASE_HEALTHY]


def test_a_new_image_copied_into_a_healthy_status_does_not_end_the_wait(clock):
    """The operator first copies the new image into status.image, still healthy, then starts the
    rollout: the healthy rewrite is not taken as the operator's answer."""
    new_image = "ghcr.io/cloudnative-pg/postgresql:18.7-system-trixie"

    def with_image(obj):
        obj["spec"]["imageName"] = obj["status"]["image"] = new_image
        return obj

    first = stale_healthy("20")
    first["spec"]["imageName"] = new_image
    api = FakeApi(
        clock,
        lists=[(first, "20")],
        watches=[
            [
                Advance(0.5),
                event(with_image(healthy(rv="21"))),
                Advance(0.5),
                event(with_image(cluster("Upgrading cluster", 2, 3, ready="False", rv="22"))),
                Advance(9),
                event(with_image(healthy(rv="23"))),
            ]
        ],
    )
    w = waiter(api, clock, spec_changed=True, settle_seconds=5)
    w.wait()
    assert w.elapsed == 10.0
    assert [t["phase"] for t in w.result()["timeline"]] == [PHASE_HEALTHY, "Upgrading cluster", PHASE_HEALTHY]


def test_changed_spec_with_nothing_to_do_is_ready_after_the_settle_time(clock):
    """A change the operator has nothing to show for (no status write) is ready once the status
    stayed the same for settle_seconds; the watch is cut to wake up then."""
    api = FakeApi(clock, lists=[(stale_healthy("20"), "20")])
    w = waiter(api, clock, spec_changed=True, settle_seconds=3)
    w.wait()
    assert w.elapsed == 3.0
    assert api.calls[1] == ("watch", "20", 3.0)
    assert w.result()["ready"] is True


def test_changed_spec_without_settle_takes_the_first_status(clock):
    api = FakeApi(clock, lists=[(stale_healthy("20"), "20")])
    w = waiter(api, clock, spec_changed=True, settle_seconds=0)
    w.wait()
    assert api.verbs() == ["list"]


def test_a_metadata_only_event_is_not_a_status_write(clock):
    """An event that changes only metadata (labels, resourceVersion) leaves the status unproven."""
    relabelled = stale_healthy("21")
    relabelled["metadata"]["labels"] = {"team": "ml"}
    api = FakeApi(clock, lists=[(stale_healthy("20"), "20")], watches=[[Advance(1), event(relabelled)]])
    w = waiter(api, clock, spec_changed=True, settle_seconds=4)
    w.wait()
    assert w.elapsed == 4.0


def test_changed_spec_stale_terminal_phase_is_left_to_the_operator(clock):
    """An invalid definition from before the fix is not reported; the operator's next status is."""
    invalid = cluster("Invalid cluster definition", reason="old problem", ready="False", rv="30")
    api = FakeApi(
        clock,
        lists=[(invalid, "30")],
        watches=[[Advance(0.3), event(cluster("Setting up primary", 0, 3, ready="False", rv="31"))]]
        + [[Advance(2), event(healthy(rv="32"))]],
    )
    w = waiter(api, clock, spec_changed=True, settle_seconds=5)
    w.wait()
    assert w.result()["ready"] is True


def test_changed_spec_terminal_phase_still_there_after_settle_fails(clock):
    invalid = cluster("Invalid cluster definition", reason="still wrong", ready="False", rv="30")
    api = FakeApi(clock, lists=[(invalid, "30")])
    w = waiter(api, clock, timeout=600, spec_changed=True, settle_seconds=5)
    with pytest.raises(TerminalPhase, match="still wrong"):
        w.wait()
    assert w.elapsed == 5.0


def test_timeout_before_a_status_write_says_so(clock):
    api = FakeApi(clock, lists=[(stale_healthy("20"), "20")])
    w = waiter(api, clock, timeout=2, spec_changed=True, settle_seconds=5)
    with pytest.raises(WaitTimeout, match=r"a status written after the spec change \(or 5s without one\)"):
        w.wait()
    assert w.result()["ready"] is False


@pytest.mark.parametrize("phase", sorted(TERMINAL_PHASES))
def test_terminal_phase_fails_fast_with_phase_and_reason(clock, phase):
    api = FakeApi(
        clock,
        lists=[(cluster("Setting up primary"), "1")],
        watches=[[Advance(0.5), event(cluster(phase, reason="the reason", ready="False", rv="2"))]],
    )
    w = waiter(api, clock, timeout=600)
    with pytest.raises(TerminalPhase) as err:
        w.wait()
    assert phase in str(err.value) and "the reason" in str(err.value)
    assert w.elapsed == 0.5
    assert w.result()["phase"] == phase and w.result()["phase_reason"] == "the reason"


def test_timeout_reports_last_phase_counts_and_history(clock):
    api = FakeApi(
        clock,
        lists=[(cluster("Setting up primary", 0), "1")],
        watches=[[Advance(2), event(cluster("Creating a new replica", 1, rv="2"))]],
    )
    w = waiter(api, clock, timeout=10)
    with pytest.raises(WaitTimeout) as err:
        w.wait()
    msg = str(err.value)
    assert "Timed out after 10s" in msg
    assert "phase 'Creating a new replica'" in msg and "readyInstances 1/3" in msg
    assert "Setting up primary (0.0s) -> Creating a new replica (2.0s)" in msg
    assert w.elapsed == 10.0
    # After the scripted stream ended the loop resumed from resourceVersion 2 for the remaining 8s.
    assert api.calls[2] == ("watch", "2", 8.0)


def test_dropped_watch_resumes_from_last_resource_version(clock):
    api = FakeApi(
        clock,
        lists=[(cluster(rv="5"), "7")],
        watches=[
            [event(cluster("Creating a new replica", 1, rv="8"))],  # server closes after one event
            [
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
                ApiError(None, "x", "y", "watch"),
            ],
            [event(healthy(rv="16"))],
        ],
    )
    w = waiter(api, clock)
    w.wait()
    assert [c[1] for c in api.calls if c[0] == "watch"] == ["7", "8", "15"]
    assert api.verbs().count("list") == 1
    assert w.watch_restarts == 1


@pytest.mark.parametrize(
    "gone",
    [
        [{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}],
        ApiError(410, "Gone", "too old resource version", "watch"),
    ],
    ids=["error-event", "http-410"],
)
def test_410_gone_relists(clock, gone):
    api = FakeApi(
        clock,
        lists=[(cluster(rv="1"), "3"), (cluster("Creating a new replica", 2, rv="40"), "50")],
        watches=[gone, [event(healthy(rv="51"))]],
    )
    w = waiter(api, clock)
    w.wait()
    assert api.verbs() == ["list", "watch", "list", "watch"]
    assert api.calls[3][1] == "50"


def test_5xx_is_retried_with_backoff(clock):
    api = FakeApi(
        clock,
        lists=[ApiError(500, "Internal", "boom", "list"), (cluster(rv="1"), "2")],
        watches=[ApiError(503, "Unavailable", "", "watch"), ApiError(500, "x", "", "watch"), [event(healthy())]],
    )
    w = waiter(api, clock)
    w.wait()
    assert clock.sleeps == [0.1, 0.1, 0.2]


def test_5xx_gives_up_after_bounded_retries(clock):
    api = FakeApi(
        clock,
        lists=[(cluster(rv="1"), "2")],
        watches=[ApiError(500, "Internal Server Error", "etcd down", "watch")] * 10,
    )
    w = waiter(api, clock)
    with pytest.raises(Unavailable) as err:
        w.wait()
    assert "failed 6 times in a row" in str(err.value) and "etcd down" in str(err.value)
    assert api.verbs().count("watch") == k8s_client.DEFAULT_MAX_RETRIES + 1


def test_list_5xx_gives_up(clock):
    api = FakeApi(clock, lists=[ApiError(502, "Bad Gateway", "", "list")] * 10)
    with pytest.raises(Unavailable):
        waiter(api, clock).wait()
    assert api.verbs() == ["list"] * (k8s_client.DEFAULT_MAX_RETRIES + 1)


@pytest.mark.parametrize("verb", ["list", "watch"])
def test_403_names_verb_resource_and_rbac(clock, verb):
    denied = ApiError(403, "Forbidden", 'clusters.postgresql.cnpg.io is forbidden: User "bob"', verb)
    api = FakeApi(
        clock,
        lists=[denied if verb == "list" else (cluster(rv="1"), "1")],
        watches=[denied],
    )
    with pytest.raises(AccessDenied) as err:
        waiter(api, clock).wait()
    msg = str(err.value)
    assert f"may not {verb} clusters.postgresql.cnpg.io in namespace 'ns'" in msg
    assert "verbs: ['get', 'list', 'watch']" in msg and 'User "bob"' in msg


def test_missing_crd_says_operator_not_installed(clock):
    api = FakeApi(clock, lists=[ApiError(404, "Not Found", "404 page not found", "list")], operator_installed=False)
    with pytest.raises(OperatorNotInstalled) as err:
        waiter(api, clock).wait()
    assert str(err.value).startswith("CloudNativePG operator is not installed")
    assert "Install the CloudNativePG operator" in str(err.value)


def test_404_with_operator_installed_is_reported_as_is(clock):
    api = FakeApi(clock, lists=[ApiError(404, "Not Found", "weird", "list")], operator_installed=True)
    with pytest.raises(WaitError) as err:
        waiter(api, clock).wait()
    assert not isinstance(err.value, OperatorNotInstalled)
    assert "weird" in str(err.value)


def test_missing_cluster_fails_unless_waiting_for_creation(clock):
    api = FakeApi(clock, lists=[(None, "5")])
    with pytest.raises(ClusterNotFound) as err:
        waiter(api, clock).wait()
    assert "wait_for_creation" in str(err.value)

    api = FakeApi(
        clock,
        lists=[(None, "5")],
        watches=[[Advance(1), event(cluster(rv="6"), "ADDED"), Advance(1), event(healthy(rv="7"))]],
    )
    w = waiter(api, clock, wait_for_creation=True)
    w.wait()
    assert [t["exists"] for t in w.timeline] == [False, True, True]


def test_deleted_while_waiting(clock):
    api = FakeApi(clock, lists=[(cluster(rv="1"), "1")], watches=[[event(cluster(rv="2"), "DELETED")]])
    with pytest.raises(ClusterDeleted):
        waiter(api, clock).wait()


def test_events_for_other_clusters_are_ignored(clock):
    api = FakeApi(
        clock,
        lists=[(cluster(rv="1"), "1")],
        watches=[[event(healthy(name="other", rv="2")), event(healthy(rv="3"))]],
    )
    w = waiter(api, clock)
    w.wait()
    assert w.cluster["metadata"]["resourceVersion"] == "3"


def test_empty_streams_back_off_instead_of_spinning(clock):
    api = FakeApi(clock, lists=[(cluster(rv="1"), "1")], watches=[[], [], [], [event(healthy())]])
    waiter(api, clock).wait()
    assert clock.sleeps == [0.05, 0.1, 0.2]


def test_snapshot_reads_once(clock):
    api = FakeApi(clock, lists=[(cluster(rv="1"), "1")])
    w = waiter(api, clock)
    assert w.snapshot()["metadata"]["name"] == "db"
    assert api.verbs() == ["list"]
    assert w.result()["ready"] is False


def test_error_events_count_as_failures(clock):
    error = {"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError", "message": "x"}}
    api = FakeApi(clock, lists=[(cluster(rv="1"), "1")], watches=[[error]] * 10)
    with pytest.raises(Unavailable):
        waiter(api, clock).wait()
    assert api.verbs().count("watch") == k8s_client.DEFAULT_MAX_RETRIES + 1


# ----------------------------------------------------------------------------------------------
# ClusterApi over a stand-in for kubernetes.core's dynamic client
# ----------------------------------------------------------------------------------------------


class Response:
    def __init__(self, data=b"", chunks=(), broken=None):
        self.data = data
        self.chunks = chunks
        self.broken = broken
        self.closed = self.released = False

    def stream(self, amt=None, decode_content=False):
        yield from self.chunks
        if self.broken:
            raise self.broken

    def close(self):
        self.closed = True

    def release_conn(self):
        self.released = True


class DynamicClient:
    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests = []

    def request(self, method, path, **params):
        self.requests.append((method, path, params))
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response


def dynamic_error(status, body):
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import api_exception

    return api_exception(ApiException(status=status, reason="Reason", body=body))


def test_cluster_api_list_uses_a_field_selector_and_returns_the_list_version():
    body = b'{"metadata": {"resourceVersion": "42"}, "items": [{"metadata": {"name": "other"}}, {"metadata": {"name": "db"}}]}'
    client = DynamicClient(Response(body))
    obj, rv = cnpg_wait.ClusterApi(client).list("ns", "db")
    assert obj == {"metadata": {"name": "db"}} and rv == "42"
    method, path, params = client.requests[0]
    assert path == "/apis/postgresql.cnpg.io/v1/namespaces/ns/clusters"
    assert params["field_selector"] == "metadata.name=db" and params["serialize"] is False


def test_cluster_api_translates_api_errors():
    client = DynamicClient(dynamic_error(403, '{"kind": "Status", "message": "clusters is forbidden: User \\"x\\""}'))
    with pytest.raises(ApiError) as err:
        cnpg_wait.ClusterApi(client).list("ns", "db")
    assert (err.value.status, err.value.verb) == (403, "list")
    assert err.value.message == 'clusters is forbidden: User "x"'


def test_cluster_api_watch_resumable_parameters_and_broken_stream():
    from urllib3.exceptions import ProtocolError

    response = Response(
        chunks=[b'{"type": "ADDED", "object": {"metadata": {"name": "db"}}}\n'], broken=ProtocolError("x")
    )
    client = DynamicClient(response)
    events = list(cnpg_wait.ClusterApi(client).watch("ns", "db", "17", 2.5))
    assert [e["type"] for e in events] == ["ADDED"]  # the broken stream just ends
    assert response.closed and response.released
    params = client.requests[0][2]
    assert params["watch"] is True and params["resource_version"] == "17"
    assert params["allow_watch_bookmarks"] is True and params["timeout_seconds"] == 3
    assert params["_request_timeout"] == (cnpg_wait.CONNECT_TIMEOUT, 2.5 + cnpg_wait.READ_TIMEOUT_MARGIN)


@pytest.mark.parametrize(
    "response, installed",
    [
        (Response(b'{"resources": [{"name": "clusters"}, {"name": "clusters/status"}]}'), True),
        (Response(b'{"resources": [{"name": "poolers"}]}'), False),
        (dynamic_error(404, "404 page not found"), False),
    ],
)
def test_cluster_api_operator_installed(response, installed):
    assert cnpg_wait.ClusterApi(DynamicClient(response)).operator_installed() is installed
