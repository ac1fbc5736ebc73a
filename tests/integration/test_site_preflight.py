"""site.yml refuses to start on a cluster or with variables it cannot work with: one clear
message, and nothing created (not the Namespace, not the Secret: no write request at all)."""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import (
    CRDS,
    INVENTORY,
    SITE,
    real_writes,
    site_env,
    site_extra_vars,
    snapshot,
    start_emulator,
)
from tests.support import paths
from tests.support.ansible_run import assert_no_secrets, run_playbook

pytestmark = pytest.mark.slow
PASSWORD = "preflight-password-never-shown"


def run_site(emulator, extra_vars=None):
    workdir = Path(tempfile.mkdtemp(prefix="site-preflight-"))
    try:
        kubeconfig = emulator.write_kubeconfig(workdir / "kubeconfig")
        before = snapshot(emulator)
        emulator.reset_requests()
        run = run_playbook(
            SITE,
            inventory=INVENTORY,
            extra_vars={**site_extra_vars(PASSWORD), **(extra_vars or {})},
            env=site_env(workdir, kubeconfig),
            verbosity=1,
        )
        return run, before, snapshot(emulator), real_writes(emulator)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def assert_refused(result, *fragments):
    run, before, after, writes = result
    assert run.rc != 0, run.output[-3000:]
    assert run.recap().get("failed") == 1, run.output[-3000:]
    assert run.output.count("fatal: [") == 1, "one failure, one message"
    flat = " ".join(run.output.split())
    for fragment in fragments:
        assert fragment in flat, f"{fragment!r} not in the output:\n{run.output[-3000:]}"
    assert writes == [], [(w.verb, w.path) for w in writes]
    assert after == before, "the run created or changed objects"
    assert "TASK [apocrathia.mlflow._common : Apply the manifest" not in run.output
    assert_no_secrets(run.output, [PASSWORD])


@pytest.fixture
def emulator_factory():
    started = []

    def make(**kwargs):
        emulator = start_emulator(**kwargs)
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


def test_missing_cloudnativepg_crd(emulator_factory):
    emulator = emulator_factory(crd_files=[c for c in CRDS if c != paths.CNPG_CRDS])
    assert_refused(
        run_site(emulator),
        "CloudNativePG is not installed: the CRD clusters.postgresql.cnpg.io is missing.",
    )


def test_missing_storage_class(emulator_factory):
    emulator = emulator_factory(storage_classes={"standard": True})  # no longhorn
    assert_refused(
        run_site(emulator),
        "StorageClass 'longhorn' does not exist in the cluster: create it, or set cnpg_cluster_storage_class",
    )


def test_no_default_storage_class_when_none_is_named(emulator_factory):
    emulator = emulator_factory(storage_classes={"longhorn": False})
    assert_refused(
        run_site(emulator, {"cnpg_cluster_storage_class": ""}),
        "cnpg_cluster_storage_class is empty and the cluster has no default StorageClass",
    )


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        pytest.param(
            {"mlflow_secrets_source": "vault"},
            "mlflow_secrets_source must be one of: onepassword, provided, operator, got: vault",
            id="unknown-secret-source",
        ),
        pytest.param(
            {"mlflow_secrets_username": "someone-else"},
            "mlflow_secrets_username must be 'mlflow', the database owner (cnpg_cluster_owner)",
            id="username-is-not-the-database-owner",
        ),
        pytest.param(
            {"mlflow_helm_workers": 40},
            "MLflow could open 600 PostgreSQL connections",
            id="connection-budget",
        ),
        pytest.param(
            {"mlflow_helm_external_host": "https://mlflow.example.com/"},
            "mlflow_helm_external_host must be the host name MLflow is reached at",
            id="external-host-with-scheme",
        ),
        pytest.param(
            {"mlflow_helm_values_extra": {"replicaCount": "two"}},
            "The Helm values built from the mlflow_helm_* variables are not valid for chart",
            id="helm-values-against-chart-schema",
        ),
    ],
)
def test_bad_variable(emulator_factory, extra_vars, message):
    assert_refused(run_site(emulator_factory(), extra_vars), message)
