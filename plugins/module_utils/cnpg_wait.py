# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for a CloudNativePG Cluster: a resumable list-then-watch loop and its transport.

``ClusterWaiter`` runs the loop against a small transport (``ClusterApi`` over kubernetes.core's
client, or a fake in unit tests) and judges each state with the rules of ``cnpg`` (readiness,
terminal phases). Connections, errors and retries are ``k8s_client``'s.

``argspec``, ``argument_problem`` and ``task_result`` are the task's side, shared by the two ways
``apocrathia.mlflow.cnpg_cluster_wait`` runs: the action plugin (in the controller, what a play
uses) and the module (``plugins/modules/cnpg_cluster_wait.py``, its documentation, run on its
own), so both check the same options and return the same results and messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import time
from datetime import datetime, timezone

from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import (
    API_VERSION,
    GROUP,
    PHASE_HEALTHY,
    PLURAL,
    RESOURCE,
    describe_state,
    evaluate_readiness,
    summarize,
    terminal_phase,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    DEFAULT_MAX_RETRIES,
    ApiError,
    K8sError,
    Unavailable,
    auth_argspec,
    backoff,
    call,
    request,
    translate_error,
)

# A watch is opened with the server-side timeout rounded up; the client read timeout stops an idle
# stream this long after the deadline even when the server does not end it.
READ_TIMEOUT_MARGIN = 0.25
CONNECT_TIMEOUT = 10
TIMELINE_LIMIT = 200
# After a spec change, how long a status the operator has not rewritten must stay unchanged before
# it is taken as describing the new spec (``spec_changed``).
DEFAULT_SETTLE_SECONDS = 5
# Backoff between watch streams that end without any event (so they do not become a busy loop).
IDLE_BASE_DELAY = 0.05
IDLE_MAX_DELAY = 1.0

RBAC_HINT = (
    "Grant a Role in namespace '{namespace}' with apiGroups: ['{group}'], resources: ['{plural}'], "
    "verbs: ['get', 'list', 'watch'] (this module lists and watches) and bind it to the user or service "
    "account in use."
)


def format_timeline(timeline):
    """'Setting up primary (0.1s) -> Cluster in healthy state (2.3s)' for messages."""
    parts = []
    for entry in timeline:
        label = entry["phase"] if entry["exists"] else "(absent)"
        parts.append("{0} ({1:.1f}s)".format(label or "(no phase)", entry["elapsed"]))
    return " -> ".join(parts) if parts else "(none)"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class WaitError(K8sError):
    """A failure of the wait the module reports as is: ``str(self)`` is the message."""


class OperatorNotInstalled(WaitError):
    pass


class ClusterNotFound(WaitError):
    pass


class ClusterDeleted(WaitError):
    pass


class TerminalPhase(WaitError):
    pass


class WaitTimeout(WaitError):
    pass


class AccessDenied(WaitError):
    pass


def operator_missing_message(namespace, name):
    return (
        "CloudNativePG operator is not installed: the API server has no '{0}' resource in {1}, so Cluster "
        "'{2}/{3}' cannot exist. Install the CloudNativePG operator "
        "(https://cloudnative-pg.io/documentation/current/installation_upgrade/), check that the CRD '{0}' "
        "is established (kubectl get crd {0}), then run again.".format(RESOURCE, API_VERSION, namespace, name)
    )


def forbidden_message(error, namespace):
    return "Forbidden: the credentials in use may not {0} {1} in namespace '{2}' ({3}). ".format(
        error.verb, RESOURCE, namespace, error.message or error.reason
    ) + RBAC_HINT.format(namespace=namespace, group=GROUP, plural=PLURAL)


# --------------------------------------------------------------------------------------------
# Transport over kubernetes.core's client
# --------------------------------------------------------------------------------------------


def iter_lines(response):
    """Lines of a streamed HTTP response as they arrive (the watch protocol is one JSON event a line)."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


class ClusterApi:
    """List and watch one CNPG Cluster through kubernetes.core's dynamic client (``K8SClient.client``).

    Raw paths are used rather than discovery so that requests are exactly one list or one watch
    and the object is returned as the plain dict the API sent.
    """

    def __init__(self, dynamic_client):
        self.client = dynamic_client

    @staticmethod
    def _collection_path(namespace):
        return "/apis/{0}/namespaces/{1}/{2}".format(API_VERSION, namespace, PLURAL)

    def _request(self, verb, path, **params):
        return request(self.client, "get", path, verb, **params)

    def list(self, namespace, name):
        """``(cluster or None, list resourceVersion)``."""
        response = self._request(
            "list", self._collection_path(namespace), field_selector="metadata.name=" + name, _request_timeout=30
        )
        data = json.loads(response.data)
        matching = [
            item for item in data.get("items") or [] if ((item or {}).get("metadata") or {}).get("name") == name
        ]
        return (matching[0] if matching else None), (data.get("metadata") or {}).get("resourceVersion")

    def watch(self, namespace, name, resource_version, timeout):
        """Yield watch events (dicts with ``type`` and ``object``) until the stream ends or ``timeout`` passes.

        A connection dropped or stalled mid-stream simply ends the generator: the caller resumes.
        """
        response = self._request(
            "watch",
            self._collection_path(namespace),
            watch=True,
            field_selector="metadata.name=" + name,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=max(1, int(math.ceil(timeout))),
            _request_timeout=(CONNECT_TIMEOUT, timeout + READ_TIMEOUT_MARGIN),
        )
        try:
            for line in iter_lines(response):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event
        except Exception as e:  # noqa: BLE001 - a broken stream is resumed by the caller
            translated = translate_error(e, "watch")
            if not isinstance(translated, ApiError):
                raise
        finally:
            # Close before releasing: an unfinished stream must not go back to the pool.
            response.close()
            response.release_conn()

    def operator_installed(self):
        """Whether the API server serves ``clusters`` in postgresql.cnpg.io/v1 (the CRD is established)."""
        try:
            response = self._request("get", "/apis/" + API_VERSION, _request_timeout=30)
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        data = json.loads(response.data)
        return any((r or {}).get("name") == PLURAL for r in data.get("resources") or [])


# --------------------------------------------------------------------------------------------
# The wait loop
# --------------------------------------------------------------------------------------------


class ClusterWaiter:
    """List the Cluster, then watch it until it is ready, terminal, gone, or the timeout passes.

    Watches resume from the last resourceVersion seen (events and bookmarks); 410 Gone, whether
    returned by the request or sent as an ERROR event, leads to a fresh list. Retryable API
    errors are retried ``max_retries`` times in a row with exponential backoff.
    """

    def __init__(
        self,
        api,
        namespace,
        name,
        timeout,
        wait_for_creation=False,
        expected_instances=None,
        spec_changed=False,
        settle_seconds=DEFAULT_SETTLE_SECONDS,
        max_retries=DEFAULT_MAX_RETRIES,
        clock=time.monotonic,
        wall_clock=time.time,
        sleep=time.sleep,
    ):
        self.api = api
        self.namespace = namespace
        self.name = name
        self.timeout = timeout
        self.wait_for_creation = wait_for_creation
        self.expected_instances = expected_instances
        self.settle_seconds = settle_seconds
        self.max_retries = max_retries
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep

        self.cluster = None
        self.timeline = []
        self.started = None
        self.watch_restarts = 0
        self.relists = 0
        self._last_key = None
        # The status first read, while it may still predate the caller's spec change (see _current).
        self._first_status = None
        self._status_current = not spec_changed

    # ----- bookkeeping --------------------------------------------------------------------------

    @property
    def elapsed(self):
        if self.started is None:
            return 0.0
        return round(self.clock() - self.started, 3)

    def _record(self, cluster):
        self.cluster = cluster
        status = (cluster or {}).get("status") or {}
        key = (bool(cluster), status.get("phase"))
        if key == self._last_key:
            return
        self._last_key = key
        if len(self.timeline) >= TIMELINE_LIMIT:
            return
        self.timeline.append(
            {
                "exists": bool(cluster),
                "phase": status.get("phase"),
                "phase_reason": status.get("phaseReason"),
                "ready_instances": status.get("readyInstances"),
                "elapsed": self.elapsed,
                "at": datetime.fromtimestamp(self.wall_clock(), tz=timezone.utc).isoformat(timespec="milliseconds"),
            }
        )

    def _readiness(self):
        """``(ready, unmet)`` for the last state read, counting a status that may predate the spec change."""
        ready, unmet = evaluate_readiness(self.cluster, self.expected_instances)
        if self.cluster is not None and not self._status_current:
            ready = False
            unmet.append("a status written after the spec change (or {0}s without one)".format(self.settle_seconds))
        return ready, unmet

    def result(self):
        """Everything the module returns besides ``changed`` and ``msg``."""
        ready, unmet = self._readiness()
        data = summarize(self.cluster, self.expected_instances)
        data.update(ready=ready, unmet=unmet, elapsed=self.elapsed, timeline=list(self.timeline))
        return data

    # ----- API calls ------------------------------------------------------------------------

    def _list(self, deadline=None):
        try:
            cluster, resource_version = call(
                lambda: self.api.list(self.namespace, self.name),
                "list",
                RESOURCE,
                self.max_retries,
                self.sleep,
                deadline,
                self.clock,
            )
        except ApiError as e:
            self._raise_for(e)
        self.relists += 1
        return cluster, resource_version

    def _raise_for(self, error):
        if error.status == 403:
            raise AccessDenied(forbidden_message(error, self.namespace)) from error
        if error.status == 401:
            raise AccessDenied(
                "Unauthorized: the API server rejected the credentials ({0}). Check kubeconfig, context, "
                "api_key or the K8S_AUTH_* variables.".format(error.message or error.reason)
            ) from error
        if error.status == 404 and error.verb in ("list", "watch"):
            if not self._operator_installed():
                raise OperatorNotInstalled(operator_missing_message(self.namespace, self.name)) from error
        raise WaitError(
            "Failed to {0} Cluster '{1}/{2}' due to: {3}".format(error.verb, self.namespace, self.name, error)
        ) from error

    def _operator_installed(self):
        try:
            return call(self.api.operator_installed, "get", RESOURCE, self.max_retries, self.sleep)
        except ApiError:
            # Discovery itself failed (for example 403): report the original error instead.
            return True

    # ----- public ---------------------------------------------------------------------------

    def snapshot(self):
        """Read the Cluster once (check mode). Returns it, or None when it does not exist."""
        self.started = self.clock()
        cluster, _ = self._list()
        self._record(cluster)
        return cluster

    def _current(self, cluster):
        """Whether the status of ``cluster`` can be taken to describe the spec the caller just wrote.

        CloudNativePG 1.30 writes no generation into a Cluster's status (``cnpg.evaluate_readiness``),
        and it writes the status only when it changes (``updateResourceStatus``,
        internal/controller/cluster_status.go:369-371; ``PatchWithOptimisticLock``,
        pkg/resources/status/patch.go:63). After a spec change (``spec_changed``) the status first
        read may therefore predate the operator's reaction to it. It counts once the operator has
        written a status out of the healthy phase, or after ``settle_seconds``: a change
        that needs work (a rollout, a new replica, a new image) makes the operator leave the healthy
        phase at its next reconcile, which follows the spec's watch event at once.
        """
        if self._status_current:
            return True
        status = (cluster or {}).get("status")
        if self._first_status is None:
            self._first_status = {"status": status}
        elif status != self._first_status["status"] and (status or {}).get("phase") != PHASE_HEALTHY:
            # The operator has acted on the change. A rewrite that stays healthy proves nothing:
            # reconcileImage copies a new image into status.image while the phase is still healthy,
            # before the rollout starts (internal/controller/cluster_image.go:96-115).
            self._status_current = True
        if self.clock() - self.started >= self.settle_seconds:
            self._status_current = True
        return self._status_current

    def _settle_left(self):
        """Seconds until a status unchanged since the first read counts as current (0 when it does)."""
        if self._status_current:
            return 0.0
        return max(0.0, self.started + self.settle_seconds - self.clock())

    def _check(self, cluster):
        """Record ``cluster`` and return True when waiting is over; raise on terminal outcomes."""
        self._record(cluster)
        if cluster is None or not self._current(cluster):
            return False
        failure = terminal_phase(cluster)
        if failure:
            phase, reason, hint = failure
            raise TerminalPhase(
                "Cluster '{0}/{1}' is in terminal phase '{2}'{3}: {4}. Timeline: {5}".format(
                    self.namespace,
                    self.name,
                    phase,
                    " (phaseReason: {0})".format(reason) if reason else "",
                    hint,
                    format_timeline(self.timeline),
                )
            )
        ready, _ = evaluate_readiness(cluster, self.expected_instances)
        return ready

    def _timeout(self):
        ready, unmet = self._readiness()
        return WaitTimeout(
            "Timed out after {0}s waiting for Cluster '{1}/{2}' to be ready: {3}; still waiting for: {4}. "
            "Phases seen: {5}".format(
                self.timeout,
                self.namespace,
                self.name,
                describe_state(self.cluster, self.expected_instances),
                "; ".join(unmet),
                format_timeline(self.timeline),
            )
        )

    def wait(self):
        """Wait until the Cluster is ready and return it. Raises a ``WaitError`` otherwise."""
        self.started = self.clock()
        deadline = self.started + self.timeout
        resource_version = None
        failures = 0
        idle_streams = 0
        while True:
            if resource_version is None:
                cluster, resource_version = self._list(deadline)
                if cluster is None and not self.wait_for_creation:
                    self._record(None)
                    raise ClusterNotFound(
                        "Cluster '{0}/{1}' not found. Create it first, or set wait_for_creation=true to wait "
                        "for it to appear.".format(self.namespace, self.name)
                    )
                if self._check(cluster):
                    return cluster
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise self._timeout()
            if self._settle_left() > 0:
                # Wake up when the settle time is over, even if no event comes.
                remaining = min(remaining, self._settle_left())

            events = 0
            stream = None
            try:
                stream = self.api.watch(self.namespace, self.name, resource_version, remaining)
                for event in stream:
                    events += 1
                    event_type = event.get("type")
                    obj = event.get("object") or {}
                    if event_type == "ERROR":
                        if obj.get("code") == 410:
                            resource_version = None
                            break
                        raise ApiError(obj.get("code"), obj.get("reason"), obj.get("message"), "watch")
                    failures = 0
                    resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                    if event_type == "BOOKMARK" or (obj.get("metadata") or {}).get("name") != self.name:
                        continue
                    if event_type == "DELETED":
                        if not self.wait_for_creation:
                            self._record(None)
                            raise ClusterDeleted(
                                "Cluster '{0}/{1}' was deleted while waiting for it. Timeline: {2}".format(
                                    self.namespace, self.name, format_timeline(self.timeline)
                                )
                            )
                        self._check(None)
                    elif self._check(obj):
                        return obj
                    if self.clock() >= deadline:
                        raise self._timeout()
            except ApiError as e:
                if e.status == 410:
                    resource_version = None
                    continue
                if not e.retryable:
                    self._raise_for(e)
                failures += 1
                if failures > self.max_retries:
                    raise Unavailable(
                        "The Kubernetes API failed {0} times in a row (watch {1}): {2}. Last state of Cluster "
                        "'{3}/{4}': {5}".format(
                            failures,
                            RESOURCE,
                            e,
                            self.namespace,
                            self.name,
                            describe_state(self.cluster, self.expected_instances),
                        )
                    ) from e
                self.sleep(max(0.0, min(backoff(failures), deadline - self.clock())))
                continue
            finally:
                if stream is not None and hasattr(stream, "close"):
                    stream.close()

            # The stream ended (server timeout, dropped connection, or the settle time is over):
            # judge the last state again, then resume from resource_version.
            if self.cluster is not None and self._check(self.cluster):
                return self.cluster
            self.watch_restarts += 1
            if events == 0:
                # An empty stream ending early must not become a busy loop.
                idle_streams += 1
                self.sleep(
                    max(0.0, min(backoff(idle_streams, IDLE_BASE_DELAY, IDLE_MAX_DELAY), deadline - self.clock()))
                )
            else:
                idle_streams = 0


# --------------------------------------------------------------------------------------------
# The task: options, their checks and what it returns (the action plugin and the module)
# --------------------------------------------------------------------------------------------


def argspec():
    """The options of cnpg_cluster_wait: kubernetes.core's connection options and the wait's own."""
    return auth_argspec(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        timeout=dict(type="int", default=600),
        wait_for_creation=dict(type="bool", default=False),
        expected_instances=dict(type="int"),
        spec_changed=dict(type="bool", default=False),
        settle_seconds=dict(type="int", default=DEFAULT_SETTLE_SECONDS),
    )


def argument_problem(params):
    """The message for an option out of range, or None."""
    if params["timeout"] < 1:
        return "timeout must be at least 1 second, got {0}.".format(params["timeout"])
    if params["expected_instances"] is not None and params["expected_instances"] < 1:
        return "expected_instances must be at least 1, got {0}.".format(params["expected_instances"])
    if params["settle_seconds"] < 0:
        return "settle_seconds must be 0 or more, got {0}.".format(params["settle_seconds"])
    return None


def new_waiter(api, params):
    """A ``ClusterWaiter`` over ``api`` (a ``ClusterApi``) for the task's options."""
    return ClusterWaiter(
        api,
        params["namespace"],
        params["name"],
        params["timeout"],
        wait_for_creation=params["wait_for_creation"],
        expected_instances=params["expected_instances"],
        spec_changed=params["spec_changed"],
        settle_seconds=params["settle_seconds"],
    )


def task_result(waiter, params, check_mode):
    """What the task returns: ``msg``, ``changed`` (never true) or ``failed``, ``warnings`` (a
    list, maybe empty) and everything of ``waiter.result()``.

    In check mode the Cluster is read once and not waited for; a missing CRD or Cluster is a
    warning, not a failure, since the tasks that would create them did not run either.
    """
    where = "'{0}/{1}'".format(params["namespace"], params["name"])
    expected = params["expected_instances"]
    warnings = []

    def answer(message, failed=False):
        data = waiter.result()
        result = dict(msg=message(data) if callable(message) else message, warnings=warnings)
        if failed:
            result["failed"] = True
        else:
            result["changed"] = False
        result.update(data)
        return result

    if check_mode:
        try:
            cluster = waiter.snapshot()
        except (OperatorNotInstalled, ClusterNotFound) as e:
            warnings.append(str(e))
            return answer("Check mode: " + str(e))
        except K8sError as e:
            return answer(str(e), failed=True)
        if cluster is None:
            warnings.append("Cluster {0} does not exist (yet).".format(where))
        return answer(
            lambda data: "Check mode: Cluster {0} is {1}ready: {2}.".format(
                where, "" if data["ready"] else "not ", describe_state(cluster, expected)
            )
        )

    try:
        waiter.wait()
    except K8sError as e:
        return answer(str(e), failed=True)
    return answer(
        lambda data: "Cluster {0} is ready after {1}s: {2}.".format(
            where, data["elapsed"], describe_state(waiter.cluster, expected)
        )
    )
