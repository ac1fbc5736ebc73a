"""role_checks.mlflow_helm_problems and mlflow_helm_live_problems: the mlflow_helm preflight, each message naming its variable."""

import pytest
from ansible_collections.apocrathia.mlflow.plugins.action.preflight_checks import run_checks
from ansible_collections.apocrathia.mlflow.plugins.plugin_utils import role_checks

from tests.support import paths

problems = role_checks.mlflow_helm_problems

GOOD = {
    "mlflow_helm_external_host": "mlflow.example.com",
    "mlflow_helm_release_name": "mlflow",
    "mlflow_helm_namespace": "mlflow",
    "mlflow_helm_artifacts_pvc_name": "mlflow-artifacts-pvc",
    "mlflow_helm_db_secret_name": "mlflow-secrets",
    "mlflow_helm_db_host": "mlflow-postgres-rw.mlflow.svc.cluster.local",
    "mlflow_helm_chart_ref": "community-charts/mlflow",
    "mlflow_helm_chart_version": "1.11.5",
    "mlflow_helm_chart_repo_name": "community-charts",
    "mlflow_helm_chart_repo_url": "https://community-charts.github.io/helm-charts",
    "mlflow_helm_liveness_probe": {"initialDelaySeconds": 30, "periodSeconds": 30, "failureThreshold": 5},
    "mlflow_helm_artifacts_store": "pvc",
    "mlflow_helm_artifacts_bucket": "",
    "mlflow_helm_artifacts_azure_storage_account": "",
    "mlflow_helm_artifacts_s3_endpoint_url": "",
    "mlflow_helm_artifacts_secret_name": "mlflow-artifacts-credentials",
    "mlflow_helm_artifacts_onepassword_vault": "Secrets",
    "mlflow_helm_artifacts_onepassword_item": "mlflow-artifacts",
    "mlflow_helm_pdb_min_available": 1,
    "mlflow_helm_replicas": 1,
    "mlflow_helm_network_policy_enabled": True,
    "_mlflow_helm_chart_is_local": False,
    "_mlflow_helm_chart_is_repo": True,
    "_mlflow_helm_artifacts_fields": {},
    "_mlflow_helm_network_policy_namespaces": ["authentik", "prometheus-system"],
    "mlflow_helm_artifacts_pvc_storage_class": "",
    "mlflow_helm_service_monitor_enabled": True,
    "mlflow_helm_service_monitor_namespace": "prometheus-system",
}
S3 = {
    "mlflow_helm_artifacts_store": "s3",
    "mlflow_helm_artifacts_bucket": "b",
    "_mlflow_helm_artifacts_fields": {"AWS_ACCESS_KEY_ID": "access_key_id"},
}


def test_the_defaults_and_a_local_chart_pass():
    assert problems(GOOD) == []
    local = {"mlflow_helm_chart_ref": str(paths.mlflow_chart()), "_mlflow_helm_chart_is_local": True, "_mlflow_helm_chart_is_repo": False,
             "mlflow_helm_chart_version": ""}  # fmt: skip
    assert problems({**GOOD, **local}) == []
    assert problems({**GOOD, **S3}) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mlflow_helm_external_host": "https://mlflow.example.com/"},
         "mlflow_helm_external_host must be the host name MLflow is reached at through the proxy, without scheme or "
         "path (e.g. mlflow.example.com); got 'https://mlflow.example.com/'."),
        ({"mlflow_helm_release_name": "MLflow"},
         "mlflow_helm_release_name must be a DNS label (lower-case letters, digits and '-'); got 'MLflow'."),
        ({"mlflow_helm_namespace": "ml_flow"},
         "mlflow_helm_namespace must be a DNS label (lower-case letters, digits and '-'); got 'ml_flow'."),
        ({"mlflow_helm_artifacts_pvc_name": "-pvc"}, "mlflow_helm_artifacts_pvc_name must be a DNS label; got '-pvc'."),
        ({"mlflow_helm_db_secret_name": ""},
         "mlflow_helm_db_secret_name must name the database credentials Secret; it is empty."),
        ({"mlflow_helm_db_host": ""}, "mlflow_helm_db_host must be the PostgreSQL host; it is empty."),
        ({"mlflow_helm_chart_ref": "/no/such/chart", "_mlflow_helm_chart_is_local": True, "_mlflow_helm_chart_is_repo": False},
         "mlflow_helm_chart_ref '/no/such/chart' looks like a local chart, but there is no such directory or file."),
        ({"mlflow_helm_chart_version": ""},
         "mlflow_helm_chart_version must be set for the repository or OCI chart 'community-charts/mlflow'; it is empty."),
        ({"mlflow_helm_chart_ref": "other/mlflow"},
         "mlflow_helm_chart_ref must be <repo>/<chart> with <repo> equal to mlflow_helm_chart_repo_name "
         "('community-charts'), an oci:// reference or a local chart; got 'other/mlflow'."),
        ({"mlflow_helm_chart_repo_url": "ftp://x"}, "mlflow_helm_chart_repo_url must be an http(s) URL; got 'ftp://x'."),
        ({"mlflow_helm_liveness_probe": {"initialDelaySeconds": "10", "periodSeconds": 10}},
         "mlflow_helm_liveness_probe gives the server 40 s to start (initialDelaySeconds + periodSeconds x "
         "failureThreshold); it needs at least 60 (MLflow takes 10-30 s, more on a busy node)."),
        ({**S3, "mlflow_helm_artifacts_bucket": ""},
         "mlflow_helm_artifacts_bucket must name the bucket or container with mlflow_helm_artifacts_store 's3'; it "
         "is empty."),
        ({**S3, "mlflow_helm_artifacts_store": "azure_blob"},
         "mlflow_helm_artifacts_azure_storage_account must be set with mlflow_helm_artifacts_store 'azure_blob'; it "
         "is empty."),
        ({**S3, "mlflow_helm_artifacts_s3_endpoint_url": "minio:9000"},
         "mlflow_helm_artifacts_s3_endpoint_url must be an http(s) URL; got 'minio:9000'."),
        ({**S3, "mlflow_helm_artifacts_secret_name": "Creds"},
         "mlflow_helm_artifacts_secret_name must be a DNS label; got 'Creds'."),
        ({**S3, "mlflow_helm_artifacts_secret_name": "mlflow-secrets"},
         "mlflow_helm_artifacts_secret_name 'mlflow-secrets' is the database Secret's name "
         "(mlflow_helm_db_secret_name): choose another."),
        ({**S3, "mlflow_helm_artifacts_onepassword_vault": ""},
         "mlflow_helm_artifacts_onepassword_vault must name the 1Password vault of the object storage credentials; "
         "it is empty."),
        ({**S3, "mlflow_helm_artifacts_onepassword_item": ""},
         "mlflow_helm_artifacts_onepassword_item must name the 1Password item of the object storage credentials; "
         "it is empty."),
        ({**S3, "_mlflow_helm_artifacts_fields": {}},
         "mlflow_helm_artifacts_onepassword_fields must map Secret keys to 1Password fields; it is empty."),
        ({"mlflow_helm_pdb_min_available": 0}, "mlflow_helm_pdb_min_available must be at least 1; got 0."),
        ({"mlflow_helm_replicas": "2", "mlflow_helm_pdb_min_available": 2},
         "mlflow_helm_pdb_min_available (2) must be lower than mlflow_helm_replicas (2), or no node could ever be "
         "drained."),
        ({"_mlflow_helm_network_policy_namespaces": ["authentik", "Bad_NS", "ok"]},
         "The namespaces MLflow accepts traffic from (mlflow_helm_network_policy_proxy_namespace, "
         "mlflow_helm_network_policy_monitoring_namespace, mlflow_helm_network_policy_extra_namespaces) must be DNS "
         "labels; these are not: Bad_NS."),
    ],
)  # fmt: skip
def test_each_problem_is_one_message_naming_its_variable(change, message):
    assert problems({**GOOD, **change}) == [message]


def test_object_storage_checks_only_apply_to_object_storage_and_policies_only_when_enabled():
    assert (
        problems({**GOOD, "mlflow_helm_artifacts_onepassword_vault": "", "mlflow_helm_artifacts_secret_name": "X"})
        == []
    )
    assert (
        problems(
            {**GOOD, "mlflow_helm_network_policy_enabled": "false", "_mlflow_helm_network_policy_namespaces": ["A"]}
        )
        == []
    )
    assert problems({**GOOD, "mlflow_helm_liveness_probe": {"initialDelaySeconds": "abc", "failureThreshold": 6}}) == []


def test_the_unit_test_settings_are_what_the_action_reads():
    assert sorted(GOOD) == sorted(role_checks.VARIABLES["mlflow_helm"])


def found(storage_classes=("standard",), monitor_api=True, monitor_namespace=True):
    classes = [
        {"metadata": {"name": name, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}
        for name in storage_classes
    ]
    return {
        "storage_classes": {"resources": classes},
        "service_monitor": {"api_found": monitor_api},
        "service_monitor_namespace": {"exists": monitor_namespace},
    }


def test_what_the_cluster_lacks_is_named_by_its_variable():
    assert run_checks("mlflow_helm", GOOD, found()) == ([], [])
    problems_found, _ = run_checks("mlflow_helm", GOOD, found(monitor_namespace=False))
    assert problems_found == [
        "mlflow_helm_service_monitor_namespace is 'prometheus-system', which does not exist: set it to the namespace "
        "your Prometheus watches, or set mlflow_helm_service_monitor_enabled to false."
    ]
    # Without the ServiceMonitor API, or with the ServiceMonitor off, its namespace does not matter.
    assert run_checks("mlflow_helm", GOOD, found(monitor_api=False, monitor_namespace=False)) == ([], [])
    off = {**GOOD, "mlflow_helm_service_monitor_enabled": "false"}
    assert run_checks("mlflow_helm", off, found(monitor_namespace=False)) == ([], [])
    missing = {**GOOD, "mlflow_helm_artifacts_pvc_storage_class": "fast"}
    (message,), _ = run_checks("mlflow_helm", missing, found())
    assert "mlflow_helm_artifacts_pvc_storage_class" in message and "'fast'" in message
    # Object storage has no volume, so no storage class to check.
    assert run_checks("mlflow_helm", {**missing, "mlflow_helm_artifacts_store": "s3"}, found()) == ([], [])
