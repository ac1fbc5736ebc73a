"""Run the "Deploy MLflow" job the way AWX does, from the AWX objects defined as code.

AWX runs a job with ansible-runner: a private data dir holding the project, an inventory,
extra vars and the environment its credentials inject. This test builds that data dir from
awx/awx_objects.yml — the custom 1Password credential type's injector and the built-in
Kubernetes bearer-token credential's variables — and runs playbooks/site.yml under the real
ansible-runner against the emulator. The 1Password side is the fake at the SDK's client
boundary, so the token travels exactly as in AWX: credential input -> injector -> environment
-> apocrathia.mlflow.onepassword_item.
"""

import base64
import json
import shutil
import subprocess

import jinja2
import pytest
import yaml

from tests.integration.conftest import CHART, real_writes, secret_strings, start_emulator
from tests.support.paths import REPO_ROOT, VENV_BIN, tool_env
from tests.unit.fakes.onepassword_sdk import (
    fake_service_account_token,
    mlflow_secrets_item,
    out_of_process_env,
    vault_account,
)

AWX_OBJECTS = REPO_ROOT / "awx" / "awx_objects.yml"
TOKEN = fake_service_account_token("awx")
KUBE_TOKEN = "awx-kubernetes-bearer-token-0123456789"
USERNAME = "mlflow"
PASSWORD = "AWX-job-password-0xFACADE"
# Ansible and AWX render these templates into variables, not HTML: no autoescaping.
JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701


def awx_objects():
    """awx_objects.yml as Ansible sees it (its values are rendered once, as vars_files are)."""
    raw = yaml.safe_load(AWX_OBJECTS.read_text())
    env = JINJA

    def render(value):
        if isinstance(value, str):
            return env.from_string(value).render()
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v) for v in value]
        return value

    return render(raw)


def injected_env(credential_type, inputs):
    """What AWX's injector puts in the job's environment for a credential with these inputs."""
    env = JINJA
    return {
        name: env.from_string(template).render(**inputs)
        for name, template in credential_type["injectors"]["env"].items()
    }


@pytest.fixture(scope="module")
def awx_job(tmp_path_factory):
    objects = awx_objects()
    emulator = start_emulator()
    pdd = tmp_path_factory.mktemp("awx-job")
    try:
        (pdd / "project").symlink_to(REPO_ROOT)
        # The SCM inventory source imports the project's inventory (hosts and group_vars).
        source = REPO_ROOT / objects["awx_mlflow_inventory"]["source_path"]
        shutil.copytree(source.parent, pdd / "inventory")
        (pdd / "env").mkdir()
        extra_vars = dict(
            objects["awx_mlflow_job_template"]["extra_vars"],
            # No chart download here: the real chart installed offline (scripts/mlflow_chart.py).
            mlflow_helm_chart_ref=str(CHART),
        )
        (pdd / "env" / "extravars").write_text(json.dumps(extra_vars))
        # The two credentials attached to the job template, as AWX injects them.
        credential_env = injected_env(
            objects["awx_mlflow_onepassword_credential_type"], {"service_account_token": TOKEN}
        )
        kube_vars = objects["awx_mlflow_kubernetes_injected_env"]
        credential_env.update(
            {kube_vars["host"]: emulator.url, kube_vars["bearer_token"]: KUBE_TOKEN, kube_vars["verify_ssl"]: "False"}
        )
        account = vault_account(TOKEN, [mlflow_secrets_item(USERNAME, PASSWORD, version=3)])
        envvars = dict(credential_env, **out_of_process_env(pdd, account, REPO_ROOT))
        envvars.update(
            {
                "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / ".collections"),
                "HELM_CACHE_HOME": str(pdd / "helm" / "cache"),
                "HELM_CONFIG_HOME": str(pdd / "helm" / "config"),
                "HELM_DATA_HOME": str(pdd / "helm" / "data"),
            }
        )
        (pdd / "env" / "envvars").write_text(json.dumps(envvars))
        run_env = {k: v for k, v in tool_env().items() if not k.startswith(("K8S_AUTH_", "KUBECONFIG", "OP_"))}
        proc = subprocess.run(
            [
                str(VENV_BIN / "ansible-runner"),
                "run",
                str(pdd),
                "--playbook",
                objects["awx_mlflow_job_template"]["playbook"],
                "--ident",
                "deploy-mlflow",
                "-v",
            ],
            env=run_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=900,
            check=False,
        )
        yield proc, pdd, emulator, credential_env
    finally:
        emulator.stop()


def test_the_job_succeeds_under_ansible_runner(awx_job):
    proc, pdd, _, _ = awx_job
    status = (pdd / "artifacts" / "deploy-mlflow" / "status").read_text().strip()
    assert status == "successful", proc.stdout[-4000:]
    assert (pdd / "artifacts" / "deploy-mlflow" / "rc").read_text().strip() == "0"


def test_the_credentials_reached_the_cluster_through_the_injected_environment(awx_job):
    _, _, emulator, credential_env = awx_job
    assert credential_env["OP_SERVICE_ACCOUNT_TOKEN"] == TOKEN
    secret = emulator.get("v1", "Secret", "mlflow-secrets", "mlflow")
    assert secret is not None and secret["type"] == "kubernetes.io/basic-auth"
    assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD
    # The item's version (never a value) is recorded for change detection.
    assert secret["metadata"]["annotations"]["apocrathia.mlflow/onepassword-item-version"] == "3"
    # The bearer token authenticated every request the job made.
    assert real_writes(emulator), "the job wrote nothing to the cluster"
    for kind, name in (("Cluster", "mlflow-postgres"), ("ConfigMap", "authentik-blueprint-mlflow")):
        api = "postgresql.cnpg.io/v1" if kind == "Cluster" else "v1"
        assert emulator.get(api, kind, name, "mlflow") is not None, f"{kind} {name} was not created"


def test_the_job_output_holds_no_secret(awx_job):
    proc, pdd, _, _ = awx_job
    stdout = (pdd / "artifacts" / "deploy-mlflow" / "stdout").read_text()
    events = "".join(p.read_text() for p in (pdd / "artifacts" / "deploy-mlflow" / "job_events").glob("*.json"))
    for text in (proc.stdout, stdout, events):
        for value in secret_strings(TOKEN, PASSWORD, KUBE_TOKEN):
            assert value not in text, "a secret value appears in the job's output or events"
