"""playbooks/teardown.yml on a copy of the converged site (issue 8, Safe teardown).

The tests run in order on one copy: a refused purge, check mode, the teardown that keeps the
data, then the confirmed purge.
"""

import pytest
import yaml

from tests.integration.day2_support import Site, clone_cluster, deletes, object_keys, writes
from tests.integration.registered_results import run_with_results
from tests.kube_emulator.store import Selector
from tests.support import paths
from tests.support.ansible_run import assert_no_secrets

pytestmark = pytest.mark.slow

NS = "mlflow"
PG_PVC = ("PersistentVolumeClaim", NS, "mlflow-postgres-1")
ARTIFACTS_PVC = ("PersistentVolumeClaim", NS, "mlflow-artifacts-pvc")
SECRET = ("Secret", NS, "mlflow-secrets")
BLUEPRINT = ("ConfigMap", NS, "authentik-blueprint-mlflow")
CLUSTER = ("Cluster", NS, "mlflow-postgres")
# What the roles made beside the release and the Cluster (the converged site has no backups and one replica).
COMPANIONS = {
    ("PodMonitor", NS, "mlflow-postgres"),
    ("NetworkPolicy", NS, "mlflow-postgres"),
    ("NetworkPolicy", NS, "mlflow"),
    ("ConfigMap", NS, "mlflow-audit"),
    # The audit log's delete alert, beside the ServiceMonitor (where the PrometheusRule API exists).
    ("PrometheusRule", "prometheus-system", "mlflow-audit"),
}
PROMETHEUS_RULE_CRD = paths.REPO_ROOT / "tests/fixtures/crds/monitoring.coreos.com_prometheusrules.yaml"

DATA = {PG_PVC, ARTIFACTS_PVC, SECRET}
READ = "apocrathia.mlflow.k8s_objects_info"
# Teardown reads through READ only, in one call.
OTHER_READS = ("kubernetes.core.k8s_info", "kubernetes.core.helm_info")


def run_teardown(site, **kwargs):
    """Run teardown.yml; return the run, the registered result of its one read, and the plan it printed."""
    run, results = run_with_results(site, "teardown.yml", (READ, "ansible.builtin.debug") + OTHER_READS, **kwargs)
    assert all(results[action] == [] for action in OTHER_READS), results
    assert len(results[READ]) == 1, results[READ]
    plans = [d["msg"] for d in results["ansible.builtin.debug"] if d["msg"].startswith(("Removing:", "Check mode:"))]
    return run, results[READ][0], plans[0]


@pytest.fixture(scope="module")
def site(converged_site, tmp_path_factory):
    emulator = clone_cluster(converged_site.emulator)
    # The converged site has no PrometheusRule API; with it, site.yml adds the audit rule
    # (test_day2_lifecycle.py). Here it is made directly, as site.yml would leave it.
    emulator.create(yaml.safe_load(PROMETHEUS_RULE_CRD.read_text()))
    emulator.create(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "mlflow-audit", "namespace": "prometheus-system"},
            "spec": {
                "groups": [{"name": "mlflow-audit", "rules": [{"alert": "MLflowDeleteBurst", "expr": "vector(1)"}]}]
            },
        }
    )
    try:
        yield Site(
            emulator, tmp_path_factory.mktemp("teardown"), converged_site.extra_vars, converged_site.secret_values
        )
    finally:
        emulator.stop()


def removable(emulator):
    """What teardown may remove: the release's objects and Helm's release records, the blueprint,
    the Cluster, and whatever those own (ReplicaSets, pods, CNPG's services and secrets)."""
    objects = []
    for rt in emulator.store._storage_types():
        if rt.kind not in ("CustomResourceDefinition", "StorageClass"):
            objects += emulator.store.list(rt, Selector(None))[0]
    roots = set()
    for obj in objects:
        meta = obj["metadata"]
        annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
        key = (obj["kind"], meta.get("namespace"), meta["name"])
        if annotations.get("meta.helm.sh/release-name") == "mlflow" or (labels.get("owner"), labels.get("name")) == (
            "helm",
            "mlflow",
        ):
            roots.add(meta["uid"])
        if key in (BLUEPRINT, CLUSTER, ("ScheduledBackup", NS, "mlflow-postgres")) or key in COMPANIONS:
            roots.add(meta["uid"])
    allowed, grew = set(roots), True
    while grew:
        grew = False
        for obj in objects:
            refs = obj["metadata"].get("ownerReferences") or []
            if obj["metadata"]["uid"] not in allowed and any(r["uid"] in allowed for r in refs):
                allowed.add(obj["metadata"]["uid"])
                grew = True
    return {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in objects
        if o["metadata"]["uid"] in allowed
    }


@pytest.mark.parametrize("confirmation", [None, "default"], ids=["missing", "wrong"])
def test_purge_without_the_namespace_as_confirmation_is_refused_before_any_request(site, confirmation):
    site.emulator.reset_requests()
    extra = {"purge_data": True} | ({"teardown_confirm_namespace": confirmation} if confirmation else {})
    run, results = run_with_results(site, "teardown.yml", ("ansible.builtin.fail",), extra_vars=extra, verbosity=1)
    assert run.rc != 0
    (failure,) = results["ansible.builtin.fail"]
    assert "To confirm, also set teardown_confirm_namespace=mlflow" in failure["msg"]
    assert failure["msg"].endswith("Nothing was removed.")
    assert site.emulator.requests == []


def test_check_mode_shows_what_would_be_removed_and_removes_nothing(site):
    before = object_keys(site.emulator)
    site.emulator.reset_requests()
    run, read, plan = run_teardown(site, check=True, diff=True, verbosity=3)
    assert run.rc == 0, run.output[-3000:]
    # The one read found the objects by kind, metadata only.
    assert [o["metadata"]["name"] for o in read["found"]["pg_pvcs"]] == ["mlflow-postgres-1"]
    assert {o["metadata"]["labels"]["owner"] for o in read["found"]["release"]} == {"helm"}
    assert all(set(o) <= {"apiVersion", "kind", "metadata"} for objs in read["found"].values() for o in objs)
    removed, kept = plan.split("Check mode: would remove:", 1)[1].split("Would keep:", 1)
    for line in (
        "Helm release mlflow/mlflow",
        "ConfigMap mlflow/authentik-blueprint-mlflow",
        "Cluster mlflow/mlflow-postgres",
        "PodMonitor mlflow/mlflow-postgres",
        "NetworkPolicy mlflow/mlflow-postgres",
        "NetworkPolicy mlflow/mlflow",
        "ConfigMap mlflow/mlflow-audit",
        "PrometheusRule prometheus-system/mlflow-audit",
    ):
        assert line in removed
    for line in (
        "mlflow/mlflow-postgres-1 (PostgreSQL data)",
        "mlflow/mlflow-artifacts-pvc",
        "Secret mlflow/mlflow-secrets",
    ):
        assert line in kept and line not in removed
    assert "Check mode: nothing was removed." in run.output
    assert object_keys(site.emulator) == before
    assert writes(site.emulator) == []
    assert_no_secrets(run.output, site.secrets)


def test_teardown_removes_release_blueprint_and_cluster_and_keeps_the_data(site):
    # A backup schedule and a backup it took (owned by it, as with backupOwnerReference: self):
    # the schedule goes, the backup stays.
    schedule = site.emulator.create(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "ScheduledBackup",
            "metadata": {"name": "mlflow-postgres", "namespace": NS},
            "spec": {
                "schedule": "0 0 3 * * *",
                "cluster": {"name": "mlflow-postgres"},
                "method": "volumeSnapshot",
                "backupOwnerReference": "self",
            },
        }
    )
    owner = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup", "name": "mlflow-postgres"}
    site.emulator.create(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Backup",
            "metadata": {
                "name": "mlflow-postgres-20261126030000",
                "namespace": NS,
                "ownerReferences": [{**owner, "uid": schedule["metadata"]["uid"]}],
            },
            "spec": {"cluster": {"name": "mlflow-postgres"}, "method": "volumeSnapshot"},
        }
    )
    before = object_keys(site.emulator)
    allowed = removable(site.emulator)
    pg_pvc_uid = site.emulator.get("v1", "PersistentVolumeClaim", PG_PVC[2], NS)["metadata"]["uid"]
    run, _, plan = run_teardown(site, verbosity=3)
    assert run.rc == 0, run.output[-3000:]
    assert plan.startswith("Removing:\n  - Helm release mlflow/mlflow\n")
    after = object_keys(site.emulator)
    gone = before - after
    assert {BLUEPRINT, CLUSTER, ("Deployment", NS, "mlflow"), ("Service", NS, "mlflow-postgres-rw")} <= gone
    assert COMPANIONS | {("ScheduledBackup", NS, "mlflow-postgres")} <= gone
    backup = site.emulator.get("postgresql.cnpg.io/v1", "Backup", "mlflow-postgres-20261126030000", NS)
    assert backup is not None, "the Backup went with its ScheduledBackup"
    assert not any(k[0] == "Secret" and k[2].startswith("sh.helm.release.v1.mlflow.") for k in after)
    assert gone <= allowed, f"removed objects teardown does not own: {sorted(gone - allowed)}"
    assert DATA <= after
    # the same volume, no longer owned by the Cluster
    pvc = site.emulator.get("v1", "PersistentVolumeClaim", PG_PVC[2], NS)
    assert pvc["metadata"]["uid"] == pg_pvc_uid and not pvc["metadata"].get("ownerReferences")
    assert ("Namespace", None, NS) in after
    assert ("Deployment", "authentik", "ak-outpost-mlflow-outpost") in after
    assert_no_secrets(run.output, site.secrets)


def test_purge_with_confirmation_deletes_the_data_and_nothing_else(site):
    # The object store credentials the roles copy from 1Password (barman backups, artifacts in a
    # bucket) go with the data; the converged site has none, so they are made here as the roles would.
    credentials = {
        "mlflow-postgres-backup-credentials": "barman-key-Y6Qe",
        "mlflow-artifacts-credentials": "s3-key-Pn7w",
    }
    for name, value in credentials.items():
        site.emulator.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": NS},
                "stringData": {"KEY": value},
            }
        )
    before = object_keys(site.emulator)
    site.emulator.reset_requests()
    run, _, plan = run_teardown(site, extra_vars={"purge_data": True, "teardown_confirm_namespace": NS}, verbosity=3)
    assert run.rc == 0, run.output[-3000:]
    assert "Secret mlflow/mlflow-postgres-backup-credentials" in plan.split("Keeping:")[0]
    assert before - object_keys(site.emulator) == DATA | {("Secret", NS, name) for name in credentials}
    assert sorted((r.resource, r.name) for r in deletes(site.emulator)) == [
        ("persistentvolumeclaims", "mlflow-artifacts-pvc"),
        ("persistentvolumeclaims", "mlflow-postgres-1"),
        ("secrets", "mlflow-artifacts-credentials"),
        ("secrets", "mlflow-postgres-backup-credentials"),
        ("secrets", "mlflow-secrets"),
    ]
    assert_no_secrets(run.output, list(credentials.values()))
    assert ("Namespace", None, NS) in object_keys(site.emulator)
    assert_no_secrets(run.output, site.secrets)
