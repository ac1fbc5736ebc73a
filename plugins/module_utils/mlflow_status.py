# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The state of an MLflow deployment: read every part in one go, then judge each part.

``read_snapshot`` reads everything the judgement needs through one client (about a dozen GET
and LIST requests, no watch, no write) and keeps only what the judgement uses: the credentials
Secret is reduced to its type and key names and Helm's release records to status, revision and
chart, so no secret value leaves this module. ``judge`` turns a snapshot into one row per part
(``part``, ``ok``, ``detail``); it is a pure function, unit-tested on plain dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import (
    API_VERSION as CNPG_API_VERSION,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import (
    PLURAL as CNPG_PLURAL,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import (
    evaluate_readiness,
    summarize,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.helm_release import decode_release, revision
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    ApiError,
    K8sError,
    call,
    request,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_objects import object_not_found
from ansible_collections.apocrathia.mlflow.plugins.module_utils.service_proxy import probe

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
HEALTH_DETAIL_LIMIT = 80

# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


def pod_ready(pod):
    """Whether a Pod's Ready condition is True (the kubelet's verdict: every container ready)."""
    for condition in ((pod or {}).get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def ready_count(pods):
    return sum(1 for pod in pods if pod_ready(pod))


def bound_count(pvcs):
    return sum(1 for pvc in pvcs if ((pvc or {}).get("status") or {}).get("phase") == "Bound")


def wanted_replicas(deployment):
    """``spec.replicas`` of a Deployment, 1 when unset (the API server's default)."""
    replicas = ((deployment or {}).get("spec") or {}).get("replicas")
    return 1 if replicas is None else replicas


def route_acceptance(route):
    """``(accepted, parent names)``: how many parents accepted the HTTPRoute, and every parent named in its status."""
    parents = ((route or {}).get("status") or {}).get("parents") or []
    accepted = 0
    for parent in parents:
        conditions = (parent or {}).get("conditions") or []
        if any(c.get("type") == "Accepted" and c.get("status") == "True" for c in conditions if isinstance(c, dict)):
            accepted += 1
    names = [str(((parent or {}).get("parentRef") or {}).get("name", "")) for parent in parents]
    return accepted, names


def _shorten(text, limit=HEALTH_DETAIL_LIMIT):
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Judgement: one row per part
# --------------------------------------------------------------------------------------------


def _row(part, ok, detail):
    return dict(part=part, ok=bool(ok), detail=" ".join(str(detail).split()))


def _first(read):
    items = read.get("items") or []
    return items[0] if items else None


def judge_secret(settings, read):
    part = "Secret {0}/{1}".format(settings["namespace"], settings["secret_name"])
    if read.get("error"):
        return _row(part, False, "cannot read it: " + read["error"])
    secret = _first(read)
    if secret is None:
        return _row(part, False, "missing")
    want_type, want_keys = settings["secret_type"], settings["secret_keys"]
    missing = [key for key in want_keys if key not in secret["keys"]]
    detail = "type {0}, keys {1}".format(secret["type"], ", ".join(secret["keys"]))
    if secret["type"] != want_type:
        detail += " (expected type {0})".format(want_type)
    if missing:
        detail += " (missing {0})".format(", ".join(missing))
    return _row(part, secret["type"] == want_type and not missing, detail)


def judge_cluster(settings, read):
    part = "CNPG Cluster {0}/{1}".format(settings["namespace"], settings["cluster_name"])
    if read.get("error"):
        return _row(part, False, "cannot read it: " + read["error"])
    if not read.get("api_found", True):
        return _row(part, False, "CloudNativePG is not installed (no {0} in {1})".format(CNPG_PLURAL, CNPG_API_VERSION))
    cluster = _first(read)
    if cluster is None:
        return _row(part, False, "missing")
    ready, unmet = evaluate_readiness(cluster)
    summary = summarize(cluster)
    detail = 'phase "{0}", {1}/{2} instances ready'.format(
        summary["phase"] or "", summary["ready_instances"] or 0, summary["instances"]
    )
    if not ready:
        detail += " ({0})".format("; ".join(unmet))
    return _row(part, ready, detail)


def _instances(cluster_read):
    cluster = _first(cluster_read) if not cluster_read.get("error") else None
    return (summarize(cluster)["instances"] or 0) if cluster else 0


def _judge_per_instance(part, counted, count, read, cluster_read):
    """One of `part` per Cluster instance: `count` of the listed items must reach the instances."""
    instances = _instances(cluster_read)
    if read.get("error"):
        return _row(part, False, "cannot list them: " + read["error"])
    items = read.get("items") or []
    done = count(items)
    wanted = "{0} instance(s) wanted".format(instances) if instances else "no Cluster"
    return _row(
        part, instances > 0 and done >= instances, "{0} of {1} {2}, {3}".format(done, len(items), counted, wanted)
    )


def judge_pg_pods(settings, read, cluster_read):
    return _judge_per_instance("PostgreSQL pods", "pod(s) ready", ready_count, read, cluster_read)


def judge_pg_volumes(settings, read, cluster_read):
    return _judge_per_instance("PostgreSQL volumes", "PVC(s) Bound", bound_count, read, cluster_read)


def judge_artifacts_pvc(settings, read):
    part = "PVC {0}/{1}".format(settings["namespace"], settings["artifacts_pvc_name"])
    if read.get("error"):
        return _row(part, False, "cannot read it: " + read["error"])
    pvc = _first(read)
    if pvc is None:
        return _row(part, False, "missing")
    status = pvc.get("status") or {}
    phase = status.get("phase") or ""
    if phase != "Bound":
        return _row(part, False, phase or "no phase yet")
    return _row(
        part,
        True,
        "Bound, {0}, class {1}".format(
            (status.get("capacity") or {}).get("storage", "?"),
            (pvc.get("spec") or {}).get("storageClassName") or "default",
        ),
    )


def judge_release(settings, read):
    part = "Helm release {0}/{1}".format(settings["namespace"], settings["release_name"])
    if read.get("error"):
        return _row(part, False, "cannot read it: " + read["error"])
    records = read.get("items") or []
    if not records:
        return _row(part, False, "not installed")
    latest = max(records, key=lambda record: record["revision"])
    return _row(
        part,
        latest["status"] == "deployed",
        "{0}, revision {1}, chart {2}".format(latest["status"], latest["revision"], latest["chart"] or "?"),
    )


def workload_row(part, deployment_read, pods_read, where, describe, missing):
    """The row of a Deployment's pods: ready pods against ``spec.replicas`` (1 when unset).

    ``describe(ready, replicas, pods)`` words the detail; ``missing`` is the detail without the Deployment.
    """
    if deployment_read.get("error"):
        return _row(part, False, "cannot read Deployment {0}: {1}".format(where, deployment_read["error"]))
    deployment = _first(deployment_read)
    if deployment is None:
        return _row(part, False, missing)
    if pods_read.get("error"):
        return _row(part, False, "cannot list the pods of Deployment {0}: {1}".format(where, pods_read["error"]))
    replicas = wanted_replicas(deployment)
    pods = pods_read.get("items") or []
    ready = ready_count(pods)
    return _row(part, replicas > 0 and ready >= replicas, describe(ready, replicas, len(pods)))


def judge_health(settings, answer):
    where = "({0}:{1})".format(settings["service_name"], settings["service_port"])
    if answer.get("error"):
        return _row("MLflow /health via Service", False, "{0} {1}".format(_shorten(answer["error"]), where))
    body = _shorten(answer.get("message") or answer.get("body") or "")
    return _row(
        "MLflow /health via Service",
        answer.get("ok", False),
        "{0} {1} {2}".format(answer.get("status"), body, where)
        if body
        else "{0} {1}".format(answer.get("status"), where),
    )


def judge_blueprint(settings, read):
    part = "Blueprint {0}/{1}".format(settings["namespace"], settings["blueprint_name"])
    if read.get("error"):
        return _row(part, False, "cannot read it: " + read["error"])
    found = _first(read) is not None
    return _row(part, found, "present" if found else "missing")


def judge_route(settings, read):
    part = "HTTPRoute {0}/{1}".format(settings["outpost_namespace"], settings["outpost_object_name"])
    if not settings["route_expected"]:
        return _row(part, True, "not expected (no parent refs)")
    if read.get("error"):
        return _row(part, False, "cannot read it: " + read["error"])
    if not read.get("api_found", True):
        return _row(part, True, "not expected (no Gateway API in the cluster)")
    route = _first(read)
    if route is None:
        return _row(part, False, "missing")
    accepted, names = route_acceptance(route)
    if accepted:
        return _row(part, True, "Accepted by " + ", ".join(names))
    return _row(part, False, "not Accepted by any Gateway (parents: {0})".format(", ".join(names) or "none reported"))


def judge(settings, snapshot):
    """One row per part, in the order of the printed table."""
    rows = [
        judge_secret(settings, snapshot["secret"]),
        judge_cluster(settings, snapshot["cluster"]),
        judge_pg_pods(settings, snapshot["pg_pods"], snapshot["cluster"]),
        judge_pg_volumes(settings, snapshot["pg_pvcs"], snapshot["cluster"]),
    ]
    if settings["artifacts_pvc_name"]:
        rows.append(judge_artifacts_pvc(settings, snapshot["artifacts_pvc"]))
    rows.append(judge_release(settings, snapshot["release"]))
    rows.append(
        workload_row(
            "MLflow pods",
            snapshot["mlflow"],
            snapshot["mlflow_pods"],
            settings["service_name"],
            lambda ready, replicas, pods: "{0}/{1} ready ({2} pods of Deployment {3})".format(
                ready, replicas, pods, settings["service_name"]
            ),
            "Deployment {0} missing".format(settings["service_name"]),
        )
    )
    rows.append(judge_health(settings, snapshot["health"]))
    rows.append(judge_blueprint(settings, snapshot["blueprint"]))
    where = "{0}/{1}".format(settings["outpost_namespace"], settings["outpost_object_name"])
    rows.append(
        workload_row(
            "authentik outpost pods",
            snapshot["outpost"],
            snapshot["outpost_pods"],
            where,
            lambda ready, replicas, pods: "{0}/{1} ready (Deployment {2})".format(ready, replicas, where),
            "Deployment {0} missing (authentik has not deployed the outpost)".format(where),
        )
    )
    rows.append(judge_route(settings, snapshot["route"]))
    return rows


def table(rows):
    """The printed table: a header, a rule, then one ``part  ok|FAIL  detail`` line per row."""
    width = max(len(row["part"]) for row in rows)
    line = "{0:<" + str(width) + "}  {1:<4}  {2}"
    header = line.format("PART", "OK", "DETAIL")
    lines = [header, "-" * (len(header) + 20)]
    lines.extend(line.format(row["part"], "ok" if row["ok"] else "FAIL", row["detail"]) for row in rows)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Helm's release records
# --------------------------------------------------------------------------------------------


def release_record(secret):
    """``{revision, status, chart}`` of one Helm release Secret; the values and manifest are dropped.

    The storage driver labels each record with ``owner=helm``, ``name``, ``status`` and
    ``version`` (helm/helm pkg/storage/driver/secrets.go); the chart comes from the record itself.
    """
    labels = (secret.get("metadata") or {}).get("labels") or {}
    chart = None
    try:
        metadata = (decode_release(secret).get("chart") or {}).get("metadata") or {}
        if metadata.get("name"):
            chart = "{0}-{1}".format(metadata["name"], metadata.get("version", "?"))
    except (KeyError, ValueError, TypeError, OSError, EOFError, AttributeError):
        chart = None  # a record this reader cannot decode still has its status and revision
    return dict(revision=revision(secret), status=labels.get("status") or "unknown", chart=chart)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def api_path(api_version, plural, namespace, name=None):
    """The REST path of a namespaced collection, or of one object in it."""
    base = "/api/v1" if api_version == "v1" else "/apis/" + api_version
    path = "{0}/namespaces/{1}/{2}".format(base, namespace, plural)
    return path + "/" + name if name else path


def selector(match_labels):
    """A label selector string from ``matchLabels``."""
    return ",".join("{0}={1}".format(key, value) for key, value in sorted((match_labels or {}).items()))


class Reader:
    """GET and LIST by REST path through kubernetes.core's client, under the collection's retry policy.

    Each read returns ``{"api_found": bool, "items": [objects], "error": message or None}``: a
    missing object or a kind the server does not serve is an answer, and so is a refused read
    (403, ...), which becomes that part's ``error`` instead of failing the whole report.
    """

    def __init__(self, client, request_timeout=30):
        self.client = client
        self.request_timeout = request_timeout
        self.requests = 0

    def _get(self, path, what, **params):
        def attempt():
            self.requests += 1
            return request(self.client, "GET", path, "read", _request_timeout=self.request_timeout, **params)

        return json.loads(call(attempt, "read", what).data)

    def read(self, api_version, plural, namespace, name=None, label_selector=None):
        what = "{0} {1}".format(plural, api_path(api_version, plural, namespace, name))
        try:
            data = self._get(
                api_path(api_version, plural, namespace, name),
                what,
                **({"label_selector": label_selector} if label_selector else {}),
            )
        except ApiError as e:
            if e.status == 404:
                # A missing object's 404 names it; any other 404 is a kind the server does not serve.
                if name and object_not_found(e.body, name):
                    return dict(api_found=True, items=[], error=None)
                return dict(api_found=False, items=[], error=None)
            return dict(api_found=True, items=[], error=str(e))
        except K8sError as e:
            return dict(api_found=True, items=[], error=str(e))
        items = data.get("items") if name is None else [data]
        return dict(api_found=True, items=items or [], error=None)


def _reduce(read, reduce):
    return dict(read, items=[reduce(item) for item in read["items"]])


def _secret_shape(secret):
    """Only the type and key names of a Secret: its values never leave the reader."""
    return dict(type=secret.get("type") or "", keys=sorted((secret.get("data") or {}).keys()))


def _pods_of(reader, deployment_read, namespace):
    deployment = _first(deployment_read)
    match_labels = (((deployment or {}).get("spec") or {}).get("selector") or {}).get("matchLabels")
    if not match_labels:
        return dict(api_found=True, items=[], error=None)
    return reader.read("v1", "pods", namespace, label_selector=selector(match_labels))


def read_snapshot(reader, settings, health=None):
    """Everything ``judge`` needs, read through ``reader``; ``health(settings)`` asks MLflow's /health."""
    ns, outpost_ns = settings["namespace"], settings["outpost_namespace"]
    cluster = settings["cluster_name"]
    snapshot = dict(
        secret=_reduce(reader.read("v1", "secrets", ns, settings["secret_name"]), _secret_shape),
        cluster=reader.read(CNPG_API_VERSION, CNPG_PLURAL, ns, cluster),
        pg_pods=reader.read(
            "v1", "pods", ns, label_selector="cnpg.io/cluster={0},cnpg.io/podRole=instance".format(cluster)
        ),
        pg_pvcs=reader.read("v1", "persistentvolumeclaims", ns, label_selector="cnpg.io/cluster=" + cluster),
        artifacts_pvc=(
            reader.read("v1", "persistentvolumeclaims", ns, settings["artifacts_pvc_name"])
            if settings["artifacts_pvc_name"]
            else dict(api_found=True, items=[], error=None)
        ),
        release=_reduce(
            reader.read("v1", "secrets", ns, label_selector="owner=helm,name=" + settings["release_name"]),
            release_record,
        ),
        mlflow=reader.read("apps/v1", "deployments", ns, settings["service_name"]),
        blueprint=reader.read("v1", "configmaps", ns, settings["blueprint_name"]),
        outpost=reader.read("apps/v1", "deployments", outpost_ns, settings["outpost_object_name"]),
        route=(
            reader.read(GATEWAY_API_VERSION, "httproutes", outpost_ns, settings["outpost_object_name"])
            if settings["route_expected"]
            else dict(api_found=True, items=[], error=None)
        ),
    )
    snapshot["mlflow_pods"] = _pods_of(reader, snapshot["mlflow"], ns)
    snapshot["outpost_pods"] = _pods_of(reader, snapshot["outpost"], outpost_ns)
    snapshot["health"] = health(settings) if health else dict(error="not asked")
    return snapshot


def ask_health(client, request_timeout):
    """``health`` for ``read_snapshot``: GET /health through the service proxy; errors become ``error``."""

    def health(settings):
        try:
            return probe(
                client,
                settings["namespace"],
                settings["service_name"],
                str(settings["service_port"]),
                "http",
                settings["health_path"],
                request_timeout,
            )
        except K8sError as e:
            return dict(error=str(e))

    return health
