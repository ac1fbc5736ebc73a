"""Real clients against the deployed configuration (issue 6).

Input: the Secret, Helm values, CNPG Cluster and authentik blueprint that an emulated converge
of site.yml produced (`converged_site`). From them: a real PostgreSQL bootstrapped as CNPG's
initdb, a real `mlflow server` started from the MLflow Deployment in the cluster as the kubelet
would start it (tests/harness/pod.py: command, args, env, envFrom, valueFrom, volume mounts),
the outpost STAND-IN in front, and the seed's Python examples run as a remote client: another
process, another user, its own directory and mount namespace, reaching MLflow only over HTTP.

Server starts are the expensive part (10-30 s each on 2 shared cores): one stack serves the
happy path and the intercept_header_auth demo; the two demos that need another server
configuration start a cheap one (1 worker, job execution off).
"""

import base64
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.harness import converge_input, endpoints, pod, remote_client
from tests.harness.__main__ import register_endpoints
from tests.harness.deployment_input import in_cluster_hosts
from tests.harness.mlflow_server import audit_lines, request
from tests.harness.postgres import Postgres, PostgresStartError
from tests.harness.stack import APP_USER, OTHER_USER, Stack, new_workdir
from tests.integration.day2_support import Site
from tests.integration.test_status_playbook import run_status
from tests.support.ansible_run import assert_no_secrets
from tests.support.paths import REPO_ROOT
from tests.support.reference import STATUS_PARTS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the server and client as separate users"),
]

TIMINGS = {}
TIMINGS_FILE = REPO_ROOT / ".cache" / "real-client-timings.json"
FOREIGN_ORIGIN = "https://evil.example.com"
SEARCH = "/api/2.0/mlflow/experiments/search"


# --- input -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deployment(converged_site):
    """What the roles produced in the emulated converge of site.yml, read back from the cluster."""
    got = converge_input.read_converge(converged_site.kubeconfig)
    got.source = "converged_site"
    return got


@pytest.fixture(scope="module")
def stack(deployment):
    stack = Stack(deployment, new_workdir())
    try:
        stack.start()
        TIMINGS.update(stack.timings)
        TIMINGS["postgres_initdb_s"] = stack.pg.timings["initdb_s"]
        yield stack
    finally:
        stack.stop(remove=os.environ.get("HARNESS_KEEP") != "1")


@pytest.fixture(scope="module")
def happy_run(stack):
    """The seed's examples through the outpost stand-in with an app password (Basic)."""
    stack.pg.start_sampling()
    stack.server.start_memory_sampling()
    try:
        run = remote_client.run_example(
            stack.workdir / "client",
            stack.outpost.url,
            experiment="my-experiment",
            model_name="MyModel",
            hide=[stack.server.workdir],
            **stack.auth_basic(),
        )
    finally:
        stack.pg.stop_sampling()
        stack.server.stop_memory_sampling()
    TIMINGS["example_run_s"] = run.seconds
    TIMINGS["example_steps_s"] = {s["step"]: s["seconds"] for s in run.result.get("steps", [])}
    return run


def _explain(run):
    failed = run.failed_step()
    return json.dumps({"failed": failed, "stderr": run.stderr[-2000:], "result": run.result}, default=str)[:6000]


def _defect_server(stack, name, **value_changes):
    """A cheap server (1 worker, job execution off) for the converge's values with one defect."""
    defective = stack.input.with_values(
        extraArgs={"workers": "1"}, extraEnvVars={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, **value_changes
    )
    server = stack.start_server(defective, name=name)
    TIMINGS[f"{name}_server_ready_s"] = server.timings["ready_s"]
    return server


# --- input provenance and the command ------------------------------------------------------
def test_input_is_what_the_converge_created(deployment, converged_site):
    for key, value in converged_site.secrets.items():
        assert deployment.secrets["mlflow-secrets"][key] == value, key
    assert deployment.extra["helm_version"] >= 1  # values from helm's release record, not a copy
    assert deployment.extra["chart"]["name"] == "mlflow"
    assert deployment.values["backendStore"]["postgres"]["enabled"] is True
    assert deployment.initdb["secret"]["name"] == "mlflow-secrets"


def _proc_argv_env(pid):
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    env = dict(e.split(b"=", 1) for e in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in e)
    return [a.decode() for a in argv], {k.decode(): v.decode() for k, v in env.items()}


def test_the_server_process_runs_what_the_clusters_deployment_says(stack, converged_site):
    """The running process's argv and environment come from the Deployment the converge created."""
    container = converged_site.emulator.get("apps/v1", "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]
    container = next(c for c in container["containers"] if c["name"] == "mlflow")
    argv, env = _proc_argv_env(stack.server.proc.pid)
    start = argv.index(stack.server.argv[0])  # after unshare/setpriv
    running = argv[start + 1 :]
    local = {"--host": "127.0.0.1", "--port": str(stack.server.port)}
    expected = []
    for arg in container["args"]:
        key, _, value = arg.partition("=")
        if key in local:
            value = local[key]
        elif value.startswith("/"):
            value = str(stack.server.volumes.get(value, stack.server.rootfs / value.lstrip("/")))
        expected.append(f"{key}={value}" if "=" in arg else arg)
    assert running == expected
    assert container["command"] == ["mlflow"] and Path(argv[start]).name == "mlflow"
    # valueFrom secretKeyRef: the credentials the converge stored, nowhere in the pod spec
    assert env["PGUSER"] == converged_site.secrets["username"]
    assert env["PGPASSWORD"] == converged_site.secrets["password"]
    # envFrom: the chart's ConfigMap and the flask Secret the cluster holds
    configmap = converged_site.emulator.get("v1", "ConfigMap", "mlflow-env-configmap", "mlflow")["data"]
    assert env["MLFLOW_SERVER_ALLOWED_HOSTS"] == configmap["MLFLOW_SERVER_ALLOWED_HOSTS"]
    flask = converged_site.emulator.get("v1", "Secret", "mlflow-flask-server-secret-key", "mlflow")["data"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == base64.b64decode(flask["MLFLOW_FLASK_SERVER_SECRET_KEY"]).decode()
    assert env["PGHOST"] == stack.pg.host and env["PGPORT"] == str(stack.pg.port)


def test_db_password_stays_out_of_helm_values(deployment):
    password = deployment.db_credentials()[1]
    assert password not in json.dumps(deployment.values)
    assert deployment.values["backendStore"]["existingDatabaseSecret"]["name"] in deployment.secrets


# --- PostgreSQL ----------------------------------------------------------------------------
def test_postgres_is_bootstrapped_like_cnpg_initdb(stack):
    owner, password, database = stack.input.db_credentials()
    conn = stack.pg.connect_as_owner()  # over TCP with the Secret's password (scram-sha-256)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [database])
            assert cur.fetchone()[0] == owner
            cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [owner])
            assert cur.fetchone()[0] is False
    finally:
        conn.close()
    admin = stack.pg.admin_connect()
    try:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT name, sourcefile FROM pg_settings WHERE name = ANY(%s)", [list(stack.input.pg_parameters)]
            )
            sources = dict(cur.fetchall())
    finally:
        admin.close()
    assert set(sources) == set(stack.input.pg_parameters)
    assert all(str(f).endswith("custom.conf") for f in sources.values()), sources
    assert stack.pg.setting("max_connections") == str(stack.input.pg_parameters["max_connections"])


def test_an_invalid_cluster_parameter_fails_here_as_in_the_cluster(deployment):
    owner, password, database = deployment.db_credentials()
    broken = {**deployment.pg_parameters, "max_connections": "lots"}
    workdir = new_workdir()
    pg = Postgres(workdir / "pg", owner=owner, password=password, database=database, parameters=broken)
    try:
        with pytest.raises(PostgresStartError) as failure:
            pg.start()
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert 'invalid value for parameter "max_connections"' in failure.value.log


# --- the seed's examples -----------------------------------------------------------------
def test_every_step_of_the_seed_examples_succeeds(happy_run):
    assert happy_run.returncode == 0 and happy_run.result["ok"], _explain(happy_run)
    expected = [
        "set_tracking_uri", "set_experiment", "log_param", "train", "log_metric", "log_model",
        "register_model", "transition_to_production", "set_alias", "load_model", "predict",
    ]  # fmt: skip
    assert [s["step"] for s in happy_run.result["steps"]] == expected
    assert happy_run.result["logged_params"] == {"n_estimators": "100", "max_depth": "6"}
    assert happy_run.result["logged_metrics"]["mse"] == pytest.approx(happy_run.result["mse"])
    assert happy_run.result["alias_version"] == happy_run.result["model_version"]


def test_the_registry_model_predicts_like_the_trained_one(happy_run):
    assert happy_run.result.get("predictions_equal") is True, _explain(happy_run)
    assert happy_run.result["max_abs_difference"] == 0.0


def test_artifacts_exist_only_under_the_server_directory(stack, happy_run):
    assert happy_run.result["ok"], _explain(happy_run)
    assert happy_run.result["experiment_artifact_location"].startswith("mlflow-artifacts:")
    server_files = stack.server.artifact_files()
    model_files = [f for f in server_files if f.endswith(("MLmodel", "model.skops", "model.pkl"))]
    assert len(model_files) >= 2, server_files
    # The client's only copy is what load_model downloaded from the registry into its temp dir
    # (marked by registered_model_meta); nothing it logged stayed on its side.
    client_models = [p.parent for p in happy_run.home.rglob("MLmodel")]
    assert all((d / "registered_model_meta").is_file() for d in client_models), client_models
    assert all(d.is_relative_to(happy_run.home / "tmp") for d in client_models), client_models
    assert not Path("/mlflow/artifacts").exists(), "something wrote to the container path on this machine"


def test_the_client_cannot_see_the_server_artifact_directory(stack):
    hidden_ok, hidden = remote_client.probe_read(
        stack.server.artifacts_dir, stack.workdir / "client", hide=[stack.server.workdir]
    )
    assert not hidden_ok and "FileNotFoundError" in hidden, hidden  # another machine: no such path
    user_ok, denied = remote_client.probe_read(stack.server.artifacts_dir, stack.workdir / "client")
    assert not user_ok and "PermissionError" in denied, denied  # and another user even without the namespace


def test_the_seeds_literal_log_model_fails_on_mlflow_3_15_for_tree_models(stack, happy_run):
    """Why client_example.py passes skops_trusted_types: the seed's exact call is refused client-side."""
    run = remote_client.run_example(
        stack.workdir / "client-literal",
        stack.outpost.url,
        experiment="seed-literal",
        model_name="SeedLiteral",
        hide=[stack.server.workdir],
        extra_args=["--seed-literal"],
        **stack.auth_basic(),
    )
    failed = run.failed_step()
    assert failed and failed["step"] == "log_model", _explain(run)
    assert "untrusted types" in failed["error"] and "sklearn.tree._tree.Tree" in failed["error"]


# --- the outpost stand-in, hosts and origins ------------------------------------------------
def _basic(stack):
    raw = f"{stack.auth_basic()['username']}:{stack.auth_basic()['password']}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_unauthenticated_requests_never_reach_mlflow(stack):
    before = stack.outpost.stats["forwarded"]
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"data-scientist:wrong").decode()},
                    {"Authorization": "Bearer not-a-token"}):  # fmt: skip
        status, headers_out, _ = request(stack.outpost.url + SEARCH + "?max_results=1", headers=headers)
        assert status == 302 and "/outpost.goauthentik.io/start" in headers_out["Location"]
    assert stack.outpost.stats["forwarded"] == before
    status, _, _ = request(stack.outpost.url + SEARCH + "?max_results=1", headers={"Authorization": _basic(stack)})
    assert status == 200
    bearer = {"Authorization": f"Bearer {stack.bearer_token}"}
    assert request(stack.outpost.url + SEARCH + "?max_results=1", headers=bearer)[0] == 200


def test_unexpected_host_is_refused_while_in_cluster_names_pass(stack):
    url = stack.server.url + SEARCH + "?max_results=1"
    status, _, body = request(url, headers={"Host": "evil.example.com"})
    assert status == 403 and b"Invalid Host header" in body
    external = stack.input.provider["external_host"].split("://", 1)[1]
    for host in [external, *in_cluster_hosts(namespace=stack.input.namespace)]:
        assert request(url, headers={"Host": host})[0] == 200, host
    # kubelet probes use the pod IP: /health is exempt from the host check
    assert request(stack.server.url + "/health", headers={"Host": "10.42.0.17:5000"})[0] == 200


def test_ui_post_with_the_external_origin_passes_and_a_foreign_origin_is_refused(stack):
    origin = stack.input.provider["external_host"].rstrip("/")
    body = json.dumps({"max_results": 1}).encode()
    headers = {"Authorization": _basic(stack), "Content-Type": "application/json"}
    status, out, _ = request(
        stack.outpost.url + SEARCH, method="POST", data=body, headers={**headers, "Origin": origin}
    )
    assert status == 200
    assert out.get("access-control-allow-origin", out.get("Access-Control-Allow-Origin")) == origin
    status, _, _ = request(
        stack.outpost.url + SEARCH, method="POST", data=body, headers={**headers, "Origin": FOREIGN_ORIGIN}
    )
    assert status == 403


# --- audit log (docs/audit-log.md) -----------------------------------------------------------
AUDIT_FIELDS = {"time", "user", "client", "method", "path", "status", "duration_ms", "operation", "write"}


def _through_outpost(stack, user, path, body=None, method=None, headers=None):
    auth = stack.auth_basic(user)
    raw = base64.b64encode(f"{auth['username']}:{auth['password']}".encode()).decode()
    all_headers = {"Authorization": f"Basic {raw}", "Content-Type": "application/json", **(headers or {})}
    data = json.dumps(body).encode() if body is not None else None
    return request(stack.outpost.url + path, method=method or ("POST" if data else "GET"), data=data,
                   headers=all_headers)  # fmt: skip


@pytest.fixture(scope="module")
def audit_run(stack, happy_run):
    """After the reference example ran as user A: user B deletes its experiment, A sends a forged
    user header through the outpost, and a client that bypasses the outpost sends a request."""
    assert happy_run.result["ok"], _explain(happy_run)
    experiment_id = happy_run.result["experiment_id"]
    status, _, _ = _through_outpost(stack, OTHER_USER, "/api/2.0/mlflow/experiments/delete",
                                    {"experiment_id": experiment_id})  # fmt: skip
    assert status == 200
    forged = {"X-authentik-username": "mallory", "x-authentik-username": "mallory", "X-Authentik-Uid": "0"}
    status, _, _ = _through_outpost(stack, APP_USER, "/api/2.0/mlflow/experiments/create",
                                    {"name": "forged-header"}, headers=forged)  # fmt: skip
    assert status == 200
    # In the cluster only the outpost reaches MLflow (NetworkPolicy); this is a port-forward.
    bypass_status, _, _ = request(stack.server.url + SEARCH + "?max_results=1")
    assert bypass_status == 200
    # A route of MLflow's FastAPI app (OTLP trace ingestion), which the Flask app alone lacks.
    otel_status, _, _ = _through_outpost(stack, APP_USER, "/v1/traces", method="POST",
                                         headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    # Every proxied request has been answered; its line follows the response within moments.
    procs_deadline = time.monotonic() + 10
    while time.monotonic() < procs_deadline:
        lines = audit_lines(stack.server)
        if sum(1 for line in lines if line["user"]) >= stack.outpost.stats["forwarded"]:
            break
        time.sleep(0.2)
    return {"lines": audit_lines(stack.server), "experiment_id": experiment_id, "otel_status": otel_status}


def _writes(lines, operation, user=None):
    return [x for x in lines if x["operation"] == operation and x["write"] and (user is None or x["user"] == user)]


def test_audit_server_runs_the_audit_plugin_with_every_route(stack, audit_run):
    argv = stack.server.argv
    assert "--app-name=audit" in argv, argv
    assert not any(a.startswith("--gunicorn-opts") for a in argv), "the server must stay on uvicorn"
    assert stack.server.env["PYTHONPATH"].startswith(str(stack.server.workdir)), stack.server.env["PYTHONPATH"]
    # OTLP ingestion is a FastAPI route (mlflow/server/otel_api.py): it answers, it is not a 404.
    assert audit_run["otel_status"] != 404
    assert any(x["path"] == "/v1/traces" and x["status"] == audit_run["otel_status"] for x in audit_run["lines"])


def test_audit_one_structured_line_per_proxied_request(stack, audit_run):
    lines = audit_run["lines"]
    assert lines, stack.server.log_text()[-3000:]
    assert all(AUDIT_FIELDS <= line.keys() for line in lines), lines[0]
    proxied = [x for x in lines if x["user"]]
    assert len(proxied) == stack.outpost.stats["forwarded"], (len(proxied), stack.outpost.stats)
    assert all(isinstance(x["status"], int) and x["duration_ms"] >= 0 for x in lines)
    # The outpost appends the address that connected to it to X-Forwarded-For: that is the client.
    assert all(x["client"] == x["forwarded_for"][-1] == "127.0.0.1" for x in proxied)
    # uvicorn's own access line is off (UVICORN_ACCESS_LOG=false): one line per request.
    assert ' - "GET /health HTTP/1.1"' not in stack.server.log_text()


def test_audit_names_user_a_for_the_run_and_model_version(happy_run, audit_run):
    lines, experiment_id = audit_run["lines"], audit_run["experiment_id"]
    [create_run] = [x for x in _writes(lines, "runs/create") if x["target"].get("experiment_id") == experiment_id]
    assert create_run["user"] == APP_USER and create_run["status"] == 200
    logged = _writes(lines, "runs/log-parameter") + _writes(lines, "runs/log-metric") + _writes(lines, "runs/log-batch")
    assert logged and {x["user"] for x in logged} == {APP_USER}
    [version] = _writes(lines, "model-versions/create")
    assert version["user"] == APP_USER and version["target"]["name"] == "MyModel"
    assert version["target"]["run_id"]
    [alias] = _writes(lines, "registered-models/alias")
    assert alias["user"] == APP_USER and alias["target"]["alias"] and alias["target"]["name"] == "MyModel"
    uploads = [x for x in lines if x["operation"] == "artifacts" and x["method"] == "PUT"]
    assert uploads and {x["user"] for x in uploads} == {APP_USER}
    assert any(x["target"]["artifact_path"].endswith("MLmodel") for x in uploads)


def test_audit_names_user_b_for_the_delete(audit_run):
    [delete] = _writes(audit_run["lines"], "experiments/delete")
    assert delete["user"] == OTHER_USER and delete["status"] == 200
    assert delete["target"] == {"experiment_id": audit_run["experiment_id"]}


def test_audit_a_forged_user_header_through_the_outpost_is_logged_as_the_real_user(audit_run):
    [forged] = [
        x for x in _writes(audit_run["lines"], "experiments/create") if x["target"].get("name") == "forged-header"
    ]
    assert forged["user"] == APP_USER
    assert not any(x["user"] == "mallory" for x in audit_run["lines"])


def test_audit_a_request_bypassing_the_outpost_has_no_user(stack, audit_run):
    direct = [x for x in audit_run["lines"] if x["path"] == SEARCH and not x["forwarded_for"]]
    assert direct and all(x["user"] is None for x in direct)
    # kubelet-style probes do not pass the outpost either
    assert all(x["user"] is None for x in audit_run["lines"] if x["path"] == "/health")


def test_audit_counter_for_the_delete_alert(stack, audit_run):
    status, _, body = request(stack.server.url + "/metrics")
    assert status == 200
    text = body.decode()
    wanted = 'mlflow_audit_writes_total{method="POST",operation="experiments/delete",status="200"} 1.0'
    assert wanted in text, [line for line in text.splitlines() if "mlflow_audit" in line]


# --- capacity -----------------------------------------------------------------------------
def test_server_memory_stays_under_75_percent_of_the_limit(stack, happy_run):
    limit = pod.memory_limit_bytes(stack.server.container)
    assert limit, "the Helm values set no resources.limits.memory"
    rss, pss = stack.server.peak_rss, stack.server.peak_pss
    TIMINGS["server_peak_rss_mib"] = round(rss / 2**20)
    TIMINGS["server_peak_pss_mib"] = round(pss / 2**20)
    TIMINGS["memory_limit_mib"] = round(limit / 2**20)
    TIMINGS["server_settings"] = {
        "workers": next((a for a in stack.server.argv if a.startswith("--workers")), "default (4)"),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": stack.server.env.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION"),
    }
    assert rss > 0 and pss > 0
    # The pod's memory limit charges each page once; summed RSS counts the pages the forked
    # workers share once per worker, PSS splits them. So PSS is the footprint the limit sees.
    assert pss < 0.75 * limit, (
        f"peak PSS {pss / 2**20:.0f} MiB (RSS {rss / 2**20:.0f} MiB) >= 75% of the {limit / 2**20:.0f} MiB limit"
    )


def test_peak_postgres_connections_stay_under_max_connections(stack, happy_run):
    peak = stack.pg.peak_connections["total"]
    max_connections = int(stack.input.pg_parameters["max_connections"])
    TIMINGS["pg_peak_connections"] = peak
    extra_env = stack.input.values.get("extraEnvVars") or {}
    workers = int((stack.input.values.get("extraArgs") or {}).get("workers", 4))
    per_worker = int(extra_env.get("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE") or 5) + int(
        extra_env.get("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW") or 10
    )  # 0 or unset means SQLAlchemy's defaults, 5 + 10
    TIMINGS["pg_connection_budget"] = stack.input.values.get("replicaCount", 1) * workers * per_worker
    assert 0 < peak < max_connections


# --- the reference's defects, one test each --------------------------------------------
def test_defect_non_proxied_artifacts_break_remote_clients(stack, happy_run):
    """proxiedArtifactStorage false: the client is told to write to the server's path itself."""
    server = _defect_server(stack, "defect-nonproxied", artifactRoot={"proxiedArtifactStorage": False})
    outpost = stack.start_outpost(server.url)
    try:
        assert (
            f"--default-artifact-root={server.artifacts_dir}" in server.argv and "--serve-artifacts" not in server.argv
        )
        run = remote_client.run_example(
            stack.workdir / "client-nonproxied",
            outpost.url,
            experiment="defect-nonproxied",
            model_name="DefectNonProxied",
            hide=[server.workdir, stack.server.workdir],
            **stack.auth_basic(),
        )
        TIMINGS["defect_nonproxied_run_s"] = run.seconds
        assert run.result["experiment_artifact_location"].startswith(str(server.artifacts_dir))
        failed = run.failed_step()
        assert failed and failed["step"] == "log_model", _explain(run)
        assert "Permission denied" in failed["error"] or "PermissionError" in failed["error"], failed
        assert server.artifact_files() == [], "the server saw files it should never have received"
    finally:
        outpost.stop()
        server.stop()
    assert happy_run.result["ok"], "the fix (proxied artifacts) is proven by the happy path"


def test_defect_intercept_header_auth_false_refuses_the_sdk(stack, happy_run):
    """intercept_header_auth false: the SDK's app password is ignored, the outpost redirects to sign-in."""
    outpost = stack.start_outpost(stack.server.url, provider={**stack.input.provider, "intercept_header_auth": False})
    try:
        run = remote_client.run_example(
            stack.workdir / "client-nointercept",
            outpost.url,
            experiment="defect-nointercept",
            model_name="DefectNoIntercept",
            hide=[stack.server.workdir],
            **stack.auth_basic(),
        )
        TIMINGS["defect_nointercept_run_s"] = run.seconds
        failed = run.failed_step()
        assert failed and failed["step"] == "set_experiment", _explain(run)
        assert outpost.stats["forwarded"] == 0 and outpost.stats["redirected"] >= 1, outpost.stats
        bearer = {"Authorization": f"Bearer {stack.bearer_token}"}
        assert request(outpost.url + SEARCH + "?max_results=1", headers=bearer)[0] == 302
    finally:
        outpost.stop()
    assert stack.input.provider["intercept_header_auth"] is True
    assert happy_run.result["ok"], "the fix (intercept_header_auth true) is proven by the happy path"


def test_defect_allowed_hosts_external_only_refuses_the_outpost(stack, happy_run):
    """serverAllowedHosts = the external name only: the outpost's in-cluster Host gets 403."""
    external = stack.input.provider["external_host"].split("://", 1)[1]
    server = _defect_server(stack, "defect-hosts", serverAllowedHosts=[external])
    outpost = stack.start_outpost(server.url)
    try:
        assert server.env["MLFLOW_SERVER_ALLOWED_HOSTS"] == external
        run = remote_client.run_example(
            stack.workdir / "client-hosts",
            outpost.url,
            experiment="defect-hosts",
            model_name="DefectHosts",
            hide=[server.workdir, stack.server.workdir],
            **stack.auth_basic(),
        )
        TIMINGS["defect_hosts_run_s"] = run.seconds
        failed = run.failed_step()
        assert failed and failed["step"] == "set_experiment", _explain(run)
        assert outpost.stats["upstream_status"].get(403, 0) >= 1, outpost.stats
        internal = stack.input.provider["internal_host"].split("://", 1)[1]
        assert request(server.url + SEARCH + "?max_results=1", headers={"Host": internal})[0] == 403
        assert request(server.url + SEARCH + "?max_results=1", headers={"Host": external})[0] == 200
    finally:
        outpost.stop()
        server.stop()
    assert happy_run.result["ok"], "the fix (in-cluster names allowed) is proven by the happy path"


# --- status.yml with everything running (what make demo leaves) ------------------------------
def test_status_reports_every_part_ok_with_mlflow_and_the_outpost_running(stack, converged_site):
    """The converge and the harness's processes, as `make demo` leaves them: the emulator's
    Gateway controller accepts the outpost's route, and its Service proxy reaches the real MLflow
    through the endpoints the harness registers (the same call `python -m tests.harness up` makes)."""
    outpost = stack.outpost or stack.start_outpost(stack.server.url)
    registered = register_endpoints(converged_site.kubeconfig, stack.input, stack.server.url, outpost.url)
    try:
        assert {(e["namespace"], e["name"]) for e in registered} == {
            ("mlflow", "mlflow"),
            ("authentik", "ak-outpost-mlflow-outpost"),
        }
        (workdir := stack.workdir / "status").mkdir(exist_ok=True)
        site = Site(converged_site.emulator, workdir, converged_site.extra_vars, converged_site.secret_values)
        run, status, rows = run_status(site)
        assert run.rc == 0, run.output[-3000:]
        assert status["healthy"], status["unhealthy"]
        assert list(rows) == STATUS_PARTS
        assert all(state == "ok" for state, _ in rows.values()), rows
        assert rows["MLflow /health via Service"][1].startswith("200 OK"), rows
        assert rows["HTTPRoute authentik/ak-outpost-mlflow-outpost"][1] == "Accepted by main-gateway"
        assert_no_secrets(run.output, converged_site.secret_values)
        TIMINGS["status_table"] = status["table"]
    finally:
        endpoints.unregister(converged_site.kubeconfig, registered)


def test_report_timings(stack, happy_run, record_property):
    """Not an assertion on speed: records how long each part took to become ready."""
    TIMINGS["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    TIMINGS["input_source"] = stack.input.source
    TIMINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS_FILE.write_text(json.dumps(TIMINGS, indent=2, default=str) + "\n")
    record_property("readiness", json.dumps(TIMINGS, default=str))
    print(json.dumps(TIMINGS, indent=2, default=str))
