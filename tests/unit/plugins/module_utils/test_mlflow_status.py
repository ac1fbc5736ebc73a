"""module_utils/mlflow_status.py: the rules for each part, the table, Helm's records and the reader."""

import base64
import gzip
import json

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils import mlflow_status as ms
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import PHASE_HEALTHY
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import api_exception

from tests.support.reference import STATUS_PARTS

SETTINGS = dict(
    namespace="mlflow",
    secret_name="mlflow-secrets",
    secret_type="kubernetes.io/basic-auth",
    secret_keys=["username", "password"],
    cluster_name="mlflow-postgres",
    release_name="mlflow",
    artifacts_pvc_name="mlflow-artifacts-pvc",
    service_name="mlflow",
    service_port="80",
    health_path="/health",
    blueprint_name="authentik-blueprint-mlflow",
    outpost_namespace="authentik",
    outpost_object_name="ak-outpost-mlflow-outpost",
    route_expected=True,
)


def found(*items, api_found=True):
    return dict(api_found=api_found, items=list(items), error=None)


def refused(message="403 Forbidden: secrets is forbidden"):
    return dict(api_found=True, items=[], error=message)


def pod(ready=True, conditions=None):
    if conditions is None:
        conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": {"name": "p"}, "status": {"conditions": conditions}}


def pvc(phase="Bound"):
    return {
        "metadata": {"name": "v"},
        "spec": {"storageClassName": "longhorn"},
        "status": {"phase": phase, "capacity": {"storage": "50Gi"}},
    }


def cluster(instances=1, ready=True):
    return {
        "metadata": {"name": "mlflow-postgres", "generation": 1},
        "spec": {"instances": instances},
        "status": {
            "phase": PHASE_HEALTHY if ready else "Setting up primary",
            "readyInstances": instances if ready else 0,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def deployment(replicas=1):
    spec = {"selector": {"matchLabels": {"app": "x"}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"metadata": {"name": "d"}, "spec": spec}


def route(*accepted):
    parents = [
        {
            "parentRef": {"name": name},
            "conditions": [{"type": "Accepted", "status": "True" if ok else "False"}],
        }
        for name, ok in accepted
    ]
    return {"metadata": {"name": "r"}, "status": {"parents": parents}}


def healthy_snapshot():
    return dict(
        secret=found({"type": "kubernetes.io/basic-auth", "keys": ["password", "username"]}),
        cluster=found(cluster()),
        pg_pods=found(pod()),
        pg_pvcs=found(pvc()),
        artifacts_pvc=found(pvc()),
        release=found({"revision": 1, "status": "deployed", "chart": "mlflow-1.11.5"}),
        mlflow=found(deployment()),
        mlflow_pods=found(pod()),
        health={"status": 200, "ok": True, "body": "OK", "message": "", "url": "/x"},
        blueprint=found({"metadata": {"name": "b"}}),
        outpost=found(deployment()),
        outpost_pods=found(pod()),
        route=found(route(("main-gateway", True))),
    )


def rows_by_part(snapshot, **settings):
    return {row["part"]: row for row in ms.judge(dict(SETTINGS, **settings), snapshot)}


# ----------------------------------------------------------------------------------------------
# The pod-ready rule and the counts
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        ([{"type": "Ready", "status": "True"}], True),
        ([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}], False),
        ([{"type": "ContainersReady", "status": "True"}], False),
        ([], False),
    ],
)
def test_a_pod_is_ready_when_its_ready_condition_is_true(conditions, ready):
    assert ms.pod_ready(pod(conditions=conditions)) is ready


def test_a_pod_without_status_is_not_ready():
    assert ms.pod_ready({"metadata": {}}) is False
    assert ms.pod_ready(None) is False


def test_unset_replicas_means_one():
    assert ms.wanted_replicas(deployment(replicas=None)) == 1
    assert ms.wanted_replicas(deployment(replicas=0)) == 0


# ----------------------------------------------------------------------------------------------
# Judgement
# ----------------------------------------------------------------------------------------------


def test_a_healthy_deployment_has_every_part_ok_in_table_order():
    rows = ms.judge(SETTINGS, healthy_snapshot())
    assert [row["part"] for row in rows] == STATUS_PARTS
    assert all(row["ok"] for row in rows), rows
    by_part = {row["part"]: row["detail"] for row in rows}
    assert by_part["Secret mlflow/mlflow-secrets"] == "type kubernetes.io/basic-auth, keys password, username"
    assert by_part["CNPG Cluster mlflow/mlflow-postgres"] == 'phase "Cluster in healthy state", 1/1 instances ready'
    assert by_part["PostgreSQL pods"] == "1 of 1 pod(s) ready, 1 instance(s) wanted"
    assert by_part["PostgreSQL volumes"] == "1 of 1 PVC(s) Bound, 1 instance(s) wanted"
    assert by_part["PVC mlflow/mlflow-artifacts-pvc"] == "Bound, 50Gi, class longhorn"
    assert by_part["Helm release mlflow/mlflow"] == "deployed, revision 1, chart mlflow-1.11.5"
    assert by_part["MLflow pods"] == "1/1 ready (1 pods of Deployment mlflow)"
    assert by_part["MLflow /health via Service"] == "200 OK (mlflow:80)"
    assert by_part["authentik outpost pods"] == "1/1 ready (Deployment authentik/ak-outpost-mlflow-outpost)"
    assert by_part["HTTPRoute authentik/ak-outpost-mlflow-outpost"] == "Accepted by main-gateway"


def test_nothing_deployed_fails_every_part():
    empty = found()
    snapshot = {key: empty for key in healthy_snapshot()}
    snapshot["health"] = {"status": 404, "ok": False, "body": "{}", "message": 'services "mlflow" not found'}
    rows = rows_by_part(snapshot)
    assert [part for part, row in rows.items() if row["ok"]] == []
    assert rows["Secret mlflow/mlflow-secrets"]["detail"] == "missing"
    assert rows["Helm release mlflow/mlflow"]["detail"] == "not installed"
    assert rows["PostgreSQL pods"]["detail"] == "0 of 0 pod(s) ready, no Cluster"
    assert rows["MLflow pods"]["detail"] == "Deployment mlflow missing"
    assert rows["authentik outpost pods"]["detail"] == (
        "Deployment authentik/ak-outpost-mlflow-outpost missing (authentik has not deployed the outpost)"
    )
    assert rows["MLflow /health via Service"]["detail"] == '404 services "mlflow" not found (mlflow:80)'


@pytest.mark.parametrize(
    ("shape", "detail"),
    [
        ({"type": "Opaque", "keys": ["password", "username"]}, "(expected type kubernetes.io/basic-auth)"),
        ({"type": "kubernetes.io/basic-auth", "keys": ["username"]}, "(missing password)"),
    ],
)
def test_a_secret_of_the_wrong_type_or_without_a_key_fails(shape, detail):
    snapshot = dict(healthy_snapshot(), secret=found(shape))
    row = rows_by_part(snapshot)["Secret mlflow/mlflow-secrets"]
    assert row["ok"] is False and row["detail"].endswith(detail)


def test_a_cluster_not_ready_names_what_is_missing():
    snapshot = dict(healthy_snapshot(), cluster=found(cluster(ready=False)))
    row = rows_by_part(snapshot)["CNPG Cluster mlflow/mlflow-postgres"]
    assert row["ok"] is False
    assert row["detail"].startswith('phase "Setting up primary", 0/1 instances ready (')
    assert "condition Ready is 'False'" in row["detail"]


def test_without_cloudnativepg_the_cluster_row_says_so():
    snapshot = dict(healthy_snapshot(), cluster=found(api_found=False))
    row = rows_by_part(snapshot)["CNPG Cluster mlflow/mlflow-postgres"]
    assert row["ok"] is False and "CloudNativePG is not installed" in row["detail"]


def test_fewer_ready_instance_pods_or_bound_volumes_than_instances_fail():
    snapshot = dict(
        healthy_snapshot(),
        cluster=found(cluster(instances=3)),
        pg_pods=found(pod(), pod(), pod(ready=False)),
        pg_pvcs=found(pvc(), pvc("Pending"), pvc()),
    )
    rows = rows_by_part(snapshot)
    assert (rows["PostgreSQL pods"]["ok"], rows["PostgreSQL pods"]["detail"]) == (
        False,
        "2 of 3 pod(s) ready, 3 instance(s) wanted",
    )
    assert (rows["PostgreSQL volumes"]["ok"], rows["PostgreSQL volumes"]["detail"]) == (
        False,
        "2 of 3 PVC(s) Bound, 3 instance(s) wanted",
    )


def test_a_pending_artifact_volume_fails_and_object_storage_leaves_the_row_out():
    rows = rows_by_part(dict(healthy_snapshot(), artifacts_pvc=found(pvc("Pending"))))
    assert rows["PVC mlflow/mlflow-artifacts-pvc"] == dict(
        part="PVC mlflow/mlflow-artifacts-pvc", ok=False, detail="Pending"
    )
    rows = ms.judge(dict(SETTINGS, artifacts_pvc_name=""), healthy_snapshot())
    assert [row["part"] for row in rows] == [p for p in STATUS_PARTS if not p.startswith("PVC ")]


def test_the_latest_release_revision_counts():
    records = [
        {"revision": 1, "status": "superseded", "chart": "mlflow-1.11.4"},
        {"revision": 2, "status": "failed", "chart": "mlflow-1.11.5"},
    ]
    row = rows_by_part(dict(healthy_snapshot(), release=found(*records)))["Helm release mlflow/mlflow"]
    assert row == dict(part="Helm release mlflow/mlflow", ok=False, detail="failed, revision 2, chart mlflow-1.11.5")


def test_mlflow_pods_are_counted_against_the_deployment_replicas():
    snapshot = dict(healthy_snapshot(), mlflow=found(deployment(2)), mlflow_pods=found(pod(), pod(ready=False)))
    row = rows_by_part(snapshot)["MLflow pods"]
    assert row == dict(part="MLflow pods", ok=False, detail="1/2 ready (2 pods of Deployment mlflow)")
    # A Deployment scaled to zero is not a healthy MLflow.
    snapshot = dict(healthy_snapshot(), mlflow=found(deployment(0)), mlflow_pods=found())
    assert rows_by_part(snapshot)["MLflow pods"]["ok"] is False


def test_health_answers():
    unavailable = {"status": 503, "ok": False, "body": "{}", "message": 'no endpoints available for service "mlflow"'}
    row = rows_by_part(dict(healthy_snapshot(), health=unavailable))["MLflow /health via Service"]
    assert row["ok"] is False
    assert row["detail"] == '503 no endpoints available for service "mlflow" (mlflow:80)'
    unreachable = {"error": "Could not connect to the Kubernetes API after 6 attempts: connection refused"}
    row = rows_by_part(dict(healthy_snapshot(), health=unreachable))["MLflow /health via Service"]
    assert row["ok"] is False and row["detail"].startswith("Could not connect")
    long_body = {"status": 500, "ok": False, "body": "x" * 200, "message": ""}
    detail = rows_by_part(dict(healthy_snapshot(), health=long_body))["MLflow /health via Service"]["detail"]
    assert detail == "500 " + "x" * 77 + "... (mlflow:80)"


@pytest.mark.parametrize(
    ("settings", "read", "ok", "detail"),
    [
        ({"route_expected": False}, found(), True, "not expected (no parent refs)"),
        ({}, found(api_found=False), True, "not expected (no Gateway API in the cluster)"),
        ({}, found(), False, "missing"),
        ({}, found(route()), False, "not Accepted by any Gateway (parents: none reported)"),
        ({}, found(route(("main-gateway", False))), False, "not Accepted by any Gateway (parents: main-gateway)"),
        ({}, found(route(("a", False), ("b", True))), True, "Accepted by a, b"),
    ],
)
def test_route(settings, read, ok, detail):
    row = rows_by_part(dict(healthy_snapshot(), route=read), **settings)[
        "HTTPRoute authentik/ak-outpost-mlflow-outpost"
    ]
    assert (row["ok"], row["detail"]) == (ok, detail)


def test_a_refused_read_fails_its_part_only():
    rows = rows_by_part(dict(healthy_snapshot(), secret=refused()))
    assert rows["Secret mlflow/mlflow-secrets"] == dict(
        part="Secret mlflow/mlflow-secrets", ok=False, detail="cannot read it: 403 Forbidden: secrets is forbidden"
    )
    assert all(row["ok"] for part, row in rows.items() if part != "Secret mlflow/mlflow-secrets")


def test_table_layout():
    rows = [dict(part="Short", ok=True, detail="fine"), dict(part="A longer part", ok=False, detail="broken")]
    assert ms.table(rows).splitlines() == [
        "PART           OK    DETAIL",
        "-" * (len("PART           OK    DETAIL") + 20),
        "Short          ok    fine",
        "A longer part  FAIL  broken",
    ]


# ----------------------------------------------------------------------------------------------
# Helm's release records
# ----------------------------------------------------------------------------------------------


def helm_secret(version, status, release, compress=True):
    """A release Secret as the API returns it: data base64-encoded over Helm's own base64(gzip(JSON))."""
    raw = json.dumps(release).encode()
    helm_encoded = base64.b64encode(gzip.compress(raw) if compress else raw)
    return {
        "metadata": {
            "name": f"sh.helm.release.v1.mlflow.v{version}",
            "labels": {"owner": "helm", "name": "mlflow", "status": status, "version": str(version)},
        },
        "type": "helm.sh/release.v1",
        "data": {"release": base64.b64encode(helm_encoded).decode()},
    }


@pytest.mark.parametrize("compress", [True, False])
def test_release_record_keeps_status_revision_and_chart_only(compress):
    release = {
        "name": "mlflow",
        "version": 3,
        "chart": {"metadata": {"name": "mlflow", "version": "1.11.5"}},
        "config": {"password": "s3cret"},
    }
    record = ms.release_record(helm_secret(3, "deployed", release, compress))
    assert record == {"revision": 3, "status": "deployed", "chart": "mlflow-1.11.5"}


def test_a_record_that_does_not_decode_still_has_status_and_revision():
    secret = helm_secret(2, "failed", {})
    secret["data"]["release"] = base64.b64encode(b"not base64 gzip").decode()
    assert ms.release_record(secret) == {"revision": 2, "status": "failed", "chart": None}


# ----------------------------------------------------------------------------------------------
# The reader, over a stand-in for kubernetes.core's dynamic client
# ----------------------------------------------------------------------------------------------


class Response:
    def __init__(self, data):
        self.data = json.dumps(data).encode()
        self.status = 200


class Dynamic:
    """Answers GETs from ``answers`` ({path: object or exception}); records the query parameters."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def request(self, method, path, **params):
        self.calls.append((method, path, params))
        answer = self.answers.get(path)
        if answer is None:
            raise api_exception(ApiException(status=404, reason="Not Found", body=b"404 page not found"))
        if isinstance(answer, Exception):
            raise answer
        return Response(answer)


def not_found(name):
    body = json.dumps({"kind": "Status", "code": 404, "reason": "NotFound", "details": {"name": name}})
    return api_exception(ApiException(status=404, reason="Not Found", body=body))


def test_reader_tells_a_missing_object_from_a_kind_not_served():
    client = Dynamic({"/api/v1/namespaces/ns/secrets/gone": not_found("gone")})
    reader = ms.Reader(client)
    assert reader.read("v1", "secrets", "ns", "gone") == found()
    assert reader.read("gateway.networking.k8s.io/v1", "httproutes", "ns", "r") == found(api_found=False)


def test_reader_lists_by_label_selector_and_reports_refusals():
    forbidden = api_exception(ApiException(status=403, reason="Forbidden", body=b'{"message": "pods is forbidden"}'))
    client = Dynamic(
        {"/api/v1/namespaces/ns/pods": {"items": [pod()]}, "/api/v1/namespaces/ns/configmaps/c": forbidden}
    )
    reader = ms.Reader(client)
    assert reader.read("v1", "pods", "ns", label_selector="a=b") == found(pod())
    assert client.calls[0][2]["label_selector"] == "a=b"
    read = reader.read("v1", "configmaps", "ns", "c")
    assert read["items"] == [] and read["error"].startswith("403 Forbidden") and "pods is forbidden" in read["error"]
    assert reader.requests == 2


def test_snapshot_keeps_no_secret_value():
    release = {"chart": {"metadata": {"name": "mlflow", "version": "1.11.5"}}, "config": {"password": "hunter22"}}
    client = Dynamic(
        {
            "/api/v1/namespaces/mlflow/secrets/mlflow-secrets": {
                "type": "kubernetes.io/basic-auth",
                "data": {"username": "bWxmbG93", "password": "aHVudGVyMjI="},
            },
            "/api/v1/namespaces/mlflow/secrets": {"items": [helm_secret(1, "deployed", release)]},
            "/apis/apps/v1/namespaces/mlflow/deployments/mlflow": deployment(),
            "/api/v1/namespaces/mlflow/pods": {"items": [pod()]},
        }
    )
    snapshot = ms.read_snapshot(ms.Reader(client), SETTINGS, lambda settings: {"status": 200, "ok": True})
    text = json.dumps(snapshot)
    assert "aHVudGVyMjI=" not in text and "hunter22" not in text and "bWxmbG93" not in text
    assert snapshot["secret"]["items"] == [{"type": "kubernetes.io/basic-auth", "keys": ["password", "username"]}]
    assert snapshot["release"]["items"] == [{"revision": 1, "status": "deployed", "chart": "mlflow-1.11.5"}]
    # The MLflow pods are listed by the Deployment's selector; release records by Helm's labels.
    selectors = [(path, params.get("label_selector")) for _, path, params in client.calls]
    assert ("/api/v1/namespaces/mlflow/pods", "app=x") in selectors
    assert ("/api/v1/namespaces/mlflow/secrets", "owner=helm,name=mlflow") in selectors
    assert ("/api/v1/namespaces/mlflow/pods", "cnpg.io/cluster=mlflow-postgres,cnpg.io/podRole=instance") in selectors
