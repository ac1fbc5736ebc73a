"""playbooks/status.yml on a copy of the converged site (issue 8, Status).

The copy is taken from `converged_site` in milliseconds, so the shared converge stays untouched.
What the emulator does not run is added the way a real cluster would add it, and only where a
test says so: CloudNativePG's instance pods, the Gateway controller's Accepted condition (the
copy runs without the emulator's Gateway controller, and starts with the routes' status
cleared), and a stand-in for MLflow's /health registered as the mlflow Service's endpoint with
the emulator's Service proxy (tests/integration/day2_support.py). The status of a converge with
everything running, the emulator's Gateway controller and a real MLflow behind the Service proxy
included, is proven in test_real_clients.py.
"""

import pytest

from tests.integration.conftest import start_emulator
from tests.integration.day2_support import Site, accept_routes, clone_cluster, mlflow_endpoint, run_pods, writes
from tests.integration.registered_results import run_with_results
from tests.support.ansible_run import assert_no_secrets
from tests.support.reference import STATUS_PARTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def status_site(converged_site, tmp_path_factory):
    emulator = clone_cluster(converged_site.emulator)
    for route in emulator.list("gateway.networking.k8s.io/v1", "HTTPRoute"):
        meta = route["metadata"]
        emulator.patch_status("gateway.networking.k8s.io/v1", "HTTPRoute", meta["name"], meta["namespace"],
                              {"parents": []})  # fmt: skip
    try:
        with mlflow_endpoint(emulator):
            yield Site(
                emulator, tmp_path_factory.mktemp("status"), converged_site.extra_vars, converged_site.secret_values
            )
    finally:
        emulator.stop()


STATUS = "apocrathia.mlflow.mlflow_status_info"
# Modules that read the cluster: status reads it through STATUS only, in one module run.
OTHER_READS = (
    "kubernetes.core.k8s_info",
    "kubernetes.core.helm_info",
    "apocrathia.mlflow.k8s_objects_info",
    "apocrathia.mlflow.cnpg_cluster_wait",
    "apocrathia.mlflow.service_proxy_info",
)


def run_status(site, **kwargs):
    """Run status.yml; return the run and {part: (state, detail)} from the registered result of
    its one read, after checking that the playbook printed exactly that table and failed with
    exactly its unhealthy parts."""
    run, results = run_with_results(
        site, "status.yml", (STATUS, "ansible.builtin.debug", "ansible.builtin.fail") + OTHER_READS, **kwargs
    )
    assert all(results[action] == [] for action in OTHER_READS), results
    (status,) = results[STATUS]
    assert [d["msg"] for d in results["ansible.builtin.debug"]] == [status["table"]]
    if status["healthy"]:
        assert results["ansible.builtin.fail"] == []
    else:
        message = "MLflow is not healthy. Unhealthy: " + "; ".join(status["unhealthy"]) + "."
        assert [f["msg"] for f in results["ansible.builtin.fail"]] == [message]
    rows = {row["part"]: ("ok" if row["ok"] else "FAIL", row["detail"]) for row in status["parts"]}
    return run, status, rows


def test_status_fails_and_lists_what_is_unhealthy(status_site):
    """Without a Gateway controller (and, in older versions, without CNPG instance pods): status fails, names exactly those parts, and reports the rest healthy."""
    emu = status_site.emulator
    pg_pods = [p for p in emu.list("v1", "Pod", "mlflow") if "cnpg.io/cluster" in p["metadata"].get("labels", {})]
    expected = ["HTTPRoute authentik/ak-outpost-mlflow-outpost"] + ([] if pg_pods else ["PostgreSQL pods"])
    emu.reset_requests()
    run, status, rows = run_status(status_site, verbosity=3)
    assert run.rc != 0, run.output[-3000:]
    assert list(rows) == STATUS_PARTS
    failing = sorted(part for part, (state, _) in rows.items() if state == "FAIL")
    assert failing == sorted(expected)
    assert "not Accepted by any Gateway" in rows["HTTPRoute authentik/ak-outpost-mlflow-outpost"][1]
    assert rows["Secret mlflow/mlflow-secrets"][1] == "type kubernetes.io/basic-auth, keys password, username"
    assert rows["CNPG Cluster mlflow/mlflow-postgres"][1].startswith('phase "Cluster in healthy state", 1/1')
    assert rows["Helm release mlflow/mlflow"][1].startswith("deployed, revision 1")
    assert rows["MLflow /health via Service"][1].startswith("200 OK")
    assert [line.split(": ", 1)[0] for line in status["unhealthy"]] == [p for p in STATUS_PARTS if p in expected]
    # read-only, and the Secret's values never appear, not even at -vvv
    assert writes(status_site.emulator) == []
    assert_no_secrets(run.output, status_site.secrets)


def test_status_passes_in_check_mode_when_everything_is_healthy(status_site):
    run_pods(status_site.emulator)
    accept_routes(status_site.emulator)
    status_site.emulator.reset_requests()
    run, status, rows = run_status(status_site, verbosity=3, check=True)
    assert run.rc == 0, run.output[-3000:]
    assert list(rows) == STATUS_PARTS
    assert all(state == "ok" for state, _ in rows.values()), rows
    assert rows["PostgreSQL pods"][1].startswith("1 of 1 pod(s) ready")
    assert rows["HTTPRoute authentik/ak-outpost-mlflow-outpost"][1] == "Accepted by main-gateway"
    health = [r for r in status_site.emulator.requests if "/proxy/" in r.path]
    assert [r.path for r in health] == ["/api/v1/namespaces/mlflow/services/http:mlflow:80/proxy/health"]
    assert writes(status_site.emulator) == []
    assert_no_secrets(run.output, status_site.secrets)


def test_status_on_a_cluster_without_mlflow_reports_every_part_missing(status_site, tmp_path):
    """Nothing deployed (the platform only): every lookup comes back empty, and the report still
    prints, fails, and names each part, without an error of its own."""
    emulator = start_emulator()
    try:
        site = Site(emulator, tmp_path, status_site.extra_vars, status_site.secrets)
        run, status, rows = run_status(site, verbosity=1)
        assert run.rc != 0, run.output[-3000:]
        assert list(rows) == STATUS_PARTS
        assert all(state == "FAIL" for state, _ in rows.values()), rows
        assert rows["Secret mlflow/mlflow-secrets"][1] == "missing"
        assert rows["Helm release mlflow/mlflow"][1] == "not installed"
        assert rows["authentik outpost pods"][1].endswith("missing (authentik has not deployed the outpost)")
        assert status["unhealthy"][0] == "Secret mlflow/mlflow-secrets: missing"
        assert writes(emulator) == []
    finally:
        emulator.stop()
