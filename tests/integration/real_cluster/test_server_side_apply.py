"""Server-side apply by the object engine (module_utils/k8s_engine.py), in-process with kubernetes.core's
client, against the real API server: what a role stops sending is removed from the live object.

The CloudNativePG Cluster CRD is the real one (../shared/schemas, CloudNativePG 1.30.0); no operator
runs, so the Cluster is a stored object only, which is all a write of its spec needs.
"""

import copy
import json
import time
import warnings

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_engine import FIELD_MANAGER, Engine
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

from tests.support import paths

pytestmark = pytest.mark.slow

CNPG = "postgresql.cnpg.io/v1"


@pytest.fixture(scope="module")
def cnpg_crd(real_cluster):
    """The Cluster CRD of CloudNativePG 1.30.0, installed and established."""
    crd = paths.CNPG_CRDS / "postgresql.cnpg.io_clusters.yaml"
    real_cluster.kubectl("apply", "--server-side", "--field-manager=test-setup", "-f", str(crd))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        crd = json.loads(real_cluster.kubectl("get", "crd", "clusters.postgresql.cnpg.io", "-o", "json").stdout)
        if any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (crd.get("status") or {}).get("conditions") or []
        ):
            return
        time.sleep(0.2)
    pytest.fail("the CloudNativePG Cluster CRD was not established within 60 s")


def engine(cluster, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = get_api_client(kubeconfig=str(cluster.kubeconfig))
    return Engine(client, **kwargs)


def database(namespace, backup=True):
    """The Cluster the cnpg_cluster role writes, with or without the in-tree object store backup."""
    cluster = {
        "apiVersion": CNPG,
        "kind": "Cluster",
        "metadata": {
            "name": "mlflow-postgres",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "mlflow", "team": "ml"},
            "annotations": {"apocrathia.mlflow/owner": "platform"},
        },
        "spec": {
            "instances": 1,
            "storage": {"size": "20Gi"},
            "postgresql": {"parameters": {"max_connections": "200", "work_mem": "8MB"}},
        },
    }
    if backup:
        cluster["spec"]["backup"] = {
            "barmanObjectStore": {
                "destinationPath": "s3://backups/mlflow",
                "s3Credentials": {
                    "accessKeyId": {"name": "backup-s3", "key": "ACCESS_KEY_ID"},
                    "secretAccessKey": {"name": "backup-s3", "key": "ACCESS_SECRET_KEY"},
                },
            },
            "retentionPolicy": "30d",
        }
    return cluster


def get(cluster, namespace, kind, name):
    """The object as stored, managedFields included."""
    proc = cluster.kubectl("-n", namespace, "get", kind, name, "-o", "json", "--show-managed-fields")
    return json.loads(proc.stdout)


def test_a_setting_taken_out_of_the_manifest_is_removed(real_cluster, cnpg_crd, cluster_namespace):
    ns = cluster_namespace
    out = engine(real_cluster).run(definitions=[database(ns)])
    assert [o["action"] for o in out["objects"]] == ["created"]
    assert "barmanObjectStore" in get(real_cluster, ns, "cluster", "mlflow-postgres")["spec"]["backup"]

    # cnpg_cluster_backup_method switched to none, a label, an annotation and a parameter dropped.
    switched = database(ns, backup=False)
    del switched["metadata"]["labels"]["team"]
    del switched["metadata"]["annotations"]
    del switched["spec"]["postgresql"]["parameters"]["work_mem"]
    out = engine(real_cluster, diff=True).run(definitions=[switched])
    (result,) = out["objects"]
    assert result["action"] == "updated"
    assert result["differences"] == [
        "metadata.annotations",
        "metadata.labels.team",
        "spec.backup",
        "spec.postgresql.parameters.work_mem",
    ]
    live = get(real_cluster, ns, "cluster", "mlflow-postgres")
    assert "backup" not in live["spec"]  # no more WAL archiving to the object store
    assert live["metadata"]["labels"] == {"app.kubernetes.io/name": "mlflow"}
    assert "apocrathia.mlflow/owner" not in (live["metadata"].get("annotations") or {})
    assert live["spec"]["postgresql"]["parameters"] == {"max_connections": "200"}

    # And the next run changes nothing.
    again = engine(real_cluster).run(definitions=[switched])
    assert again["changed"] is False
    assert (
        get(real_cluster, ns, "cluster", "mlflow-postgres")["metadata"]["resourceVersion"]
        == (live["metadata"]["resourceVersion"])
    )


def test_check_mode_shows_the_removal_and_changes_nothing(real_cluster, cnpg_crd, cluster_namespace):
    ns = cluster_namespace
    engine(real_cluster).run(definitions=[database(ns)])
    before = get(real_cluster, ns, "cluster", "mlflow-postgres")
    out = engine(real_cluster, check_mode=True, diff=True).run(definitions=[database(ns, backup=False)])
    (result,) = out["objects"]
    assert (result["action"], result["operation"], result["differences"]) == ("planned", "update", ["spec.backup"])
    assert "backup" in result["diff"]["before"]["spec"] and "backup" not in result["diff"]["after"]["spec"]
    assert (
        get(real_cluster, ns, "cluster", "mlflow-postgres")["metadata"]["resourceVersion"]
        == (before["metadata"]["resourceVersion"])
    )


def test_a_field_someone_else_set_stays(real_cluster, cnpg_crd, cluster_namespace):
    """Only the fields the engine's manager set are its own to remove."""
    ns = cluster_namespace
    engine(real_cluster).run(definitions=[database(ns)])
    real_cluster.kubectl("-n", ns, "annotate", "cluster", "mlflow-postgres", "backup.example.com/audited=yes")
    engine(real_cluster).run(definitions=[database(ns, backup=False)])
    live = get(real_cluster, ns, "cluster", "mlflow-postgres")
    assert live["metadata"]["annotations"]["backup.example.com/audited"] == "yes"
    assert "backup" not in live["spec"]


def test_objects_written_before_server_side_apply_are_taken_over(real_cluster, cluster_namespace):
    """An object the engine created with a plain create (earlier versions) loses a field the role stopped sending."""
    ns = cluster_namespace
    old = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "authentik-blueprint", "namespace": ns, "labels": {"a": "1", "gone": "x"}},
        "data": {"blueprint.yaml": "version: 1", "retired.yaml": "version: 1"},
    }
    client = engine(real_cluster).client
    client.create(client.resource("ConfigMap", "v1"), copy.deepcopy(old), namespace=ns)
    written = get(real_cluster, ns, "configmap", old["metadata"]["name"])
    # What the engine's create used to leave: the Python client's default manager, operation Update.
    assert [(e["manager"], e["operation"]) for e in written["metadata"]["managedFields"]] == [
        ("OpenAPI-Generator", "Update")
    ]

    new = copy.deepcopy(old)
    del new["metadata"]["labels"]["gone"]
    del new["data"]["retired.yaml"]
    out = engine(real_cluster).run(definitions=[new])
    assert out["objects"][0]["differences"] == ["data.retired.yaml", "metadata.labels.gone"]
    live = get(real_cluster, ns, "configmap", old["metadata"]["name"])
    assert live["data"] == {"blueprint.yaml": "version: 1"} and live["metadata"]["labels"] == {"a": "1"}
    assert [(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]] == [(FIELD_MANAGER, "Apply")]
