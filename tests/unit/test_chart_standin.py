"""The mlflow chart stand-in renders what the real community-charts chart 1.11.5 renders.

It is rendered with the pinned `helm template`; values go through the real values.schema.json
(vendored byte for byte), and every object must pass the same schema validation as in the
emulator.
"""

import copy
import subprocess

import pytest
import yaml

from tests.support import paths, reference, schemas

CHART = paths.REPO_ROOT / "tests" / "fixtures" / "charts" / "mlflow"
HELM = paths.TOOLS_BIN / "helm"

# What mlflow_helm gives the chart for the reference deployment (with the defects fixed); a deep
# copy, so that no test can change the shared reference constants.
REFERENCE_VALUES = copy.deepcopy(
    {
        "image": {"repository": "burakince/mlflow", "pullPolicy": "IfNotPresent"},
        "replicaCount": 1,
        "service": {"type": "ClusterIP", "port": 80, "containerPort": 5000, "name": "mlflow"},
        "backendStore": reference.BACKEND_STORE,
        "artifactRoot": reference.ARTIFACT_ROOT,
        "extraVolumes": [{"name": "artifacts", "persistentVolumeClaim": {"claimName": "mlflow-artifacts-pvc"}}],
        "extraVolumeMounts": [{"name": "artifacts", "mountPath": "/mlflow/artifacts"}],
        "securityContext": reference.SECURITY_CONTEXT,
        "podSecurityContext": reference.POD_SECURITY_CONTEXT,
        "log": {"enabled": True, "level": "info"},
        "telemetry": {"enabled": False},
        "serverAllowedHosts": ["mlflow.example.com", "mlflow", "mlflow.mlflow", "mlflow.mlflow.svc"],
        "corsAllowedOrigins": ["https://mlflow.example.com"],
        "resources": reference.MLFLOW_RESOURCES,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
        "livenessProbe": {"initialDelaySeconds": 30, "periodSeconds": 30, "timeoutSeconds": 5, "failureThreshold": 5},
        "readinessProbe": {"initialDelaySeconds": 15, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
        "podAnnotations": {"checksum/db-secret": "abc123"},
        "extraArgs": {"workers": "2"},
        "extraEnvVars": {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        "serviceMonitor": reference.SERVICE_MONITOR,
    }
)


def helm_template(values, *, api_versions=(), release="mlflow", namespace="mlflow", check=True):
    """`helm template` of the stand-in; returns {(kind, name): object} or, with check=False, the process."""
    cmd = [str(HELM), "template", release, str(CHART), "--namespace", namespace, "--values", "-"]
    for api_version in api_versions:
        cmd += ["--api-versions", api_version]
    proc = subprocess.run(
        cmd,
        input=yaml.safe_dump(values),
        capture_output=True,
        text=True,
        env=paths.tool_env(),
        check=False,
        timeout=60,
    )
    if not check:
        return proc
    assert proc.returncode == 0, proc.stderr
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(proc.stdout) if o}


def container(objects, release="mlflow"):
    return objects[("Deployment", release)]["spec"]["template"]["spec"]["containers"][0]


def test_vendored_schema_and_values_equal_the_shared_copies():
    for name in ("values.schema.json", "values.yaml", "LICENSE"):
        vendored = (CHART / name).read_bytes()
        shared = (paths.SCHEMAS_DIR / "community-charts-mlflow" / name).read_bytes()
        assert vendored == shared, f"tests/fixtures/charts/mlflow/{name} differs from the shared copy"


def test_chart_is_marked_as_a_stand_in_with_the_real_versions():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["name"], chart["version"], chart["appVersion"]) == ("mlflow", "1.11.5", "3.15.1")
    assert "STAND-IN" in chart["description"]
    assert chart["annotations"]["apocrathia.mlflow/stand-in"] == "true"
    assert "stand-in" in (CHART / "README.md").read_text().lower()


def test_reference_values_pass_the_real_schema():
    schemas.validate_chart_values(REFERENCE_VALUES)


def test_proxied_artifacts_with_existing_secret_render_the_reference_command():
    objects = helm_template(REFERENCE_VALUES, api_versions=["monitoring.coreos.com/v1"])
    c = container(objects)
    assert c["command"] == ["mlflow"]
    assert c["args"] == [
        "server",
        "--host=0.0.0.0",
        "--port=5000",
        "--backend-store-uri=postgresql+psycopg2://",
        "--artifacts-destination=/mlflow/artifacts",
        "--serve-artifacts",
        "--expose-prometheus=/mlflow/metrics",
        "--uvicorn-opts='--log-level=info'",
        "--workers=2",
    ]
    env = {e["name"]: e for e in c["env"]}
    assert env["PGUSER"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-secrets", "key": "username"}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-secrets", "key": "password"}
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "false"
    assert {"configMapRef": {"name": "mlflow-env-configmap"}} in c["envFrom"]
    assert {"name": "artifacts", "mountPath": "/mlflow/artifacts"} in c["volumeMounts"]
    assert c["securityContext"]["runAsUser"] == 1001 and c["securityContext"]["readOnlyRootFilesystem"] is False
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "mlflow"}
    assert c["livenessProbe"]["initialDelaySeconds"] == 30 and c["readinessProbe"]["periodSeconds"] == 10
    assert c["ports"] == [{"name": "mlflow", "containerPort": 5000, "protocol": "TCP"}]
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}

    deployment = objects[("Deployment", "mlflow")]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert pod["metadata"]["annotations"]["checksum/db-secret"] == "abc123"
    assert "checksum/config" in pod["metadata"]["annotations"]
    assert pod["spec"]["securityContext"] == reference.POD_SECURITY_CONTEXT
    assert {"name": "artifacts", "persistentVolumeClaim": {"claimName": "mlflow-artifacts-pvc"}} in pod["spec"][
        "volumes"
    ]

    data = objects[("ConfigMap", "mlflow-env-configmap")]["data"]
    assert data["PGHOST"] == "mlflow-postgres-rw.mlflow.svc.cluster.local"
    assert data["PGPORT"] == "5432" and data["PGDATABASE"] == "mlflow"
    assert data["MLFLOW_SERVER_ALLOWED_HOSTS"] == "mlflow.example.com,mlflow,mlflow.mlflow,mlflow.mlflow.svc"
    assert data["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == "https://mlflow.example.com"
    assert data["MLFLOW_DISABLE_TELEMETRY"] == "true" and data["MLFLOW_LOGGING_LEVEL"] == "INFO"

    # No credentials in the chart's own Secret when an existing one is used.
    assert not objects[("Secret", "mlflow-env-secret")].get("data")

    service = objects[("Service", "mlflow")]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "mlflow", "port": 80, "targetPort": "mlflow", "protocol": "TCP"}]

    monitor = objects[("ServiceMonitor", "mlflow")]
    assert monitor["metadata"]["namespace"] == "prometheus-system"
    assert monitor["metadata"]["labels"] == {"release": "kube-prometheus-stack"}
    assert monitor["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]

    flask = objects[("Secret", "mlflow-flask-server-secret-key")]
    assert flask["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert ("ServiceAccount", "mlflow") in objects


def test_every_rendered_object_passes_schema_validation():
    objects = helm_template(REFERENCE_VALUES, api_versions=["monitoring.coreos.com/v1"])
    assert {kind for kind, _ in objects} == {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "ServiceMonitor",
    }
    for obj in objects.values():
        schemas.validate_k8s_object(
            obj, crd_files=[paths.PROMETHEUS_CRDS / "monitoring.coreos.com_servicemonitors.yaml"]
        )


def test_non_proxied_artifacts_give_the_default_artifact_root():
    values = schemas.coalesce_values(REFERENCE_VALUES, {"artifactRoot": {"proxiedArtifactStorage": False}})
    args = container(helm_template(values))["args"]
    assert "--default-artifact-root=/mlflow/artifacts" in args
    assert "--serve-artifacts" not in args
    assert not [a for a in args if a.startswith("--artifacts-destination")]


def test_plain_credentials_go_to_the_env_secret_not_the_pod_spec():
    values = schemas.coalesce_values(
        REFERENCE_VALUES,
        {"backendStore": {"existingDatabaseSecret": {"name": ""}, "postgres": {"user": "u", "password": "p4ss"}}},
    )
    objects = helm_template(values)
    env_names = {e["name"] for e in container(objects)["env"]}
    assert not env_names & {"PGUSER", "PGPASSWORD"}
    assert set(objects[("Secret", "mlflow-env-secret")]["data"]) == {"PGUSER", "PGPASSWORD"}


@pytest.mark.parametrize(
    ("extra_args", "extra_flags", "log_enabled", "expected_tail"),
    [
        ({"workers": "4", "staticPrefix": "/ml"}, [], True, ["--static-prefix=/ml", "--workers=4"]),
        (
            {"uvicornOpts": "--timeout-keep-alive 30"},
            [],
            True,
            ["--uvicorn-opts='--log-level=info --timeout-keep-alive 30'"],
        ),
        (
            {"uvicornOpts": "--log-level=debug --limit-concurrency 9"},
            [],
            True,
            ["--uvicorn-opts='--log-level=info --limit-concurrency 9'"],
        ),
        ({}, ["disableSecurityMiddleware"], False, ["--disable-security-middleware"]),
        ({"workers": "2"}, ["dev"], False, ["--workers=2", "--dev"]),
    ],
)
def test_extra_args_and_flags_become_kebab_case_options(extra_args, extra_flags, log_enabled, expected_tail):
    values = schemas.coalesce_values(REFERENCE_VALUES, {"extraFlags": extra_flags, "log": {"enabled": log_enabled}})
    values["extraArgs"] = extra_args
    values["serviceMonitor"] = {"enabled": False}
    args = container(helm_template(values))["args"]
    base = args[: args.index("--serve-artifacts") + 1]
    assert (
        args[len(base) :]
        == (["--uvicorn-opts='--log-level=info'"] if log_enabled and not extra_args.get("uvicornOpts") else [])
        + expected_tail
    )


def test_service_monitor_needs_the_api_and_the_value():
    assert ("ServiceMonitor", "mlflow") not in helm_template(REFERENCE_VALUES)  # no monitoring.coreos.com/v1
    off = schemas.coalesce_values(REFERENCE_VALUES, {"serviceMonitor": {"enabled": False}})
    objects = helm_template(off, api_versions=["monitoring.coreos.com/v1"])
    assert ("ServiceMonitor", "mlflow") not in objects
    assert "--expose-prometheus=/mlflow/metrics" not in container(objects)["args"]


def test_release_name_and_chart_name_give_the_real_fullname():
    objects = helm_template(REFERENCE_VALUES, release="tracking")
    assert ("Deployment", "tracking-mlflow") in objects
    assert ("ConfigMap", "tracking-mlflow-env-configmap") in objects


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"extraArgs": {"workers": 2}}, "extraArgs.workers: Invalid type. Expected: string, given: integer"),
        ({"notAValue": True}, "Additional property notAValue is not allowed"),
    ],
)
def test_helm_rejects_what_the_real_schema_rejects(values, message):
    proc = helm_template(schemas.coalesce_values(REFERENCE_VALUES, values), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert schemas.chart_values_errors(schemas.coalesce_values(REFERENCE_VALUES, values))


def test_features_the_stand_in_does_not_render_fail_loudly():
    proc = helm_template(schemas.coalesce_values(REFERENCE_VALUES, {"ingress": {"enabled": True}}), check=False)
    assert proc.returncode != 0
    assert "stand-in" in proc.stderr and "ingress.enabled" in proc.stderr
