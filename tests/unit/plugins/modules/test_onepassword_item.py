"""apocrathia.mlflow.onepassword_item, driven in-process (kubernetes.core style).

Network-bound SDK calls answer from tests/unit/fakes/onepassword_sdk.py (the SDK's own types);
token and reference checks run the real SDK, offline, with no fake installed.
"""

import json

import pytest
import yaml
from ansible_collections.apocrathia.mlflow.plugins.action import onepassword_item as action
from ansible_collections.apocrathia.mlflow.plugins.module_utils import onepassword as op_utils
from ansible_collections.apocrathia.mlflow.plugins.modules import onepassword_item

from tests.support.paths import REPO_ROOT
from tests.unit.fakes.onepassword_sdk import FakeAccount, fake_service_account_token, network_down, rate_limited
from tests.unit.utils.ansible_module_mock import (
    AnsibleExitJson,
    AnsibleFailJson,
    patched_exit_fail,
    set_module_args,
)

TOKEN = fake_service_account_token("moduletest")
USERNAME = "mlflow-db-user"
PASSWORD = "Tr0ub4dor&3-module-test"
S3_KEY = "s3-secret-key-module-test"
OTHER_PASSWORD = "authentik-secret-module-test"
ALL_SECRETS = [TOKEN, USERNAME, PASSWORD, S3_KEY, OTHER_PASSWORD]


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch):
    monkeypatch.delenv("OP_SERVICE_ACCOUNT_TOKEN", raising=False)


@pytest.fixture
def account(monkeypatch):
    account = FakeAccount(TOKEN)
    secrets = account.add_vault("Secrets")
    account.add_item(
        secrets,
        "mlflow-secrets",
        [("username", USERNAME), ("password", PASSWORD), ("secret_key", S3_KEY, "s3")],
        sections=[("s3", "S3")],
        version=7,
    )
    account.add_item(secrets, "dupes", [("password", "dupe-one-value"), ("password", "dupe-two-value")])
    platform = account.add_vault("Platform")
    account.add_item(platform, "authentik", [("client_secret", OTHER_PASSWORD)], version=2)
    return account.patch(monkeypatch)


def run_module(args, check_mode=False):
    """The module's result (AnsibleExitJson) or failure (AnsibleFailJson) as a dict."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    with set_module_args(args), patched_exit_fail():
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as outcome:
            onepassword_item.main()
    return outcome.value.args[0]


def assert_clean(message, *extra):
    assert "\n" not in message
    for secret in ALL_SECRETS + list(extra):
        assert secret not in message


ITEM_ARGS = dict(service_account_token=TOKEN, vault="Secrets", item="mlflow-secrets", retry_delay=0)


# --- success ------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_reads_the_fields_in_four_calls(account, check_mode):
    result = run_module(dict(ITEM_ARGS, fields=["username", "password"]), check_mode=check_mode)
    assert not result.get("failed")
    assert result["changed"] is False
    assert result["fields"] == {"username": USERNAME, "password": PASSWORD}
    assert result["title"] == "mlflow-secrets"
    assert result["version"] == 7
    assert result["updated_at"] == "2026-11-20T09:14:03Z"
    assert result["vault_id"] and result["id"]
    # authenticate + vaults.list + items.list + items.get, whatever the number of fields.
    assert [c[0] for c in account.calls] == ["authenticate", "vaults.list", "items.list", "items.get"]
    assert result["sdk_calls"] == 4
    # Run without the action plugin, no version is known; the action plugin sends the collection's.
    assert account.authenticated_with == ("apocrathia.mlflow", "unknown")


def test_the_action_plugin_sends_the_collection_version(account):
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    run_module(action.module_args(dict(ITEM_ARGS, fields=["password"])))
    assert account.authenticated_with == ("apocrathia.mlflow", galaxy["version"])
    # A version the task sets wins.
    assert action.module_args({"integration_version": "9.9"})["integration_version"] == "9.9"


def test_an_archived_item_with_the_same_title_is_ignored(account):
    vault_id = account.find_vault("Secrets")[0]["id"]
    account.add_item(vault_id, "mlflow-secrets", [("password", "archived-old-value")], archived=True)
    assert run_module(dict(ITEM_ARGS, fields=["password"]))["fields"] == {"password": PASSWORD}


def test_integration_name_and_version_are_sent(account):
    run_module(dict(ITEM_ARGS, integration_name="acme-deploy", integration_version="9.9"))
    assert account.authenticated_with == ("acme-deploy", "9.9")


def test_token_from_the_environment(account, monkeypatch):
    monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", TOKEN)
    args = dict(ITEM_ARGS, fields=["password"])
    del args["service_account_token"]
    assert run_module(args)["fields"] == {"password": PASSWORD}


def test_all_fields_of_a_section(account):
    result = run_module(dict(ITEM_ARGS, section="S3"))
    assert result["fields"] == {"secret_key": S3_KEY}


def test_references_resolve_in_one_call_across_vaults(account):
    refs = [
        "op://Secrets/mlflow-secrets/password",
        "op://Secrets/mlflow-secrets/S3/secret_key",
        "op://Platform/authentik/client_secret",
    ]
    result = run_module(dict(service_account_token=TOKEN, references=refs))
    assert result["fields"] == dict(zip(refs, [PASSWORD, S3_KEY, OTHER_PASSWORD], strict=True))
    methods = [c[0] for c in account.calls]
    # One resolve_all for all references, then one get_all per vault (versions).
    assert methods.count("secrets.resolve_all") == 1 and methods.count("items.get_all") == 2
    assert result["sdk_calls"] == 4
    assert sorted(i["version"] for i in result["items_read"]) == [2, 7]
    assert result["id"] is None  # two items: no single item to report


def test_references_to_one_item_report_that_item(account):
    result = run_module(dict(service_account_token=TOKEN, references=["op://Secrets/mlflow-secrets/username"]))
    assert result["fields"] == {"op://Secrets/mlflow-secrets/username": USERNAME}
    assert (result["title"], result["version"]) == ("mlflow-secrets", 7)


def test_values_reach_the_caller_through_the_real_exit_path(account, capsys):
    """exit_json masks no-log values in its output: the values asked for must not be masked."""
    with set_module_args(dict(ITEM_ARGS, fields=["username", "password"])):
        with pytest.raises(SystemExit) as exited:
            onepassword_item.main()
    assert exited.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fields"] == {"username": USERNAME, "password": PASSWORD}
    assert TOKEN not in json.dumps(result)


# --- not found, duplicates ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (
            dict(vault="Secret"),
            "Vault 'Secret' not found or not shared with the service account; it can read: Secrets, Platform",
        ),
        (dict(item="mlflow"), "Item 'mlflow' not found in vault 'Secrets'"),
        (
            dict(fields=["username", "pasword"]),
            "Item 'mlflow-secrets' in vault 'Secrets' has no field 'pasword'; "
            "its fields are: username, password, S3/secret_key",
        ),
        (dict(section="DB"), "Item 'mlflow-secrets' in vault 'Secrets' has no section 'DB'; its sections are: S3"),
        (
            dict(item="dupes", fields=["password"]),
            "Item 'dupes' in vault 'Secrets' has 2 fields labelled 'password' (password, password)",
        ),
        (dict(item="dupes"), "Item 'dupes' in vault 'Secrets' has several fields labelled 'password'"),
    ],
)
def test_not_found_and_duplicates_fail_with_one_clear_line(account, args, message):
    result = run_module(dict(ITEM_ARGS, **args))
    assert result["failed"]
    assert message in result["msg"]
    assert_clean(result["msg"], "dupe-one-value", "dupe-two-value")


@pytest.mark.parametrize(
    "reference, message",
    [
        ("op://Nope/mlflow-secrets/password", "Vault 'Nope' not found"),
        ("op://Secrets/nope/password", "Item 'nope' not found in vault 'Secrets'"),
        (
            "op://Secrets/mlflow-secrets/pasword",
            "Item 'mlflow-secrets' has no field 'pasword' (reference 'op://Secrets/mlflow-secrets/pasword'); "
            "its fields are: username, password, S3/secret_key",
        ),
        ("op://Secrets/dupes/password", "Item 'dupes' has several fields labelled 'password'"),
        ("op://Secrets/mlflow-secrets/DB/password", "Item 'mlflow-secrets' has no section 'DB'"),
    ],
)
def test_reference_errors_fail_with_one_clear_line(account, reference, message):
    result = run_module(
        dict(service_account_token=TOKEN, references=["op://Secrets/mlflow-secrets/username", reference])
    )
    assert result["failed"]
    assert message in result["msg"]
    assert_clean(result["msg"], "dupe-one-value", "dupe-two-value")


def test_values_learned_before_a_failure_are_redacted(account):
    # resolve_all succeeds, then get_all fails with a message that echoes a value: it is redacted.
    account.fail("items.get_all", Exception(f"server error: could not decode {PASSWORD}"))
    result = run_module(
        dict(service_account_token=TOKEN, references=["op://Secrets/mlflow-secrets/password"], retries=0)
    )
    assert result["failed"]
    assert "<redacted>" in result["msg"]
    assert_clean(result["msg"])


# --- retries --------------------------------------------------------------------------------------
def test_rate_limit_then_success(account):
    account.fail("items.get", rate_limited(), rate_limited())
    result = run_module(dict(ITEM_ARGS, fields=["password"]))
    assert result["fields"] == {"password": PASSWORD}
    assert account.count("items.get") == 3
    assert result["sdk_calls"] == 6


def test_rate_limit_exhausted(account):
    account.fail("secrets.resolve_all", *[rate_limited()] * 5)
    result = run_module(
        dict(service_account_token=TOKEN, references=["op://Secrets/mlflow-secrets/password"], retries=2, retry_delay=0)
    )
    assert result["failed"]
    assert result["msg"] == (
        "1Password rate limit exceeded while resolving 1 secret reference(s); gave up after 3 attempt(s)"
    )
    assert account.count("secrets.resolve_all") == 3


def test_network_failure_exhausted(account):
    account.fail("vaults.list", *[network_down()] * 5)
    result = run_module(dict(ITEM_ARGS, retries=1))
    assert result["failed"]
    assert result["msg"].startswith("Could not reach 1Password while listing vaults; gave up after 2 attempt(s)")


def test_rejected_token_fails_without_retry(account):
    result = run_module(dict(ITEM_ARGS, service_account_token=TOKEN + "-revoked"))
    assert result["failed"]
    assert result["msg"].startswith("1Password rejected the service account token while authenticating")
    assert account.count("authenticate") == 1
    assert_clean(result["msg"], TOKEN + "-revoked")


# --- real SDK, offline, no fake -------------------------------------------------------------------
@pytest.mark.parametrize(
    "token, message",
    [
        (None, "No 1Password service account token: set service_account_token or the OP_SERVICE_ACCOUNT_TOKEN"),
        ("", "No 1Password service account token"),
        ("mlflow-" + PASSWORD, "The 1Password service account token is malformed (service account token had invalid"),
        ("ops_" + "QUJD" * 30, "The 1Password service account token is malformed (service account deserialization"),
    ],
)
def test_real_sdk_token_errors(token, message):
    args = dict(vault="Secrets", item="mlflow-secrets")
    if token is not None:
        args["service_account_token"] = token
    result = run_module(args)
    assert result["failed"]
    assert result["msg"].startswith(message)
    assert_clean(result["msg"], *([token, token[4:30]] if token else []))


def test_real_sdk_rejects_a_malformed_reference_before_authenticating(account):
    result = run_module(
        dict(
            service_account_token=TOKEN,
            references=["op://Secrets/mlflow-secrets/password", "op://Secrets/mlflow-secrets/pass#word"],
        )
    )
    assert result["failed"]
    assert result["msg"] == (
        "Malformed secret reference 'op://Secrets/mlflow-secrets/pass#word': invalid character in secret "
        "reference: secret references must only contain alphanumeric, _, . or - characters"
    )
    assert account.calls == []  # failed offline


# --- requirements and arguments ------------------------------------------------------------------
def test_missing_sdk_is_reported_with_missing_required_lib(monkeypatch):
    monkeypatch.setattr(op_utils, "HAS_ONEPASSWORD", False)
    result = run_module(ITEM_ARGS)
    assert result["failed"]
    assert "Failed to import the required Python library (onepassword-sdk)" in result["msg"]


def test_old_glibc_is_reported_before_anything_else(monkeypatch):
    monkeypatch.setattr(op_utils, "_host_libc", lambda: ("glibc", "2.31"))
    monkeypatch.setattr(op_utils.platform, "system", lambda: "Linux")
    result = run_module(ITEM_ARGS)
    assert result["failed"]
    assert "needs glibc 2.32 or newer and this host has glibc 2.31" in result["msg"]


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(references=["op://a/b/c"], item="x", vault="y"), "mutually exclusive"),
        (dict(fields=["password"]), "one of the following is required: references, item"),
        (dict(item="x"), "parameters are required together: vault, item"),
        (dict(vault="v", item="x", retries=-1), "retries must be 0 or more"),
        (dict(references=[]), "references is empty"),
    ],
)
def test_argument_errors(account, args, message):
    result = run_module(dict(args, service_account_token=TOKEN))
    assert result["failed"]
    assert message in result["msg"]
    assert account.calls == []
