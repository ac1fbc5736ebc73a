"""The shared verify (molecule/emulated/verify.yml, which the kind scenario imports) against a
Cluster as CloudNativePG 1.30 stores it: its defaulting webhook adds initdb `encoding`,
`localeCollate` and `localeCType`, the operator's default parameters and more
(tests/kube_emulator/cnpg_webhook.py, after api/v1/cluster_defaults.go at v1.30.0). A verify that
compares a whole map the webhook adds to (e.g. `spec.bootstrap.initdb == {...}`) passes on a
stand-in without the webhook and fails on kind; here it fails.

Uses the session's converge (`converged_site`): the Cluster there went through the emulated webhook.
"""

import pytest

from tests.support.ansible_run import run_playbook
from tests.support.paths import REPO_ROOT

VERIFY = REPO_ROOT / "molecule" / "emulated" / "verify.yml"
# CloudNativePG 1.30.0 api/v1/cluster_defaults.go, defaultInitDB: what the webhook adds to an
# initdb that names only database, owner and secret.
WEBHOOK_INITDB = {"encoding": "UTF8", "localeCollate": "C", "localeCType": "C"}


@pytest.fixture(scope="module")
def cluster(converged_site):
    return converged_site.emulator.get("postgresql.cnpg.io/v1", "Cluster", "mlflow-postgres", "mlflow")


@pytest.fixture(scope="module")
def verify_run(converged_site):
    return run_playbook(
        VERIFY,
        inventory=converged_site.inventory,
        extra_vars={"molecule_authentik_present": True},
        env={**converged_site.env, "MOLECULE_PROJECT_DIRECTORY": str(REPO_ROOT)},
        verbosity=3,
    )


def test_the_cluster_carries_the_webhook_defaults(cluster):
    spec = cluster["spec"]
    initdb = spec["bootstrap"]["initdb"]
    assert {key: initdb.get(key) for key in WEBHOOK_INITDB} == WEBHOOK_INITDB
    # What the roles set is kept beside the defaults.
    assert (initdb["database"], initdb["owner"], initdb["secret"]) == ("mlflow", "mlflow", {"name": "mlflow-secrets"})
    parameters = spec["postgresql"]["parameters"]
    assert parameters["wal_level"] == "logical" and parameters["archive_mode"] == "on"
    assert parameters["max_connections"] == "200"  # the role's value, not replaced
    assert spec["monitoring"]["customQueriesConfigMap"][0] == {"name": "cnpg-default-monitoring", "key": "queries"}


def test_verify_passes_on_the_defaulted_cluster(verify_run):
    assert verify_run.rc == 0, verify_run.output[-6000:]
    assert "TASK [Check the CloudNativePG Cluster (reference 3)]" in verify_run.output
    assert verify_run.recap().get("failed", 0) == 0


def test_verify_shows_no_secret(verify_run, converged_site):
    leaked = [value for value in converged_site.secret_values if value in verify_run.output]
    assert leaked == [], "a secret value appears in verify's -vvv output"
