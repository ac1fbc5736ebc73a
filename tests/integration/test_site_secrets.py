"""The three secret sources of mlflow_secrets, through site.yml (tags) on fresh emulated clusters:
1Password with the SDK (a fake account at the SDK boundary), `provided` with a generated password
that is kept, and the 1Password operator. Also: a changed password restarts MLflow's pods."""

import base64
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    INVENTORY,
    SITE,
    real_writes,
    secret_strings,
    site_env,
    site_extra_vars,
    start_emulator,
)
from tests.support.ansible_run import assert_no_secrets, run_playbook
from tests.unit.fakes.onepassword_sdk import (
    fake_service_account_token,
    mlflow_secrets_item,
    out_of_process_env,
    vault_account,
)

pytestmark = pytest.mark.slow
NS = "mlflow"
TOKEN = fake_service_account_token("site")
OP_USERNAME = "mlflow"
OP_PASSWORD = "0p-Password-from-the-fake-vault-1234"


@pytest.fixture
def cluster():
    """A fresh emulated cluster and a function that runs site.yml on it."""
    workdir = Path(tempfile.mkdtemp(prefix="site-secrets-"))
    emulator = start_emulator()
    kubeconfig = emulator.write_kubeconfig(workdir / "kubeconfig")

    def run(extra_vars, tags, env=None, password=""):
        emulator.reset_requests()
        return run_playbook(
            SITE,
            inventory=INVENTORY,
            extra_vars={**site_extra_vars(password), **extra_vars},
            env={**site_env(workdir, kubeconfig), **(env or {})},
            tags=tags,
            verbosity=3,
        )

    yield emulator, run, workdir
    emulator.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def secret_values(emulator):
    secret = emulator.get("v1", "Secret", "mlflow-secrets", NS)
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}, secret


def test_onepassword_source_reads_the_item_and_annotates_id_and_version(cluster):
    emulator, run, workdir = cluster
    account = vault_account(TOKEN, [mlflow_secrets_item(OP_USERNAME, OP_PASSWORD, version=7)])
    env = {**out_of_process_env(workdir, account), "OP_SERVICE_ACCOUNT_TOKEN": TOKEN}
    source = {"mlflow_secrets_source": "onepassword", "mlflow_secrets_password": ""}
    first = run(source, ["mlflow_secrets"], env)
    assert first.rc == 0, first.output[-4000:]
    values, secret = secret_values(emulator)
    assert values == {"username": OP_USERNAME, "password": OP_PASSWORD}
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["labels"]["cnpg.io/reload"] == "true"
    annotations = secret["metadata"]["annotations"]
    assert annotations["apocrathia.mlflow/source"] == "onepassword"
    assert annotations["apocrathia.mlflow/onepassword-item-version"] == "7"
    assert annotations["apocrathia.mlflow/onepassword-item-id"]
    assert OP_PASSWORD not in json.dumps(annotations)
    second = run(source, ["mlflow_secrets"], env)
    assert second.rc == 0 and second.recap()["changed"] == 0, second.output[-3000:]
    assert real_writes(emulator) == []
    for output in (first.output, second.output):
        assert_no_secrets(output, [TOKEN, TOKEN[4:40], *secret_strings(OP_PASSWORD)])


def test_onepassword_source_without_a_token_fails_before_any_change(cluster):
    emulator, run, _ = cluster
    result = run({"mlflow_secrets_source": "onepassword"}, ["mlflow_secrets"], {"OP_SERVICE_ACCOUNT_TOKEN": ""})
    assert result.rc != 0
    assert "no 1Password service account token was given" in " ".join(result.output.split())
    assert real_writes(emulator) == []
    assert emulator.get("v1", "Namespace", NS) is None


def test_generated_password_is_kept_and_a_new_password_restarts_mlflow(cluster):
    emulator, run, _ = cluster
    tags = ["mlflow_secrets", "mlflow_helm"]
    first = run({}, tags)
    assert first.rc == 0, first.output[-4000:]
    generated, _ = secret_values(emulator)
    assert generated["username"] == "mlflow" and len(generated["password"]) == 32
    checksum = emulator.get("apps/v1", "Deployment", "mlflow", NS)["spec"]["template"]["metadata"]["annotations"]

    again = run({}, ["mlflow_secrets"])
    assert again.rc == 0 and again.recap()["changed"] == 0, again.output[-3000:]
    assert real_writes(emulator) == [], "the kept password must not rewrite the Secret"
    assert secret_values(emulator)[0] == generated

    rotated = run({}, tags, password="a-new-password-for-mlflow")
    assert rotated.rc == 0, rotated.output[-3000:]
    assert secret_values(emulator)[0]["password"] == "a-new-password-for-mlflow"
    template = emulator.get("apps/v1", "Deployment", "mlflow", NS)["spec"]["template"]["metadata"]["annotations"]
    assert template["checksum/db-secret"] != checksum["checksum/db-secret"], "pods must restart on a new password"
    for output in (first.output, again.output, rotated.output):
        assert_no_secrets(output, [*secret_strings(generated["password"]), "a-new-password-for-mlflow"])


def _operator(emulator, stop):
    """Stand-in for the 1Password operator: writes the Secret once the OnePasswordItem exists."""
    while not stop.is_set():
        item = emulator.get("onepassword.com/v1", "OnePasswordItem", "mlflow-secrets", NS)
        if item is not None:
            emulator.create(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "mlflow-secrets", "namespace": NS},
                    "type": item.get("type", "Opaque"),
                    "stringData": {"username": "mlflow", "password": "operator-written-password"},
                }
            )
            return
        time.sleep(0.2)


def test_operator_source_creates_the_item_and_waits_for_the_operators_secret(cluster):
    emulator, run, _ = cluster
    stop = threading.Event()
    operator = threading.Thread(target=_operator, args=(emulator, stop), daemon=True)
    operator.start()
    try:
        result = run({"mlflow_secrets_source": "operator", "mlflow_secrets_operator_timeout": 60}, ["mlflow_secrets"])
    finally:
        stop.set()
        operator.join(5)
    assert result.rc == 0, result.output[-4000:]
    item = emulator.get("onepassword.com/v1", "OnePasswordItem", "mlflow-secrets", NS)
    assert item["spec"]["itemPath"] == "vaults/Secrets/items/mlflow-secrets"
    assert item["type"] == "kubernetes.io/basic-auth"
    secret = emulator.get("v1", "Secret", "mlflow-secrets", NS)
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["labels"]["cnpg.io/reload"] == "true"
    assert_no_secrets(result.output, secret_strings("operator-written-password"))


def test_operator_source_times_out_with_a_clear_message(cluster):
    _, run, _ = cluster
    result = run({"mlflow_secrets_source": "operator", "mlflow_secrets_operator_timeout": 2}, ["mlflow_secrets"])
    assert result.rc != 0
    assert "The 1Password operator did not create Secret mlflow/mlflow-secrets" in " ".join(result.output.split())
