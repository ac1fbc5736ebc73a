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
    # Plain text, one message a line: never a Python list.
    error = run.output[run.output.index("[ERROR]: Task failed:") :].split("\nOrigin:")[0]
    assert "Action failed: [" not in error and not error.rstrip().endswith("]"), error
    assert writes == [], [(w.verb, w.path) for w in writes]
    assert after == before, "the run created or changed objects"
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
        "cnpg_cluster_storage_class is 'longhorn', which does not exist in the cluster",
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
            "mlflow_secrets_username is 'someone-else'; it must be 'mlflow', the database owner (mlflow_database_owner)",
            id="username-is-not-the-database-owner",
        ),
        pytest.param(
            {"mlflow_helm_workers": 40},
            "mlflow_helm_workers is 40: MLflow could open 600 PostgreSQL connections",
            id="connection-budget",
        ),
        pytest.param(
            {"mlflow_helm_external_host": "https://mlflow.example.com/"},
            "mlflow_helm_external_host must be the host name MLflow is reached at",
            id="external-host-with-scheme",
        ),
        pytest.param(
            {"mlflow_helm_values_extra": {"service": {"port": "eighty"}}},
            "The Helm values built from the mlflow_helm_* variables and mlflow_helm_values_extra are not valid for chart",
            id="helm-values-against-chart-schema",
        ),
    ],
)
def test_bad_variable(emulator_factory, extra_vars, message):
    assert_refused(run_site(emulator_factory(), extra_vars), message)


# The checks run on the final Helm values, after mlflow_helm_values_extra: an override cannot
# slip past them. Each message names the one variable to change and the value found.
@pytest.mark.parametrize(
    ("extra_vars", "message", "not_mentioned"),
    [
        pytest.param(
            {"mlflow_helm_values_extra": {"extraArgs": {"workers": "64"}}},
            "mlflow_helm_values_extra.extraArgs.workers is 64: MLflow could open 960 PostgreSQL connections",
            "replicaCount is",
            id="workers-through-values-extra",
        ),
        pytest.param(
            {"mlflow_helm_values_extra": {"replicaCount": 3}},
            "mlflow_helm_values_extra.replicaCount is 3, but the artifact volume is ReadWriteOnce",
            "PostgreSQL connections",
            id="replicas-through-values-extra",
        ),
    ],
)
def test_final_values_bypasses_are_refused(emulator_factory, extra_vars, message, not_mentioned):
    result = run_site(emulator_factory(), extra_vars)
    assert_refused(result, message)
    flat = " ".join(result[0].output.split())
    if "replicaCount" in message:
        assert "needs object storage: set mlflow_helm_artifacts_store" in flat
    assert not_mentioned not in flat, "the message names only what is wrong"


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            {"cnpg_cluster_storage_size": "20GB"},
            "cnpg_cluster_storage_size must be a Kubernetes quantity such as 20Gi; got '20GB'.",
        ),
        ({"mlflow_helm_release_name": "MLflow"}, "mlflow_helm_release_name must be a DNS label"),
    ],
    ids=["storage-size", "release-name"],
)
def test_a_message_names_only_the_wrong_variable(emulator_factory, extra_vars, message):
    result = run_site(emulator_factory(), extra_vars)
    assert_refused(result, message)
    flat = " ".join(result[0].output.split())
    (variable,) = extra_vars
    others = ["cnpg_cluster_instances", "cnpg_cluster_image_name", "podAntiAffinityType", "mlflow_helm_namespace must"]
    assert [o for o in others if o in flat and o != variable] == []
