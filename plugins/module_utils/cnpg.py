# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudNativePG Cluster readiness: pure evaluation functions and a resumable watch loop.

The evaluation functions take the Cluster as a plain dict (as the API returns it) so they can be
tested without a cluster. ``ClusterWaiter`` runs the list-then-watch loop against a small
transport (``ClusterApi`` over kubernetes.core's client, or a fake in unit tests).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import time
from datetime import datetime, timezone

GROUP = "postgresql.cnpg.io"
VERSION = "v1"
API_VERSION = GROUP + "/" + VERSION
KIND = "Cluster"
PLURAL = "clusters"
RESOURCE = PLURAL + "." + GROUP

# Exact strings from cloudnative-pg v1.30.0 api/v1/cluster_types.go (the Phase* constants).
PHASE_HEALTHY = "Cluster in healthy state"

# Phases the operator does not leave without a change from a human: waiting is pointless.
TERMINAL_PHASES = {
    "Invalid cluster definition": "fix the Cluster spec (see phaseReason)",
    "Cluster is unrecoverable and needs manual intervention": "the operator needs manual intervention; see the "
    "CloudNativePG troubleshooting guide",
    "Unable to create required cluster objects": "check the operator logs and the operator's RBAC in this namespace",
    "Cluster cannot proceed to reconciliation due to an unknown plugin being required": "install the CNPG-I plugin "
    "named in spec.plugins or remove it from the spec",
    "Cluster cannot proceed to reconciliation due to an error while interacting with plugins": "check the CNPG-I "
    "plugin's deployment and logs",
    "Cluster has incomplete or invalid image catalog": "fix the ImageCatalog/ClusterImageCatalog referenced by "
    "spec.imageCatalogRef",
}

# Consecutive failed API calls (5xx, 429, connection errors) tolerated before giving up.
DEFAULT_MAX_RETRIES = 5
RETRY_BASE_DELAY = 0.1
RETRY_MAX_DELAY = 2.0
# A watch is opened with the server-side timeout rounded up; the client read timeout stops an idle
# stream this long after the deadline even when the server does not end it.
READ_TIMEOUT_MARGIN = 0.25
CONNECT_TIMEOUT = 10
TIMELINE_LIMIT = 200

RBAC_HINT = (
    "Grant a Role in namespace '{namespace}' with apiGroups: ['{group}'], resources: ['{plural}'], "
    "verbs: ['get', 'list', 'watch'] (this module lists and watches) and bind it to the user or service "
    "account in use."
)


# --------------------------------------------------------------------------------------------
# Pure evaluation
# --------------------------------------------------------------------------------------------


def _status(cluster):
    return (cluster or {}).get("status") or {}


def get_condition(cluster, condition_type):
    """The condition of ``condition_type`` in ``status.conditions``, or None."""
    for condition in _status(cluster).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == condition_type:
            return condition
    return None


def desired_instances(cluster, expected_instances=None):
    """How many ready instances make the Cluster complete: the override, else ``spec.instances``."""
    if expected_instances is not None:
        return expected_instances
    return ((cluster or {}).get("spec") or {}).get("instances")


def evaluate_readiness(cluster, expected_instances=None):
    """Return ``(ready, unmet)``: whether the Cluster is ready, and what is still missing.

    Ready means all of: condition Ready is "True" and its observedGeneration equals
    metadata.generation; status.readyInstances equals spec.instances (or ``expected_instances``);
    status.phase is "Cluster in healthy state".
    """
    if not cluster:
        return False, ["the Cluster does not exist"]
    unmet = []
    status = _status(cluster)
    generation = (cluster.get("metadata") or {}).get("generation")

    condition = get_condition(cluster, "Ready")
    if condition is None:
        unmet.append("no Ready condition yet")
    else:
        if condition.get("status") != "True":
            unmet.append("condition Ready is '{0}'".format(condition.get("status")))
        observed = condition.get("observedGeneration")
        if observed is None:
            unmet.append("condition Ready has no observedGeneration")
        elif observed != generation:
            unmet.append(
                "condition Ready is stale (observedGeneration {0}, metadata.generation {1})".format(
                    observed, generation
                )
            )

    want = desired_instances(cluster, expected_instances)
    have = status.get("readyInstances")
    if want is None:
        unmet.append("spec.instances is not set")
    elif have != want:
        unmet.append("readyInstances {0}/{1}".format(have if have is not None else 0, want))

    phase = status.get("phase")
    if phase != PHASE_HEALTHY:
        unmet.append("phase is '{0}', not '{1}'".format(phase or "", PHASE_HEALTHY))
    return not unmet, unmet


def terminal_phase(cluster):
    """``(phase, phase_reason, hint)`` when the Cluster is in a terminal phase for its current spec, else None.

    The operator sets the Ready condition (with observedGeneration) each time it records a phase.
    A terminal phase whose Ready condition is older than metadata.generation predates the latest
    spec change, so the operator may still clear it: it is not treated as terminal.
    """
    status = _status(cluster)
    phase = status.get("phase")
    if phase not in TERMINAL_PHASES:
        return None
    condition = get_condition(cluster, "Ready")
    if condition is not None and condition.get("observedGeneration") is not None:
        generation = ((cluster or {}).get("metadata") or {}).get("generation")
        if generation is not None and condition["observedGeneration"] < generation:
            return None
    return phase, status.get("phaseReason"), TERMINAL_PHASES[phase]


def summarize(cluster, expected_instances=None):
    """The fields the module returns about a Cluster (None where unknown)."""
    status = _status(cluster)
    metadata = (cluster or {}).get("metadata") or {}
    name = metadata.get("name")
    condition = get_condition(cluster, "Ready")
    return {
        "exists": bool(cluster),
        "phase": status.get("phase"),
        "phase_reason": status.get("phaseReason"),
        "instances": desired_instances(cluster, expected_instances),
        "ready_instances": status.get("readyInstances"),
        "current_primary": status.get("currentPrimary"),
        "write_service": status.get("writeService") or (name + "-rw" if name else None),
        "read_service": status.get("readService") or (name + "-r" if name else None),
        "conditions": status.get("conditions") or [],
        "generation": metadata.get("generation"),
        "observed_generation": condition.get("observedGeneration") if condition else None,
    }


def describe_state(cluster, expected_instances=None):
    """One line for messages: phase, reason and instance counts."""
    if not cluster:
        return "the Cluster does not exist"
    summary = summarize(cluster, expected_instances)
    text = "phase '{0}'".format(summary["phase"] or "")
    if summary["phase_reason"]:
        text += " ({0})".format(summary["phase_reason"])
    text += ", readyInstances {0}/{1}".format(
        summary["ready_instances"] if summary["ready_instances"] is not None else 0, summary["instances"]
    )
    return text


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


class ApiError(Exception):
    """A failed API call, from the transport. ``status`` is None for connection errors."""

    def __init__(self, status, reason, message, verb):
        self.status = status
        self.reason = reason
        self.message = message
        self.verb = verb
        super(ApiError, self).__init__(
            "{0} {1}: {2}".format(status if status is not None else "connection error", reason or "", message or "")
        )

    @property
    def retryable(self):
        return self.status is None or self.status == 429 or self.status >= 500


class WaitError(Exception):
    """A failure the module reports as is: ``str(self)`` is the message."""


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


class ApiUnavailable(WaitError):
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


def _error_message(body):
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(data, dict) and data.get("message"):
        return data["message"]
    return body.strip()[:500]


def _client_error_types():
    """(DynamicApiError, urllib3 HTTPError), None for a missing library.

    Imported when first needed: the readiness rules above also serve the cnpg_cluster_ready
    filter on the controller, which should not pay for importing the kubernetes client.
    """
    try:
        from kubernetes.dynamic.exceptions import DynamicApiError
    except ImportError:  # the modules report the missing library through AnsibleK8SModule
        DynamicApiError = None
    try:
        from urllib3.exceptions import HTTPError as Urllib3HTTPError
    except ImportError:
        Urllib3HTTPError = None
    return DynamicApiError, Urllib3HTTPError


def translate_error(error, verb):
    """``ApiError`` for kubernetes client API errors and connection errors; other exceptions unchanged."""
    DynamicApiError, Urllib3HTTPError = _client_error_types()
    if DynamicApiError is not None and isinstance(error, DynamicApiError):
        return ApiError(error.status, error.reason, _error_message(error.body), verb)
    if isinstance(error, OSError) or (Urllib3HTTPError is not None and isinstance(error, Urllib3HTTPError)):
        return ApiError(None, type(error).__name__, str(error), verb)
    return error


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
        try:
            return self.client.request("get", path, serialize=False, **params)
        except Exception as e:  # noqa: BLE001 - API and connection errors are translated, others re-raised
            translated = translate_error(e, verb)
            if translated is e:
                raise
            raise translated from e

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


def call_with_retries(
    func, max_retries=DEFAULT_MAX_RETRIES, sleep=None, deadline=None, clock=time.monotonic, what=RESOURCE
):
    """Call ``func`` and retry retryable ``ApiError`` (5xx, 429, connection) up to ``max_retries`` times.

    ``what`` names the resource in the message of the final failure.
    """
    sleep = sleep or time.sleep
    failures = 0
    while True:
        try:
            return func()
        except ApiError as e:
            if not e.retryable:
                raise
            failures += 1
            if failures > max_retries or (deadline is not None and clock() >= deadline):
                raise ApiUnavailable(
                    "The Kubernetes API failed {0} times in a row ({1} {2}): {3}".format(failures, e.verb, what, e)
                ) from e
            delay = min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2 ** (failures - 1))
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - clock()))
            sleep(delay)


def connect(module, get_api_client):
    """kubernetes.core's client (kubeconfig, context, host, api_key, K8S_AUTH_* ...), retried on 5xx.

    ``get_api_client`` is kubernetes.core's function, passed in so tests can replace it.
    Raises ``WaitError`` with the reason when the API cannot be reached.
    """

    def attempt():
        try:
            return get_api_client(module=module)
        except Exception as e:  # noqa: BLE001 - discovery errors: retry the transient ones
            translated = translate_error(e, "discover")
            if translated is e:
                raise
            raise translated from e

    try:
        return call_with_retries(attempt, what="the API")
    except ApiUnavailable as e:
        raise WaitError(
            "Could not connect to the Kubernetes API after {0} attempts: {1}".format(
                DEFAULT_MAX_RETRIES + 1, e.__cause__
            )
        ) from e
    except ApiError as e:
        raise WaitError("Could not connect to the Kubernetes API: {0}".format(e)) from e


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

    # ----- bookkeeping --------------------------------------------------------------------------

    @property
    def elapsed(self):
        if self.started is None:
            return 0.0
        return round(self.clock() - self.started, 3)

    def _record(self, cluster):
        self.cluster = cluster
        status = _status(cluster)
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

    def result(self):
        """Everything the module returns besides ``changed`` and ``msg``."""
        ready, unmet = evaluate_readiness(self.cluster, self.expected_instances)
        data = summarize(self.cluster, self.expected_instances)
        data.update(ready=ready, unmet=unmet, elapsed=self.elapsed, timeline=list(self.timeline))
        return data

    # ----- API calls ------------------------------------------------------------------------

    def _list(self, deadline=None):
        try:
            cluster, resource_version = call_with_retries(
                lambda: self.api.list(self.namespace, self.name),
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
            return call_with_retries(self.api.operator_installed, self.max_retries, self.sleep)
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

    def _check(self, cluster):
        """Record ``cluster`` and return True when waiting is over; raise on terminal outcomes."""
        self._record(cluster)
        if cluster is None:
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
        ready, unmet = evaluate_readiness(self.cluster, self.expected_instances)
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
                    raise ApiUnavailable(
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
                self.sleep(
                    max(0.0, min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2 ** (failures - 1), deadline - self.clock()))
                )
                continue
            finally:
                if stream is not None and hasattr(stream, "close"):
                    stream.close()

            # The stream ended (server timeout, dropped connection): resume from resource_version.
            self.watch_restarts += 1
            if events == 0:
                # An empty stream ending early must not become a busy loop.
                idle_streams += 1
                self.sleep(max(0.0, min(1.0, 0.05 * 2 ** (idle_streams - 1), deadline - self.clock())))
            else:
                idle_streams = 0
