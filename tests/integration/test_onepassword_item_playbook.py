"""apocrathia.mlflow.onepassword_item under a real `ansible-playbook -vvv`.

The fake 1Password account (tests/unit/fakes/onepassword_sdk.py) is injected into the AnsiballZ
module process at the SDK's client boundary: a PYTHONPATH directory holds a ``sitecustomize.py``
that replaces ``onepassword.Client.authenticate``; the module process inherits the environment.
Everything else (the module, module_utils, the SDK's types, Ansible's no_log handling) is real.
"""

import hashlib
import textwrap

import pytest

from tests.support.ansible_run import assert_no_secrets, run_playbook, write_inventory
from tests.support.paths import REPO_ROOT
from tests.unit.fakes.onepassword_sdk import fake_service_account_token, out_of_process_env

TOKEN = fake_service_account_token("playbook")
USERNAME = "mlflow-playbook-user"
PASSWORD = "Pl4ybook-password-0xC0FFEE"
SECRET_KEY = "Pl4ybook-s3-secret-key-0xBEEF"


PLAYBOOK = """\
- name: Read MLflow credentials from 1Password
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the MLflow database credentials from 1Password
      apocrathia.mlflow.onepassword_item:
        vault: Secrets
        item: mlflow-secrets
        fields: [username, password]
      register: __mlflow_secrets_item
      no_log: true

    - name: Resolve secret references
      apocrathia.mlflow.onepassword_item:
        service_account_token: "{{ op_token }}"
        references:
          - op://Secrets/mlflow-secrets/password
          - op://Secrets/mlflow-secrets/S3/secret_key
      register: __mlflow_refs
      no_log: true

    - name: Check that the values arrived (by hash, never printed)
      ansible.builtin.assert:
        quiet: true
        that:
          - (__mlflow_secrets_item.fields.username | hash('sha256')) == expected.username
          - (__mlflow_secrets_item.fields.password | hash('sha256')) == expected.password
          - (__mlflow_refs.fields['op://Secrets/mlflow-secrets/password'] | hash('sha256')) == expected.password
          - (__mlflow_refs.fields['op://Secrets/mlflow-secrets/S3/secret_key'] | hash('sha256')) == expected.secret_key
          - __mlflow_secrets_item.version == 7
          # authenticate, vaults.list, items.list, items.get
          - __mlflow_secrets_item.sdk_calls == 4
          # authenticate, resolve_all twice (rate limited once), get_all
          - __mlflow_refs.sdk_calls == 4

    - name: Read the credentials on a task that forgets no_log
      # The action plugin marks the successful result no_log, so the values still stay hidden.
      apocrathia.mlflow.onepassword_item:
        vault: Secrets
        item: mlflow-secrets
        fields: [username, password]
      register: __mlflow_forgotten

    - name: Check that the task without no_log still returned the values
      ansible.builtin.assert:
        quiet: true
        that:
          - (__mlflow_forgotten.fields.password | hash('sha256')) == expected.password

    - name: Show the change markers
      ansible.builtin.debug:
        msg: "marker {{ __mlflow_secrets_item.title }} v{{ __mlflow_secrets_item.version }}"

    - name: Read a misspelt field, without no_log
      apocrathia.mlflow.onepassword_item:
        vault: Secrets
        item: mlflow-secrets
        fields: [pasword]
      register: __mlflow_missing
      ignore_errors: true

    - name: Check the failure names the field and lists the labels
      ansible.builtin.assert:
        that:
          - __mlflow_missing is failed
          - "'its fields are: username, password, S3/secret_key' in __mlflow_missing.msg"
"""

FAILING_PLAYBOOK = """\
- name: Use a malformed token
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read with a malformed token, without no_log
      apocrathia.mlflow.onepassword_item:
        service_account_token: "{{ op_token }}"
        vault: Secrets
        item: mlflow-secrets
"""


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def workdir(tmp_path):
    write_inventory(tmp_path / "inventory.yml", {})
    return tmp_path


@pytest.mark.slow
def test_values_reach_the_registered_variable_and_never_the_output(workdir):
    account = {
        "token": TOKEN,
        "vaults": [
            {
                "title": "Secrets",
                "items": [
                    {
                        "title": "mlflow-secrets",
                        "version": 7,
                        "sections": [["s3", "S3"]],
                        "fields": [["username", USERNAME], ["password", PASSWORD], ["secret_key", SECRET_KEY, "s3"]],
                    }
                ],
            }
        ],
        # The first resolve_all is rate limited: the retry must be invisible to the play.
        "failures": {"secrets.resolve_all": ["rate_limited"]},
    }
    (workdir / "play.yml").write_text(PLAYBOOK)
    run = run_playbook(
        workdir / "play.yml",
        inventory=workdir / "inventory.yml",
        extra_vars={
            "op_token": TOKEN,
            "expected": {"username": sha256(USERNAME), "password": sha256(PASSWORD), "secret_key": sha256(SECRET_KEY)},
        },
        env={**out_of_process_env(workdir, account, REPO_ROOT), "OP_SERVICE_ACCOUNT_TOKEN": TOKEN},
        verbosity=3,
    )
    assert run.rc == 0, textwrap.shorten(run.output[-3000:], 3000)
    assert run.recap().get("failed", 0) == 0
    assert "marker mlflow-secrets v7" in run.output
    assert (
        "the output has been hidden" in run.output.split("TASK [Read the credentials on a task that forgets no_log]")[1]
    )
    assert "has no field 'pasword'; its fields are: username, password, S3/secret_key" in run.output
    assert_no_secrets(run.output, [TOKEN, TOKEN[4:40], USERNAME, PASSWORD, SECRET_KEY])


@pytest.mark.slow
def test_a_malformed_token_fails_clearly_without_showing_it(workdir):
    # No fake: the real SDK parses the token, offline.
    token = "ops_" + "UGxheWJvb2stbWFsZm9ybWVk" * 4
    (workdir / "play.yml").write_text(FAILING_PLAYBOOK)
    run = run_playbook(
        workdir / "play.yml",
        inventory=workdir / "inventory.yml",
        extra_vars={"op_token": token},
        verbosity=3,
    )
    assert run.rc != 0
    assert "The 1Password service account token is malformed" in run.output
    assert_no_secrets(run.output, [token, token[4:40]])
