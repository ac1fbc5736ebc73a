"""site.yml on the emulated cluster (the session's `converged_site`): check mode, converge,
idempotence, no leaked secret, and every object compared with the reference deployment
(../shared/reference-deployment.md), its defects fixed, each object valid against the real schemas."""

import base64
import gzip
import hashlib
import json

import pytest

from tests.support import paths, reference
from tests.support.ansible_run import assert_no_secrets
from tests.support.schemas import load_blueprint, validate_blueprint, validate_chart_values, validate_k8s_object

pytestmark = pytest.mark.slow

NS = "mlflow"
HOST = "mlflow.gateway.services.apocrathia.com"
CRDS = [
    paths.CNPG_CRDS / "postgresql.cnpg.io_clusters.yaml",
    paths.PROMETHEUS_CRDS / "monitoring.coreos.com_podmonitors.yaml",
    paths.PROMETHEUS_CRDS / "monitoring.coreos.com_servicemonitors.yaml",
]


def get(site, api_version, kind, name, namespace=NS):
    obj = site.emulator.get(api_version, kind, name, namespace)
    assert obj is not None, f"{kind} {namespace}/{name} was not created"
    return obj


def helm_release(site, name="mlflow", namespace=NS):
    """The newest Helm release record (values under 'config', rendered manifest under 'manifest')."""
    releases = [
        s
        for s in site.emulator.list("v1", "Secret", namespace)
        if s["metadata"].get("labels", {}).get("owner") == "helm" and s["metadata"]["labels"].get("name") == name
    ]
    assert releases, "no Helm release record"
    newest = max(releases, key=lambda s: int(s["metadata"]["labels"]["version"]))
    raw = base64.b64decode(base64.b64decode(newest["data"]["release"]))
    return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw), newest


# --- the three runs ------------------------------------------------------------------------
def test_check_mode_before_converge_reports_changes_and_writes_nothing(converged_site):
    run = converged_site.runs["check"]
    assert run.rc == 0
    assert run.recap()["changed"] > 0, "check mode should report the planned changes"
    (cluster,) = run.objects(ref="Cluster mlflow/mlflow-postgres")
    assert (cluster["action"], cluster["operation"]) == ("planned", "create")
    assert converged_site.writes["check"] == []
    assert converged_site.snapshots["before_check"] == converged_site.snapshots["before_converge"]


def test_converge_changes_then_second_run_changes_nothing(converged_site):
    assert converged_site.runs["converge"].recap()["changed"] > 0
    run = converged_site.runs["idempotence"]
    recap = run.recap()
    changed = [
        (r["task"], [(o["ref"], o["action"]) for o in r.get("objects", []) if o["action"] != "unchanged"])
        for r in run.results
        if r["status"] == "changed"
    ]
    assert recap["changed"] == 0 and recap["failed"] == 0, (recap, changed)
    # No write that changed anything (each object's apply was a no-op for the API server), and
    # no object in the store changed.
    assert converged_site.writes["idempotence"] == [], [(w.verb, w.path) for w in converged_site.writes["idempotence"]]
    before, after = converged_site.snapshots["before_idempotence"], converged_site.snapshots["after"]
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}


def test_second_run_only_reads_and_applies_and_leaves_the_release_alone(converged_site):
    # Reads, and one server-side apply per object the roles manage, each a no-op for the server;
    # no other write, no dry run.
    requests = converged_site.requests["idempotence"]
    assert {r.verb for r in requests} <= {"get", "list", "patch"}, sorted({(r.verb, r.path) for r in requests})
    applies = [r for r in requests if r.verb == "patch"]
    assert applies and all(
        r.content_type == "application/apply-patch+yaml" and "fieldManager=apocrathia.mlflow" in r.path and not r.wrote
        for r in applies
    ), [(r.path, r.content_type, r.wrote) for r in applies]
    run = converged_site.runs["idempotence"]
    # Every object the roles manage was found in sync.
    objects = run.objects()
    assert objects and {o["action"] for o in objects} == {"unchanged"}, [
        o for o in objects if o["action"] != "unchanged"
    ]
    # The release runs this chart with these values already (decided from Helm's release
    # Secrets): no schema render, no helm call. The Cluster was not written and was ready: no wait.
    releases = run.tasks(action="apocrathia.mlflow.helm_release")
    assert len(releases) == 2 and all(  # the preflight's check and the release
        (r["status"], r["helm"]) == ("ok", {"action": "unchanged", "commands": []}) for r in releases
    ), releases
    assert {r["status"] for r in run.tasks(action="apocrathia.mlflow.cnpg_cluster_wait")} == {"skipped"}
    # The converge did run them: the chart rendered once (schema), then installed once.
    converge = converged_site.runs["converge"]
    assert [r["helm"] for r in converge.tasks(action="apocrathia.mlflow.helm_release")] == [
        {"action": "validated", "commands": ["template"]},
        {"action": "installed", "commands": ["version", "upgrade"]},
    ]
    assert {r["status"] for r in converge.tasks(action="apocrathia.mlflow.cnpg_cluster_wait")} & {"ok", "changed"}
    assert {o["action"] for o in converge.objects(kind="Cluster")} == {"created"}


def test_no_secret_value_in_any_output(converged_site):
    for run in converged_site.runs.values():
        assert "-vvv" in run.command
        assert_no_secrets(run.output, converged_site.secret_values)


def test_no_helm_release_record_nor_chart_made_secret_in_any_output(converged_site):
    """Helm's release records hold the rendered manifests, hooks included: the chart's Flask server
    key is in them. The roles read the records, but only what they decode from them may be shown."""
    flask = get(converged_site, "v1", "Secret", "mlflow-flask-server-secret-key")
    flask_key = base64.b64decode(flask["data"]["MLFLOW_FLASK_SERVER_SECRET_KEY"]).decode()
    records = [
        s["data"]["release"]
        for s in converged_site.emulator.list("v1", "Secret", NS)
        if s["metadata"].get("labels", {}).get("owner") == "helm"
    ]
    assert records and flask_key
    for run in converged_site.runs.values():
        assert "-vvv" in run.command
        assert_no_secrets(run.output, [flask_key, flask["data"]["MLFLOW_FLASK_SERVER_SECRET_KEY"], *records])
        # Not even a part of a record (the output may fold long strings).
        assert_no_secrets(run.output, [record[i : i + 64] for record in records for i in (0, 512, 4096)])


def test_summary_says_how_to_reach_mlflow(converged_site):
    out = converged_site.runs["converge"].output
    assert f"MLFLOW_TRACKING_URI=https://{HOST}" in out
    assert "MLFLOW_TRACKING_USERNAME" in out and "app password" in out and "MLFLOW_TRACKING_TOKEN" in out


# --- the objects, in the reference's apply order ----------------------------------------------
def test_namespace(converged_site):
    ns = get(converged_site, "v1", "Namespace", NS, None)
    assert ns["metadata"]["labels"]["app.kubernetes.io/name"] == "mlflow"


def test_secret_is_basic_auth_reloadable_and_annotated_without_values(converged_site):
    secret = get(converged_site, "v1", "Secret", "mlflow-secrets")
    validate_k8s_object(secret)
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["labels"]["cnpg.io/reload"] == "true"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == converged_site.secrets
    annotations = json.dumps(secret["metadata"].get("annotations", {}))
    assert "apocrathia.mlflow/source" in annotations
    assert converged_site.secrets["password"] not in annotations


def test_cnpg_cluster_matches_the_reference(converged_site):
    cluster = get(converged_site, "postgresql.cnpg.io/v1", "Cluster", "mlflow-postgres")
    validate_k8s_object(cluster, CRDS)
    spec = cluster["spec"]
    assert spec["imageName"] == reference.POSTGRES_IMAGE
    assert spec["instances"] == 1
    assert spec["storage"]["storageClass"] == "longhorn" and spec["storage"]["size"] == "20Gi"
    assert spec["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    params = spec["postgresql"]["parameters"]
    for key, value in reference.POSTGRES_PARAMETERS.items():
        assert params[key] == value, key
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["affinity"]["podAntiAffinityType"] == "preferred"
    assert spec["affinity"]["topologyKey"] == "kubernetes.io/hostname"
    # The fields the role sets; CloudNativePG's defaulting webhook adds encoding and locale beside them.
    initdb = spec["bootstrap"]["initdb"]
    assert {key: initdb.get(key) for key in ("database", "owner", "secret")} == {
        "database": "mlflow",
        "owner": "mlflow",
        "secret": {"name": "mlflow-secrets"},
    }
    # Fixed defect: no deprecated enablePodMonitor; the password is managed from the Secret.
    assert not spec.get("monitoring", {}).get("enablePodMonitor", False)
    role = next(r for r in spec["managed"]["roles"] if r["name"] == "mlflow")
    assert role["passwordSecret"]["name"] == "mlflow-secrets" and role["ensure"] == "present" and role["login"] is True
    # Waited for: ready, and the read-write service the MLflow values point at exists.
    ready = [c for c in cluster["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert cluster["status"]["phase"] == "Cluster in healthy state"
    rw = get(converged_site, "v1", "Service", "mlflow-postgres-rw")
    assert rw["spec"]["ports"][0]["port"] == 5432


def test_pod_monitor_replaces_enable_pod_monitor(converged_site):
    monitor = get(converged_site, "monitoring.coreos.com/v1", "PodMonitor", "mlflow-postgres")
    validate_k8s_object(monitor, CRDS)
    assert monitor["spec"]["selector"]["matchLabels"]["cnpg.io/cluster"] == "mlflow-postgres"
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics"}]


def test_artifact_pvc(converged_site):
    pvc = get(converged_site, "v1", "PersistentVolumeClaim", "mlflow-artifacts-pvc")
    validate_k8s_object(pvc)
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["storageClassName"] == "longhorn"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert pvc["metadata"]["labels"] == {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "storage"}
    assert pvc["status"]["phase"] == "Bound"


def test_helm_release_values_match_the_reference_with_defects_fixed(converged_site):
    release, record = helm_release(converged_site)
    assert release["info"]["status"] == "deployed"
    assert release["chart"]["metadata"]["name"] == "mlflow" and release["chart"]["metadata"]["version"] == "1.11.5"
    values = release["config"]
    validate_chart_values(values)
    assert values["image"] == {"repository": "burakince/mlflow", "pullPolicy": "IfNotPresent", "tag": ""}
    assert values["replicaCount"] == 1
    assert values["resources"] == {
        "requests": {"cpu": "200m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert values["service"]["type"] == "ClusterIP"
    assert (values["service"]["port"], values["service"]["containerPort"], values["service"]["containerPortName"]) == (
        80,
        5000,
        "mlflow",
    )
    store = values["backendStore"]
    assert store["databaseMigration"] is False
    assert store["postgres"] == reference.BACKEND_STORE["postgres"]
    # Fixed: credentials through the Secret, none in the values (nor anywhere in the release).
    assert store["existingDatabaseSecret"] == reference.BACKEND_STORE["existingDatabaseSecret"]
    assert converged_site.secrets["password"] not in json.dumps(release)
    # Fixed: the server proxies artifacts (remote clients upload over HTTP).
    assert values["artifactRoot"]["proxiedArtifactStorage"] is True
    assert values["artifactRoot"]["defaultArtifactsDestination"] == "/mlflow/artifacts"
    assert values["extraVolumes"][0] == {
        "name": "mlflow-artifacts",
        "persistentVolumeClaim": {"claimName": "mlflow-artifacts-pvc"},
    }
    assert values["extraVolumeMounts"][0] == {"name": "mlflow-artifacts", "mountPath": "/mlflow/artifacts"}
    # The audit log (docs/audit-log.md): the middleware's ConfigMap on PYTHONPATH, loaded as an
    # MLflow app plugin, uvicorn's access line off.
    assert values["extraVolumes"][1]["configMap"]["name"] == "mlflow-audit"
    assert values["extraVolumeMounts"][1] == {
        "name": "mlflow-audit",
        "mountPath": "/opt/mlflow-audit",
        "readOnly": True,
    }
    assert values["extraEnvVars"]["PYTHONPATH"] == "/opt/mlflow-audit"
    assert values["extraEnvVars"]["UVICORN_ACCESS_LOG"] == "false"
    assert values["securityContext"] == reference.SECURITY_CONTEXT
    assert values["podSecurityContext"] == reference.POD_SECURITY_CONTEXT
    assert values["log"] == {"enabled": True, "level": "info"} and values["telemetry"] == {"enabled": False}
    # Fixed: the external host plus every in-cluster name the outpost or probes may send.
    hosts = set(values["serverAllowedHosts"])
    for name in ("mlflow", "mlflow.mlflow", "mlflow.mlflow.svc", "mlflow.mlflow.svc.cluster.local"):
        assert {name, f"{name}:80", f"{name}:5000"} <= hosts, name
    assert values["serverAllowedHosts"][0] == HOST
    assert values["corsAllowedOrigins"] == [f"https://{HOST}"]
    assert values["livenessProbe"] == {
        "initialDelaySeconds": 30,
        "periodSeconds": 30,
        "timeoutSeconds": 5,
        "failureThreshold": 5,
    }
    assert values["readinessProbe"] == {
        "initialDelaySeconds": 15,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }
    assert values["serviceMonitor"]["enabled"] is True
    assert values["serviceMonitor"]["namespace"] == "prometheus-system"
    assert values["serviceMonitor"]["labels"] == {"release": "kube-prometheus-stack"}
    # Fixed: an RWO-safe strategy, workers x pool inside max_connections, job execution off.
    assert values["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    assert values["extraArgs"] == {"workers": "4", "appName": "audit"}
    env = values["extraEnvVars"]
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert (
        1 * 4 * (int(env["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"]) + int(env["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"]))
        <= 200 - 20
    )
    assert values["ingress"] == {"enabled": False}
    assert values["podAnnotations"]["checksum/db-secret"]


def test_deployment_runs_the_fixed_server_command(converged_site):
    deployment = get(converged_site, "apps/v1", "Deployment", "mlflow")
    validate_k8s_object(deployment)
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = container["args"]
    assert "--serve-artifacts" in args and "--artifacts-destination=/mlflow/artifacts" in args
    assert not any(a.startswith("--default-artifact-root") for a in args)
    assert "--backend-store-uri=postgresql+psycopg2://" in args and "--workers=4" in args
    assert "--expose-prometheus=/mlflow/metrics" in args
    assert "--app-name=audit" in args and not any(a.startswith("--gunicorn-opts") for a in args)
    audit = get(converged_site, "v1", "ConfigMap", "mlflow-audit")
    validate_k8s_object(audit)
    assert (paths.REPO_ROOT / "roles/mlflow_helm/files/mlflow_audit.py").read_text() == audit["data"]["mlflow_audit.py"]
    assert audit["data"]["entry_points.txt"] == "[mlflow.app]\naudit = mlflow_audit:create_app\n"
    audit_digest = hashlib.sha256(audit["data"]["mlflow_audit.py"].encode()).hexdigest()
    assert pod["metadata"]["annotations"]["checksum/audit"] == audit_digest  # pods restart when it changes
    mounted = {v["name"]: v for v in pod["spec"]["volumes"]}["mlflow-audit"]["configMap"]
    assert {i["path"] for i in mounted["items"]} == {
        "mlflow_audit.py", "mlflow_audit-1.0.0.dist-info/entry_points.txt", "mlflow_audit-1.0.0.dist-info/METADATA",
    }  # fmt: skip
    env = {e["name"]: e for e in container["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-secrets", "key": "password"}
    assert env["PGUSER"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-secrets", "key": "username"}
    assert {"name": "mlflow-artifacts", "mountPath": "/mlflow/artifacts"} in container["volumeMounts"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    # Pods restart when the Secret changes: the pod template carries the checksum of its data.
    secret = get(converged_site, "v1", "Secret", "mlflow-secrets")
    digest = hashlib.sha256(json.dumps(secret["data"], sort_keys=True).encode()).hexdigest()
    assert pod["metadata"]["annotations"]["checksum/db-secret"] == digest
    assert deployment["status"].get("readyReplicas") == 1


def test_service_env_configmap_and_service_monitor(converged_site):
    service = get(converged_site, "v1", "Service", "mlflow")
    validate_k8s_object(service)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["port"] == 80 and service["spec"]["ports"][0]["name"] == "mlflow"
    env = get(converged_site, "v1", "ConfigMap", "mlflow-env-configmap")["data"]
    assert env["PGHOST"] == "mlflow-postgres-rw.mlflow.svc.cluster.local"
    assert HOST in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert "mlflow.mlflow.svc.cluster.local:80" in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == f"https://{HOST}"
    monitor = get(converged_site, "monitoring.coreos.com/v1", "ServiceMonitor", "mlflow", "prometheus-system")
    validate_k8s_object(monitor, CRDS)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["mlflow"]


def test_blueprint_configmap_and_the_outpost_authentik_made(converged_site):
    configmap = get(converged_site, "v1", "ConfigMap", "authentik-blueprint-mlflow")
    validate_k8s_object(configmap)
    assert configmap["metadata"]["labels"]["authentik_blueprint"] == "true"
    blueprint = load_blueprint(configmap["data"]["mlflow.yaml"])
    validate_blueprint(blueprint)
    provider = next(e for e in blueprint["entries"] if e["model"] == "authentik_providers_proxy.proxyprovider")
    assert provider["attrs"]["external_host"] == f"https://{HOST}"
    assert provider["attrs"]["internal_host"] == "http://mlflow.mlflow.svc.cluster.local:80"
    assert provider["attrs"]["intercept_header_auth"] is True  # fixed: API clients get through
    outpost = next(e for e in blueprint["entries"] if e["model"] == "authentik_outposts.outpost")
    assert outpost["attrs"]["config"]["kubernetes_httproute_parent_refs"] == [
        {"name": "main-gateway", "namespace": "cilium-system", "sectionName": "https"}
    ]
    # authentik (simulated) created the outpost and its HTTPRoute; the play waited for them.
    assert converged_site.emulator.get("apps/v1", "Deployment", "ak-outpost-mlflow-outpost", "authentik")
    route = converged_site.emulator.get(
        "gateway.networking.k8s.io/v1", "HTTPRoute", "ak-outpost-mlflow-outpost", "authentik"
    )
    assert route and route["spec"]["parentRefs"][0]["name"] == "main-gateway"
