"""The harness's chart command builder (tests/harness/chart.py), alone and against `helm template`."""

import json
import shutil
import subprocess

import pytest

from tests.harness import chart, converge_input
from tests.harness.chart import SecretKeyRef
from tests.harness.deployment_input import intended_input
from tests.support.paths import REPO_ROOT, tool_env
from tests.support.schemas import coalesce_values

STAND_IN_CHART = REPO_ROOT / "tests" / "fixtures" / "charts" / "mlflow"

POSTGRES = {
    "backendStore": {
        "postgres": {"enabled": True, "host": "db.example", "port": 5432, "database": "mlflow", "driver": "psycopg2"},
        "existingDatabaseSecret": {"name": "mlflow-secrets", "usernameKey": "username", "passwordKey": "password"},
    }
}


def test_defaults_give_the_plain_server():
    argv, env = chart.server_command({})
    assert argv == [
        "mlflow", "server", "--host=0.0.0.0", "--port=5000", "--backend-store-uri=sqlite:///:memory:",
        "--default-artifact-root=./mlruns", "--uvicorn-opts='--log-level=info'",
    ]  # fmt: skip
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true" and env["MLFLOW_LOGGING_LEVEL"] == "INFO"
    assert "MLFLOW_SERVER_ALLOWED_HOSTS" not in env


def test_postgres_uses_a_bare_uri_and_libpq_variables_from_the_secret():
    argv, env = chart.server_command(POSTGRES)
    assert "--backend-store-uri=postgresql+psycopg2://" in argv
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == ("db.example", "5432", "mlflow")
    assert env["PGUSER"] == SecretKeyRef("mlflow-secrets", "username")
    assert env["PGPASSWORD"] == SecretKeyRef("mlflow-secrets", "password")


def test_credentials_in_values_go_through_the_env_secret():
    values = coalesce_values(POSTGRES, {"backendStore": {"existingDatabaseSecret": {"name": ""}}})
    _, env = chart.server_command(values, release="ml")
    assert env["PGPASSWORD"] == SecretKeyRef("ml-mlflow-env-secret", "PGPASSWORD")


@pytest.mark.parametrize(
    ("artifact_root", "expected", "serve"),
    [
        ({"proxiedArtifactStorage": True, "defaultArtifactsDestination": "/mlflow/artifacts"},
         "--artifacts-destination=/mlflow/artifacts", True),
        ({"proxiedArtifactStorage": False, "defaultArtifactRoot": "/mlflow/artifacts"},
         "--default-artifact-root=/mlflow/artifacts", False),
        ({"s3": {"enabled": True, "bucket": "b", "path": "p"}}, "--default-artifact-root=s3://b/p", False),
    ],
)  # fmt: skip
def test_artifact_flags(artifact_root, expected, serve):
    argv, _ = chart.server_command({"artifactRoot": artifact_root})
    assert expected in argv
    assert ("--serve-artifacts" in argv) is serve


def test_extra_args_flags_env_and_lists():
    values = {
        "extraArgs": {"workers": "2", "staticPrefix": "/m"},
        "extraFlags": ["serveArtifacts"],
        "extraEnvVars": {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "FLAG": True},
        "serverAllowedHosts": ["a.example", "mlflow:80"],
        "corsAllowedOrigins": ["https://a.example"],
        "serviceMonitor": {"enabled": True},
    }
    argv, env = chart.server_command(values)
    assert argv[-3:] == ["--static-prefix=/m", "--workers=2", "--serve-artifacts"]  # map keys in order
    assert "--expose-prometheus=/mlflow/metrics" in argv
    assert env["MLFLOW_SERVER_ALLOWED_HOSTS"] == "a.example,mlflow:80"
    assert env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == "https://a.example"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false" and env["FLAG"] == "true"


def test_uvicorn_opts_keep_the_log_level():
    argv, _ = chart.server_command({"extraArgs": {"uvicornOpts": "--timeout-keep-alive=30"}})
    assert "--uvicorn-opts='--log-level=info --timeout-keep-alive=30'" in argv
    assert sum(a.startswith("--uvicorn-opts") for a in argv) == 1


@pytest.mark.parametrize(("key", "kebab"), [("workers", "workers"), ("staticPrefix", "static-prefix"),
                                            ("serveArtifacts", "serve-artifacts"), ("exposeHTTPMetrics", "expose-http-metrics")])  # fmt: skip
def test_kebabcase(key, kebab):
    assert chart.kebabcase(key) == kebab


def test_resolve_env_names_a_missing_secret():
    with pytest.raises(KeyError, match="mlflow-secrets"):
        chart.resolve_env({"PGPASSWORD": SecretKeyRef("mlflow-secrets", "password")}, {})


@pytest.mark.parametrize(
    ("quantity", "size"), [("2Gi", 2 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9), ("1e3", 1000)]
)
def test_memory_quantities(quantity, size):
    assert chart.parse_quantity(quantity) == size


# --- cross-check against the stand-in chart rendered by the real helm -------------------
def _helm_template(values, release="mlflow"):
    if not (STAND_IN_CHART / "Chart.yaml").is_file():
        pytest.skip("the stand-in chart tests/fixtures/charts/mlflow is not there")
    if not shutil.which("helm", path=tool_env()["PATH"]):
        pytest.skip("helm is not installed; run `make setup`")
    proc = subprocess.run(
        ["helm", "template", release, str(STAND_IN_CHART), "--namespace", "mlflow", "-f", "-"],
        input=json.dumps(values), capture_output=True, text=True, env=tool_env(), timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _defect(**changes):
    return coalesce_values(intended_input(password="unused").values, changes)


@pytest.mark.parametrize(
    "values",
    [
        intended_input(password="unused").values,
        _defect(artifactRoot={"proxiedArtifactStorage": False}),
        _defect(serverAllowedHosts=["mlflow.example.com"], extraArgs={"workers": "1", "uvicornOpts": "--log-level=debug"}),
        coalesce_values(POSTGRES, {"backendStore": {"existingDatabaseSecret": {"name": ""},
                                                       "postgres": {"user": "u", "password": "p"}}}),
    ],
    ids=["roles-intent", "non-proxied", "hosts-uvicorn-opts", "credentials-in-values"],
)  # fmt: skip
def test_server_command_matches_helm_template_of_the_stand_in_chart(values):
    argv, env = converge_input.rendered_command(_helm_template(values))
    built_argv, built_env = chart.server_command(values)
    assert built_argv == argv
    assert built_env == env


def test_config_map_mounts_are_the_mounted_configmap_volumes_in_mount_order():
    values = {
        "extraVolumes": [
            {"name": "pvc", "persistentVolumeClaim": {"claimName": "p"}},
            {"name": "audit", "configMap": {"name": "mlflow-audit", "items": [{"key": "a.py", "path": "a.py"}]}},
            {"name": "unmounted", "configMap": {"name": "other"}},
            {"name": "whole", "configMap": {"name": "whole-map"}},
        ],
        "extraVolumeMounts": [
            {"name": "whole", "mountPath": "/etc/whole"},
            {"name": "pvc", "mountPath": "/data"},
            {"name": "audit", "mountPath": "/opt/audit", "readOnly": True},
        ],
    }
    assert chart.config_map_mounts(values) == [
        chart.ConfigMapMount("/etc/whole", "whole-map", ()),
        chart.ConfigMapMount("/opt/audit", "mlflow-audit", (("a.py", "a.py"),)),
    ]
    assert chart.config_map_mounts({}) == []
