"""Day-2 lifecycle on the emulator (issue 8): network policies, the scale-out guards, credential
rotation, upgrades that roll back, refused irreversible changes, backups and object storage.

Each scenario runs site.yml once more on its own copy of the session's converged cluster
(`converged_site`, cloned in milliseconds by day2_support.clone_cluster), with changed
variables. Every run is at -vvv, and its output is scanned for the secret values in play.
"""

import base64
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import real_writes, secret_strings
from tests.integration.day2_support import Site, clone_cluster
from tests.support import network_policy, paths
from tests.support.ansible_run import assert_no_secrets
from tests.support.schemas import validate_k8s_object
from tests.unit.fakes.onepassword_sdk import fake_service_account_token, out_of_process_env, vault_account

pytestmark = pytest.mark.slow
NS = "mlflow"
CNPG = "postgresql.cnpg.io/v1"
TOKEN = fake_service_account_token("day2")
ROTATED_PASSWORD = "R0tated-in-1Password-" + "x7Kq93LmZp"
S3_KEY_ID = "AKIADAY2ARTIFACTS0001"
S3_SECRET = "s3-Secret-Access-Key-from-1Password-42"
BARMAN_KEY_ID = "AKIADAY2BARMAN000002"
BARMAN_SECRET = "barman-Secret-Access-Key-from-1Password-43"
# The external-snapshotter's VolumeSnapshotClass API (not in ../shared/schemas: a minimal CRD).
SNAPSHOT_CLASS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "volumesnapshotclasses.snapshot.storage.k8s.io"},
    "spec": {
        "group": "snapshot.storage.k8s.io",
        "scope": "Cluster",
        "names": {"plural": "volumesnapshotclasses", "singular": "volumesnapshotclass", "kind": "VolumeSnapshotClass"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["driver", "deletionPolicy"],
                        "properties": {
                            "driver": {"type": "string"},
                            "deletionPolicy": {"type": "string", "enum": ["Delete", "Retain"]},
                            "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    }
                },
            }
        ],
    },
}
LONGHORN_SNAPSHOT_CLASS = {
    "apiVersion": "snapshot.storage.k8s.io/v1",
    "kind": "VolumeSnapshotClass",
    "metadata": {"name": "longhorn-snapshot-vsc"},
    "driver": "driver.longhorn.io",
    "deletionPolicy": "Delete",
    "parameters": {"type": "snap"},
}


@pytest.fixture
def day2(converged_site):
    """A copy of the converged cluster, and site.yml with the converge's variables on it."""
    workdir = Path(tempfile.mkdtemp(prefix="day2-lifecycle-"))
    emulator = clone_cluster(converged_site.emulator)
    site = Site(emulator, workdir, converged_site.extra_vars, converged_site.secrets)
    site.playbook_run = lambda **kw: site.run("site.yml", **kw)
    try:
        yield site
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def onepassword_env(workdir, items):
    """A fake 1Password account (SDK boundary) with vault Secrets holding ``items``."""
    return {**out_of_process_env(workdir, vault_account(TOKEN, items)), "OP_SERVICE_ACCOUNT_TOKEN": TOKEN}


def flat(output):
    return " ".join(output.split())


def helm_releases(emulator, name="mlflow"):
    """Helm's release records, oldest first: [(revision, status, values)]."""
    out = []
    for secret in emulator.list("v1", "Secret", NS):
        labels = secret["metadata"].get("labels") or {}
        if labels.get("owner") == "helm" and labels.get("name") == name:
            raw = base64.b64decode(base64.b64decode(secret["data"]["release"]))
            release = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
            out.append((int(labels["version"]), labels["status"], release.get("config") or {}))
    return sorted(out, key=lambda r: r[0])


def password_status(emulator):
    cluster = emulator.get(CNPG, "Cluster", "mlflow-postgres", NS)
    return ((cluster.get("status") or {}).get("managedRolesStatus") or {}).get("passwordStatus", {}).get("mlflow")


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


# --- network policies (on by default: the session converge) ---------------------------------
def test_network_policies_are_on_by_default_and_admit_only_the_expected_peers(converged_site):
    emu = converged_site.emulator
    mlflow = emu.get("networking.k8s.io/v1", "NetworkPolicy", "mlflow", NS)
    assert mlflow is not None, "no NetworkPolicy for MLflow"
    assert mlflow["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "mlflow",
        "app.kubernetes.io/instance": "mlflow",
    }
    assert mlflow["spec"]["policyTypes"] == ["Ingress"]
    [rule] = mlflow["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5000}]
    # The policy selects the pods the chart runs.
    deployment = emu.get("apps/v1", "Deployment", "mlflow", NS)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert mlflow["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    # Only the outpost's pods (as authentik labelled the Deployment it made) and Prometheus get
    # in: the audit log's trust boundary (docs/audit-log.md). Everything else is kept out.
    outpost = emu.get("apps/v1", "Deployment", "ak-outpost-mlflow-outpost", "authentik")
    outpost_labels = outpost["spec"]["template"]["metadata"]["labels"]

    def reaches(namespace, labels, port=5000):
        return network_policy.admits(
            mlflow, target_labels=pod_labels, source_namespace=namespace, source_labels=labels, port=port
        )

    assert reaches("authentik", outpost_labels)
    assert reaches("prometheus-system", {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"})
    assert not reaches("authentik", outpost_labels, port=5432)
    kept_out = [
        ("authentik", {"app.kubernetes.io/name": "authentik", "app.kubernetes.io/component": "server"}),
        ("authentik", {**outpost_labels, "goauthentik.io/outpost-name": "another-outpost"}),
        ("mlflow", {"cnpg.io/cluster": "mlflow-postgres", "cnpg.io/instanceRole": "primary"}),
        ("mlflow", {"run": "debug-shell"}),
        ("prometheus-system", {"app.kubernetes.io/name": "grafana"}),
        ("default", {"goauthentik.io/outpost-name": "mlflow-outpost"}),
        ("default", {}),
    ]
    assert [peer for peer in kept_out if reaches(*peer)] == []

    pg = emu.get("networking.k8s.io/v1", "NetworkPolicy", "mlflow-postgres", NS)
    assert pg is not None, "no NetworkPolicy for PostgreSQL"
    assert pg["spec"]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "mlflow-postgres"}
    rules = pg["spec"]["ingress"]
    by_port = {}
    for rule in rules:
        for port in rule["ports"]:
            by_port.setdefault(port["port"], []).extend(rule["from"])
    # 5432: MLflow's pods and the instances themselves (replication, CNPG's jobs).
    assert {"podSelector": {"matchLabels": mlflow["spec"]["podSelector"]["matchLabels"]}} in by_port[5432]
    assert {"podSelector": {"matchLabels": {"cnpg.io/cluster": "mlflow-postgres"}}} in by_port[5432]
    assert len(by_port[5432]) == 2
    # 8000 (instance manager): the instances and the operator in cnpg-system.
    operator = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}},
    }
    assert operator in by_port[8000] and len(by_port[8000]) == 2
    # 9187 (metrics) only from the monitoring namespace.
    assert by_port[9187] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "prometheus-system"}}}
    ]
    assert set(by_port) == {5432, 8000, 9187}


# --- refused before anything changes ---------------------------------------------------------
# A credential a user put into the Helm values by mistake: refused, and never printed.
CLEAR_PASSWORD = "clear-text-db-password-7f3a"


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            {"mlflow_helm_replicas": 2},
            "mlflow_helm_replicas is 2, but the artifact volume is ReadWriteOnce (mlflow_helm_artifacts_pvc_access_modes)",
        ),
        (
            {"cnpg_cluster_image_name": "ghcr.io/cloudnative-pg/postgresql:19"},
            "runs PostgreSQL 18 and cnpg_cluster_image_name 'ghcr.io/cloudnative-pg/postgresql:19' is "
            "PostgreSQL 19: CloudNativePG would run an offline in-place major upgrade",
        ),
        (
            {
                "cnpg_cluster_image_name": "ghcr.io/cloudnative-pg/postgresql:16.4",
                "cnpg_cluster_allow_major_upgrade": True,
            },
            "PostgreSQL cannot go back to an older major version",
        ),
        (
            {"cnpg_cluster_storage_size": "10Gi"},
            "cnpg_cluster_storage_size 10Gi is smaller than the running Cluster's 20Gi",
        ),
        (
            {"mlflow_helm_values_extra": {"autoscaling": {"enabled": True, "maxReplicas": 10}}},
            "mlflow_helm_values_extra.autoscaling.maxReplicas is 10, but the artifact volume is ReadWriteOnce",
        ),
        (
            {"mlflow_helm_values_extra": {"backendStore": {"postgres": {"password": CLEAR_PASSWORD}}}},
            "mlflow_helm_values_extra.backendStore.postgres.password puts a credential into the Helm values",
        ),
    ],
    ids=[
        "replicas-on-rwo-volume",
        "major-upgrade",
        "major-downgrade",
        "storage-shrink",
        "autoscaling-on-rwo-volume",
        "password-in-helm-values",
    ],
)
def test_irreversible_or_unsafe_changes_are_refused_before_any_change(day2, extra_vars, message):
    day2.emulator.reset_requests()
    run = day2.playbook_run(extra_vars=extra_vars, verbosity=3)
    assert run.rc != 0, run.output[-3000:]
    assert message in flat(run.output), run.output[-4000:]
    assert real_writes(day2.emulator) == [], [(w.verb, w.path) for w in real_writes(day2.emulator)]
    assert_no_secrets(run.output, secret_strings(day2.secrets["password"], CLEAR_PASSWORD))


# --- the audit log's delete alert (docs/audit-log.md) ------------------------------------------
PROMETHEUS_RULE_CRD = paths.REPO_ROOT / "tests/fixtures/crds/monitoring.coreos.com_prometheusrules.yaml"


def test_audit_delete_alert_where_the_prometheus_rule_api_exists(day2):
    """The session converge has no PrometheusRule API, so no rule. With the CRD installed: the
    rule appears, next to the ServiceMonitor, on the audit counter; a re-run writes nothing;
    switched off, it is removed."""
    emu = day2.emulator
    assert emu.get("monitoring.coreos.com/v1", "ServiceMonitor", "mlflow", "prometheus-system")
    emu.create(yaml.safe_load(PROMETHEUS_RULE_CRD.read_text()))
    run = day2.playbook_run(verbosity=1)
    assert run.rc == 0, run.output[-6000:]
    rule = emu.get("monitoring.coreos.com/v1", "PrometheusRule", "mlflow-audit", "prometheus-system")
    assert rule is not None, run.output[-4000:]
    validate_k8s_object(rule, [PROMETHEUS_RULE_CRD])
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # the ServiceMonitor's labels
    [group] = rule["spec"]["groups"]
    [alert] = group["rules"]
    assert alert["alert"] == "MLflowDeleteBurst" and alert["labels"] == {"severity": "warning"}
    expr = " ".join(alert["expr"].split())
    # The counter and labels the middleware exports (tests/unit/test_mlflow_audit.py, and on a
    # real server in test_real_clients.py), MLflow's namespace, 20 deletes in 10 minutes.
    assert 'increase(mlflow_audit_writes_total{namespace="mlflow",status=~"2..",method="DELETE"}[10m])' in expr
    assert 'operation=~".*delete.*"' in expr and expr.endswith(") > 20")

    emu.reset_requests()
    again = day2.playbook_run(verbosity=1)
    assert again.rc == 0 and again.recap()["changed"] == 0, again.output[-4000:]
    assert real_writes(emu) == [], [(w.verb, w.path) for w in real_writes(emu)]

    off = day2.playbook_run(extra_vars={"mlflow_helm_audit_alert_enabled": False}, verbosity=1)
    assert off.rc == 0, off.output[-4000:]
    assert emu.get("monitoring.coreos.com/v1", "PrometheusRule", "mlflow-audit", "prometheus-system") is None


# --- rotation, HA, switches, volume snapshot backups -----------------------------------------
def test_rotation_ha_allowed_upgrades_snapshots_and_policies_off(day2):
    """One re-run: the password changed in 1Password, three instances, an allowed major upgrade
    and storage shrink, volume snapshot backups on and both network policies off. Then a second
    run changes nothing."""
    emu = day2.emulator
    emu.create(SNAPSHOT_CLASS_CRD)
    emu.create(LONGHORN_SNAPSHOT_CLASS)
    old_password = day2.secrets["password"]
    env = onepassword_env(
        day2.workdir,
        [{"title": "mlflow-secrets", "version": 2, "fields": [["username", "mlflow"], ["password", ROTATED_PASSWORD]]}],
    )
    assert wait_for(lambda: password_status(emu) is not None)
    status_before = password_status(emu)
    rollouts_before = emu.rollouts("mlflow", NS)
    extra_vars = {
        "mlflow_secrets_source": "onepassword",
        "mlflow_secrets_password": "",
        "cnpg_cluster_instances": 3,
        "cnpg_cluster_image_name": "ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie",
        "cnpg_cluster_storage_size": "10Gi",
        "cnpg_cluster_allow_storage_shrink": True,
        "cnpg_cluster_backup_method": "volume_snapshot",
        "cnpg_cluster_backup_volume_snapshot_class": "longhorn-snapshot-vsc",
        "mlflow_helm_network_policy_enabled": False,
        "cnpg_cluster_network_policy_enabled": False,
    }
    started = time.monotonic()
    run = day2.playbook_run(extra_vars=extra_vars, env=env, verbosity=3)
    assert run.rc == 0, run.output[-6000:]
    print(f"rotation run: {time.monotonic() - started:.0f}s")

    # The Secret holds the new password; CloudNativePG applied it to the role; MLflow restarted.
    secret = emu.get("v1", "Secret", "mlflow-secrets", NS)
    assert base64.b64decode(secret["data"]["password"]).decode() == ROTATED_PASSWORD
    assert secret["metadata"]["annotations"]["apocrathia.mlflow/onepassword-item-version"] == "2"
    assert wait_for(lambda: password_status(emu) != status_before)
    status_after = password_status(emu)
    assert status_after["resourceVersion"] == secret["metadata"]["resourceVersion"]
    assert status_after["transactionID"] > status_before["transactionID"]
    assert emu.rollouts("mlflow", NS) > rollouts_before
    deployment = emu.get("apps/v1", "Deployment", "mlflow", NS)
    assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/db-secret"]

    # HA: cnpg_cluster_wait waited for three ready instances.
    cluster = emu.get(CNPG, "Cluster", "mlflow-postgres", NS)
    assert cluster["spec"]["instances"] == 3
    assert cluster["status"]["readyInstances"] == 3 and cluster["status"]["instances"] == 3
    assert cluster["spec"]["imageName"] == "ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie"
    assert cluster["spec"]["storage"]["size"] == "10Gi"
    assert "existing volumes keep their size" in flat(run.output)

    # Volume snapshot backups (validated by the emulator against the real CNPG CRDs).
    snapshot = cluster["spec"]["backup"]["volumeSnapshot"]
    assert snapshot["className"] == "longhorn-snapshot-vsc" and snapshot["snapshotOwnerReference"] == "backup"
    assert "barmanObjectStore" not in cluster["spec"]["backup"]
    scheduled = emu.get(CNPG, "ScheduledBackup", "mlflow-postgres", NS)
    assert scheduled["spec"]["method"] == "volumeSnapshot"
    assert scheduled["spec"]["cluster"] == {"name": "mlflow-postgres"}
    assert scheduled["spec"]["schedule"] == "0 0 3 * * *"
    assert scheduled["spec"]["backupOwnerReference"] == "self"

    # Both policies switched off: removed.
    assert emu.get("networking.k8s.io/v1", "NetworkPolicy", "mlflow", NS) is None
    assert emu.get("networking.k8s.io/v1", "NetworkPolicy", "mlflow-postgres", NS) is None

    leaks = [TOKEN, *secret_strings(ROTATED_PASSWORD, old_password)]
    assert_no_secrets(run.output, leaks)

    emu.reset_requests()
    again = day2.playbook_run(extra_vars=extra_vars, env=env, verbosity=3)
    assert again.rc == 0, again.output[-4000:]
    assert again.recap()["changed"] == 0, again.output[-4000:]
    assert real_writes(emu) == [], [(w.verb, w.path) for w in real_writes(emu)]
    assert_no_secrets(again.output, leaks)

    # Backups switched off: the schedule goes, a backup it took (owned by it, backupOwnerReference
    # self) stays, and so does its snapshot's owner chain.
    emu.create(
        {
            "apiVersion": CNPG,
            "kind": "Backup",
            "metadata": {
                "name": "mlflow-postgres-20261126030000",
                "namespace": NS,
                "ownerReferences": [
                    {
                        "apiVersion": CNPG,
                        "kind": "ScheduledBackup",
                        "name": "mlflow-postgres",
                        "uid": scheduled["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"cluster": {"name": "mlflow-postgres"}, "method": "volumeSnapshot"},
        }
    )
    off = day2.playbook_run(extra_vars={**extra_vars, "cnpg_cluster_backup_method": "none"}, env=env, verbosity=0)
    assert off.rc == 0, off.output[-4000:]
    assert emu.get(CNPG, "ScheduledBackup", "mlflow-postgres", NS) is None
    assert emu.get(CNPG, "Backup", "mlflow-postgres-20261126030000", NS) is not None


# --- a failed upgrade rolls back ---------------------------------------------------------------
def test_a_failed_helm_upgrade_is_rolled_back_and_the_play_says_so(day2):
    """A value the chart's schema accepts but the API server refuses (a ServiceMonitor interval
    that does not match the CRD's pattern): Helm's upgrade fails, --atomic restores the previous
    revision, and the play fails naming it."""
    emu = day2.emulator
    before = helm_releases(emu)
    deployed_revision, _, deployed_values = [r for r in before if r[1] == "deployed"][-1]
    template_before = emu.get("apps/v1", "Deployment", "mlflow", NS)["spec"]["template"]
    run = day2.playbook_run(
        extra_vars={
            "mlflow_helm_pod_annotations": {"example.com/upgrade": "2"},
            "mlflow_helm_values_extra": {"serviceMonitor": {"interval": "every minute"}},
        },
        verbosity=3,
    )
    assert run.rc != 0, run.output[-3000:]
    text = flat(run.output)
    assert "Helm could not upgrade release mlflow/mlflow" in text, run.output[-4000:]
    assert f"The upgrade was rolled back: revision {deployed_revision} is still what runs." in text
    assert "rolled back" in text and "interval" in text

    after = helm_releases(emu)
    statuses = {revision: status for revision, status, _ in after}
    latest_revision, latest_status, latest_values = after[-1]
    # helm --atomic: the failed revision, then a rollback revision with the old values, deployed.
    assert latest_status == "deployed" and latest_revision > deployed_revision
    assert "failed" in statuses.values()
    assert latest_values == deployed_values
    template_after = emu.get("apps/v1", "Deployment", "mlflow", NS)["spec"]["template"]
    assert template_after["metadata"]["annotations"] == template_before["metadata"]["annotations"]
    monitor = emu.get("monitoring.coreos.com/v1", "ServiceMonitor", "mlflow", "prometheus-system")
    assert monitor["spec"]["endpoints"][0]["interval"] == "30s"  # the chart's default, as before
    assert_no_secrets(run.output, secret_strings(day2.secrets["password"]))


# --- object storage, scale-out and barman backups -----------------------------------------------
def test_object_storage_scale_out_and_barman_backups(day2):
    """Artifacts in an S3-compatible bucket and two replicas with a PodDisruptionBudget; barman
    backups to an object store. All credentials come from 1Password into Secrets and appear
    neither in Helm values nor in the output. A check-mode --diff pass comes first."""
    emu = day2.emulator
    env = onepassword_env(
        day2.workdir,
        [
            {"title": "mlflow-artifacts", "fields": [["access_key_id", S3_KEY_ID], ["secret_access_key", S3_SECRET]]},
            {
                "title": "mlflow-postgres-backup",
                "fields": [["access_key_id", BARMAN_KEY_ID], ["secret_access_key", BARMAN_SECRET]],
            },
        ],
    )
    extra_vars = {
        "mlflow_helm_artifacts_store": "s3",
        "mlflow_helm_artifacts_bucket": "mlflow-artifacts",
        "mlflow_helm_artifacts_path": "runs",
        "mlflow_helm_artifacts_s3_endpoint_url": "https://minio.example.com",
        "mlflow_helm_replicas": 2,
        "mlflow_helm_workers": 2,
        "cnpg_cluster_backup_method": "barman_object_store",
        "cnpg_cluster_backup_barman_destination_path": "s3://mlflow-backups/postgres",
        "cnpg_cluster_backup_barman_endpoint_url": "https://minio.example.com",
    }
    leaks = [TOKEN, *secret_strings(S3_KEY_ID, S3_SECRET, BARMAN_KEY_ID, BARMAN_SECRET, day2.secrets["password"])]

    emu.reset_requests()
    check = day2.playbook_run(extra_vars=extra_vars, env=env, verbosity=3, check=True, diff=True)
    assert check.rc == 0, check.output[-6000:]
    assert check.recap()["changed"] > 0
    assert real_writes(emu) == [], [(w.verb, w.path) for w in real_writes(emu)]
    assert_no_secrets(check.output, leaks)

    started = time.monotonic()
    run = day2.playbook_run(extra_vars=extra_vars, env=env, verbosity=3)
    assert run.rc == 0, run.output[-6000:]
    print(f"object storage run: {time.monotonic() - started:.0f}s")
    assert_no_secrets(run.output, leaks)

    creds = emu.get("v1", "Secret", "mlflow-artifacts-credentials", NS)
    assert {k: base64.b64decode(v).decode() for k, v in creds["data"].items()} == {
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
    }
    _, _, values = helm_releases(emu)[-1]
    assert not any(s in json.dumps(values) for s in leaks), "a credential is in the Helm values"
    s3 = values["artifactRoot"]["s3"]
    assert s3["enabled"] and s3["bucket"] == "mlflow-artifacts" and s3["path"] == "runs"
    assert s3["existingSecret"]["name"] == "mlflow-artifacts-credentials"
    assert values["replicaCount"] == 2
    assert values["extraEnvVars"]["MLFLOW_S3_ENDPOINT_URL"] == "https://minio.example.com"

    deployment = emu.get("apps/v1", "Deployment", "mlflow", NS)
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "--artifacts-destination=s3://mlflow-artifacts/runs" in container["args"]
    env_refs = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in container["env"]}
    assert env_refs["AWS_ACCESS_KEY_ID"] == {"name": "mlflow-artifacts-credentials", "key": "AWS_ACCESS_KEY_ID"}
    assert env_refs["AWS_SECRET_ACCESS_KEY"] == {"name": "mlflow-artifacts-credentials", "key": "AWS_SECRET_ACCESS_KEY"}
    assert not any("persistentVolumeClaim" in v for v in pod.get("volumes", [])), "artifact volume still mounted"
    assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/artifact-credentials"]

    pdb = emu.get("policy/v1", "PodDisruptionBudget", "mlflow", NS)
    assert pdb["spec"]["minAvailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )

    cluster = emu.get(CNPG, "Cluster", "mlflow-postgres", NS)
    barman = cluster["spec"]["backup"]["barmanObjectStore"]
    assert barman["destinationPath"] == "s3://mlflow-backups/postgres"
    assert barman["endpointURL"] == "https://minio.example.com"
    assert barman["s3Credentials"] == {
        "accessKeyId": {"name": "mlflow-postgres-backup-credentials", "key": "ACCESS_KEY_ID"},
        "secretAccessKey": {"name": "mlflow-postgres-backup-credentials", "key": "ACCESS_SECRET_KEY"},
    }
    assert cluster["spec"]["backup"]["retentionPolicy"] == "30d"
    backup_secret = emu.get("v1", "Secret", "mlflow-postgres-backup-credentials", NS)
    assert base64.b64decode(backup_secret["data"]["ACCESS_SECRET_KEY"]).decode() == BARMAN_SECRET
    scheduled = emu.get(CNPG, "ScheduledBackup", "mlflow-postgres", NS)
    assert scheduled["spec"]["method"] == "barmanObjectStore"


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"mlflow_helm_artifacts_store": "gcs", "mlflow_helm_artifacts_bucket": "ml-bucket"},
            [
                "--artifacts-destination=gs://ml-bucket/runs",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "/etc/mlflow/gcs/credentials.json",
                "secretName: mlflow-artifacts-credentials",
            ],
        ),
        (
            {
                "mlflow_helm_artifacts_store": "azure_blob",
                "mlflow_helm_artifacts_bucket": "ml-container",
                "mlflow_helm_artifacts_azure_storage_account": "mlstore",
            },
            [
                "--artifacts-destination=wasbs://ml-container@mlstore.blob.core.windows.net/runs",
                "name: mlflow-artifacts-credentials",
            ],
        ),
    ],
    ids=["gcs", "azure-blob"],
)
def test_gcs_and_azure_values_pass_the_chart_schema_and_render(day2, extra_vars, expected):
    """Preflight only (tag mlflow_helm_preflight): the values for GCS and Azure Blob are rendered
    with the chart (schema-checked) and carry no credentials; nothing is written."""
    day2.emulator.reset_requests()
    run = day2.playbook_run(
        extra_vars={**extra_vars, "mlflow_helm_artifacts_path": "runs", "mlflow_helm_replicas": 2},
        env={"OP_SERVICE_ACCOUNT_TOKEN": TOKEN},
        tags=["mlflow_helm_preflight"],
        verbosity=3,
    )
    assert run.rc == 0, run.output[-4000:]
    # The rendered manifests are in the helm_release check's result (stdout) at -vvv.
    rendered = run.output.replace("\\n", "\n").replace('\\"', '"')
    for text in expected:
        assert text in rendered, text
    assert real_writes(day2.emulator) == []
