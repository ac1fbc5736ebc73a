"""The mlflow_teardown_plan filter: what teardown removes and keeps, with and without purge."""

from ansible_collections.apocrathia.mlflow.plugins.filter.mlflow_teardown import mlflow_teardown_plan


def meta(kind, object_name, **labels):
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": object_name, "labels": labels}}


FOUND = {
    "release": [
        meta("Secret", "sh.helm.release.v1.mlflow.v1", owner="helm", name="mlflow"),
        meta("Secret", "sh.helm.release.v1.mlflow.v2", owner="helm", name="mlflow"),
    ],
    "blueprint": [meta("ConfigMap", "authentik-blueprint-mlflow")],
    "cluster": [meta("Cluster", "mlflow-postgres")],
    "pg_pvcs": [meta("PersistentVolumeClaim", "mlflow-postgres-1")],
    "artifacts_pvc": [meta("PersistentVolumeClaim", "mlflow-artifacts-pvc")],
    "secret": [meta("Secret", "mlflow-secrets")],
    "companions": [meta("PodMonitor", "mlflow-postgres"), meta("NetworkPolicy", "mlflow")],
}
DATA = [
    "PersistentVolumeClaim mlflow/mlflow-postgres-1 (PostgreSQL data)",
    "PersistentVolumeClaim mlflow/mlflow-artifacts-pvc (MLflow artifacts)",
    "Secret mlflow/mlflow-secrets (database credentials)",
]


def test_without_purge_the_data_is_kept():
    plan = mlflow_teardown_plan(FOUND, "mlflow")
    assert plan["remove"] == [
        "Helm release mlflow/mlflow",
        "ConfigMap mlflow/authentik-blueprint-mlflow (authentik blueprint)",
        "Cluster mlflow/mlflow-postgres (CloudNativePG: its pods, services and generated secrets)",
        "PodMonitor mlflow/mlflow-postgres",
        "NetworkPolicy mlflow/mlflow",
    ]
    assert plan["keep"][:3] == DATA
    assert plan["keep"][-1] == "(set purge_data=true and teardown_confirm_namespace=mlflow to delete the data too)"
    assert plan["text"].splitlines()[0] == "Removing:"
    assert "Keeping:" in plan["text"].splitlines()


def test_with_purge_the_data_is_removed_too():
    plan = mlflow_teardown_plan(FOUND, "mlflow", purge=True, check_mode=True)
    assert plan["remove"][-3:] == DATA
    assert plan["keep"] == ["Namespace mlflow and every other object in it, the authentik outpost"]
    lines = plan["text"].splitlines()
    assert lines[0] == "Check mode: would remove:" and "Would keep:" in lines


def test_nothing_left_to_remove():
    plan = mlflow_teardown_plan({}, "mlflow", check_mode=True)
    assert plan["remove"] == []
    assert plan["text"].splitlines()[:2] == ["Check mode: would remove:", "  - nothing (already removed)"]


def test_companions_elsewhere_are_named_in_their_namespace():
    rule = meta("PrometheusRule", "mlflow-audit")
    rule["metadata"]["namespace"] = "prometheus-system"
    plan = mlflow_teardown_plan({"companions": [meta("ConfigMap", "mlflow-audit"), rule]}, "mlflow")
    assert plan["remove"] == ["ConfigMap mlflow/mlflow-audit", "PrometheusRule prometheus-system/mlflow-audit"]
