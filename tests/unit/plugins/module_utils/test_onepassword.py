"""Pure functions and the retry policy of module_utils/onepassword.py (community.postgresql style).

The token and reference checks run the real onepassword-sdk, offline, with no mock; the
network-bound calls are replaced at the client boundary by tests/unit/fakes/onepassword_sdk.py.
"""

import asyncio

import pytest
import yaml
from ansible_collections.apocrathia.mlflow.plugins.module_utils import onepassword as op

from tests.support.paths import REPO_ROOT
from tests.unit.fakes.onepassword_sdk import (
    FakeAccount,
    fake_service_account_token,
    network_down,
    rate_limited,
    token_rejected,
)

TOKEN = fake_service_account_token("unit")
SECRET = "pw-Tr0ub4dor&3-unit"


# --- references -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reference, expected",
    [
        ("op://Secrets/mlflow-secrets/password", ("Secrets", "mlflow-secrets", None, "password", None)),
        ("op://Secrets/mlflow-secrets/S3/secret_key", ("Secrets", "mlflow-secrets", "S3", "secret_key", None)),
        ("op://v/i/otp?attribute=otp", ("v", "i", None, "otp", "otp")),
    ],
)
def test_parse_reference_splits_the_parts(reference, expected):
    assert tuple(op.parse_reference(reference)) == expected


@pytest.mark.parametrize(
    "reference, reason",
    [
        ("Secrets/mlflow-secrets/password", "must start with op://"),
        ("op://Secrets/mlflow-secrets", "expected op://<vault>/<item>/[<section>/]<field>"),
        ("op://Secrets/mlflow-secrets/a/b/c", "expected op://"),
        ("op://Secrets//password", "no empty part"),
        ("op://Secrets/item/password?attr=x", "the only query allowed is ?attribute=<name>"),
    ],
)
def test_parse_reference_rejects_malformed_references(reference, reason):
    with pytest.raises(op.OnePasswordError) as err:
        op.parse_reference(reference)
    assert str(err.value).startswith(f"Malformed secret reference '{reference}'")
    assert reason in str(err.value)
    assert err.value.kind == op.REFERENCE


@pytest.mark.parametrize(
    "reference, reason",
    [
        # Shapes only the real SDK's validator rejects: proves it is called, offline.
        ("op://Secrets/mlflow-secrets/pass#word", "invalid character in secret reference"),
        ("op://Secrets/mlflow-secrets/password?attribute=foo", "invalid query parameter value"),
        ("op://Secrets/mlflow-secrets/one-time?attribute=otp&x=1", "has invalid format"),
    ],
)
def test_validate_reference_uses_the_real_sdk(reference, reason):
    with pytest.raises(op.OnePasswordError) as err:
        op.validate_reference(reference)
    message = str(err.value)
    assert message.startswith("Malformed secret reference")
    assert reason in message
    assert "\n" not in message and not message.endswith("}")


def test_validate_reference_accepts_a_well_formed_reference():
    assert op.validate_reference("op://Secrets/mlflow-secrets/password").field == "password"


# --- platform ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "system, libc, expected",
    [
        ("Linux", ("glibc", "2.31"), "needs glibc 2.32 or newer and this host has glibc 2.31"),
        ("Linux", ("glibc", "2.17"), "this host has glibc 2.17"),
        ("Linux", ("", ""), "is not glibc"),
        ("Linux", ("glibc", "2.32"), None),
        ("Linux", ("glibc", "2.36"), None),
        ("Linux", ("glibc", "3.0"), None),
        ("Darwin", ("", ""), None),
    ],
)
def test_glibc_problem(system, libc, expected):
    problem = op.glibc_problem(system=system, libc=libc)
    if expected is None:
        assert problem is None
    else:
        assert expected in problem and problem.startswith("Unsupported platform")


def test_this_host_passes_the_platform_check():
    # The host has glibc 2.36: the real detection (os.confstr) must find it acceptable.
    assert op._host_libc()[0] == "glibc"
    assert op.glibc_problem() is None


# --- messages -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "exc, kind, fragment",
    [
        (
            Exception("invalid user input: encountered the following errors: service account token was not specified"),
            op.TOKEN_MISSING,
            "set service_account_token or the OP_SERVICE_ACCOUNT_TOKEN environment variable",
        ),
        (
            Exception("invalid user input: encountered the following errors: service account token had invalid format"),
            op.TOKEN_MALFORMED,
            "token is malformed (service account token had invalid format)",
        ),
        (token_rejected(), op.TOKEN_REJECTED, "1Password rejected the service account token while listing vaults"),
        (rate_limited(), op.RATE_LIMITED, "rate limit exceeded while listing vaults; gave up after 2 attempt(s)"),
        (network_down(), op.NETWORK, "Could not reach 1Password while listing vaults; gave up after 2 attempt(s)"),
        (TimeoutError(), op.NETWORK, "no answer within the timeout"),
        (
            Exception("you don't have the right permissions to access this resource"),
            op.FORBIDDEN,
            "not allowed to do this while listing vaults",
        ),
        (Exception("something new"), op.OTHER, "1Password SDK error while listing vaults: something new"),
    ],
)
def test_describe_error_names_the_cause(exc, kind, fragment):
    error = op.describe_error(exc, "listing vaults", attempts=2)
    assert error.kind == kind
    assert fragment in str(error)


def test_messages_are_one_line_and_redact_tokens_and_secrets():
    exc = Exception(f"bad credentials, please retry:\n token {TOKEN} value {SECRET}\n")
    message = str(op.describe_error(exc, "authenticating", secrets={SECRET}))
    assert "\n" not in message
    assert TOKEN not in message and SECRET not in message
    assert "ops_<redacted>" in message and "<redacted>" in message


def test_pydantic_errors_never_quote_their_input():
    # pydantic quotes the rejected input, which would be item data (secret values).
    from onepassword.types import ItemField

    with pytest.raises(Exception) as err:  # noqa: B017 - whatever pydantic raises
        ItemField.model_validate({"id": "f", "title": "password", "fieldType": "Concealed", "value": [SECRET]})
    assert SECRET in str(err.value)
    message = str(op.describe_error(err.value, "reading item 'x'"))
    assert SECRET not in message
    assert "unexpected answer format" in message


@pytest.mark.parametrize(
    "retries, base, expected",
    [(0, 1.0, []), (3, 1.0, [1.0, 2.0, 4.0]), (6, 5.0, [5.0, 10.0, 20.0, 30.0, 30.0, 30.0]), (2, 0, [0, 0])],
)
def test_backoff_is_exponential_and_bounded(retries, base, expected):
    assert op.backoff_delays(retries, base) == expected


# --- retry policy ------------------------------------------------------------------------------
class Flaky:
    """An awaitable factory that raises ``failures`` in turn, then returns ``result``."""

    def __init__(self, failures, result="ok"):
        self.failures = list(failures)
        self.result = result
        self.calls = 0

    def __call__(self):
        self.calls += 1

        async def attempt():
            if self.failures:
                raise self.failures.pop(0)
            return self.result

        return attempt()


def session(retries=3, retry_delay=1.0, timeout=30):
    s = op.OnePasswordSession(TOKEN, timeout=timeout, retries=retries, retry_delay=retry_delay)
    s.slept = []

    async def sleep(seconds):
        s.slept.append(seconds)

    s.sleep = sleep
    return s


def test_rate_limit_is_retried_with_backoff_then_succeeds():
    s = session()
    flaky = Flaky([rate_limited(), rate_limited()])
    assert op.run(s.call("listing vaults", flaky)) == "ok"
    assert flaky.calls == 3 and s.calls == 3
    assert s.slept == [1.0, 2.0]


def test_rate_limit_gives_up_after_the_retries():
    s = session(retries=2)
    flaky = Flaky([rate_limited()] * 5)
    with pytest.raises(op.OnePasswordError) as err:
        op.run(s.call("listing vaults", flaky))
    assert err.value.kind == op.RATE_LIMITED
    assert "gave up after 3 attempt(s)" in str(err.value)
    assert flaky.calls == 3 and s.slept == [1.0, 2.0]


def test_a_rejected_token_is_not_retried():
    s = session()
    flaky = Flaky([token_rejected()])
    with pytest.raises(op.OnePasswordError) as err:
        op.run(s.call("authenticating", flaky))
    assert err.value.kind == op.TOKEN_REJECTED
    assert flaky.calls == 1 and s.slept == []


def test_a_call_that_hangs_times_out_and_is_retried():
    s = session(retries=1, retry_delay=0)
    s.timeout = 0.05

    def hang():
        return asyncio.sleep(5)

    with pytest.raises(op.OnePasswordError) as err:
        op.run(s.call("listing vaults", hang))
    assert err.value.kind == op.NETWORK
    assert "no answer within the timeout" in str(err.value) and s.calls == 2


# --- the real SDK, offline, no mock ------------------------------------------------------------
@pytest.mark.parametrize(
    "token, kind, fragment",
    [
        ("", op.TOKEN_MISSING, "No 1Password service account token"),
        (None, op.TOKEN_MISSING, "No 1Password service account token"),
        ("not-a-token-at-all-1234", op.TOKEN_MALFORMED, "token had invalid format"),
        ("ops_" + "QUJD" * 20, op.TOKEN_MALFORMED, "deserialization failed"),
        (TOKEN[:40] + "%%%", op.TOKEN_MALFORMED, "base64 decoding failed"),
    ],
)
def test_real_sdk_token_errors_are_clear_and_never_show_the_token(token, kind, fragment):
    s = op.OnePasswordSession(token, retries=0)
    with pytest.raises(op.OnePasswordError) as err:
        op.run(s.authenticate())
    message = str(err.value)
    assert err.value.kind == kind
    assert fragment in message
    assert "\n" not in message
    if token:
        assert token not in message and token[4:20] not in message
    assert s.calls == 1  # not retried


# --- field selection (real SDK types) ----------------------------------------------------------
@pytest.fixture
def item():
    account = FakeAccount(TOKEN)
    vault = account.add_vault("Secrets")
    return account.add_item(
        vault,
        "mlflow-secrets",
        [
            ("username", "mlflow-db-user"),
            ("password", SECRET),
            ("host", "pg.example", "db"),
            ("password", "db-" + SECRET, "db"),
            ("access_key", "AKIA-unit", "s3"),
        ],
        sections=[("db", "Database"), ("s3", "S3")],
    )


@pytest.mark.parametrize(
    "labels, section, expected",
    [
        (["username"], None, {"username": "mlflow-db-user"}),
        (["host", "username"], None, {"host": "pg.example", "username": "mlflow-db-user"}),
        (["password"], "Database", {"password": "db-" + SECRET}),
        (["password"], "db", {"password": "db-" + SECRET}),
        (None, "S3", {"access_key": "AKIA-unit"}),
        (None, "Database", {"host": "pg.example", "password": "db-" + SECRET}),
    ],
)
def test_select_fields(item, labels, section, expected):
    assert op.select_fields(item, labels, section, "Secrets") == expected


@pytest.mark.parametrize(
    "labels, section, kind, fragment",
    [
        (["pasword"], None, op.NOT_FOUND, "has no field 'pasword'; its fields are: username, password, Database/host"),
        (["username"], "S3", op.NOT_FOUND, "has no field 'username' in section 'S3'"),
        (["password"], None, op.AMBIGUOUS, "has 2 fields labelled 'password' (password, Database/password)"),
        (None, None, op.AMBIGUOUS, "has several fields labelled 'password'"),
        (["host"], "Nope", op.NOT_FOUND, "has no section 'Nope'; its sections are: Database, S3"),
    ],
)
def test_select_fields_errors_list_labels_never_values(item, labels, section, kind, fragment):
    with pytest.raises(op.OnePasswordError) as err:
        op.select_fields(item, labels, section, "Secrets")
    message = str(err.value)
    assert err.value.kind == kind
    assert message.startswith("Item 'mlflow-secrets' in vault 'Secrets'")
    assert fragment in message
    for field in item.fields:
        assert field.value not in message


def test_item_summary_has_change_markers_and_no_value(item):
    summary = op.item_summary(item)
    assert summary == {
        "id": item.id,
        "title": "mlflow-secrets",
        "vault_id": item.vault_id,
        "version": 1,
        "updated_at": "2026-11-20T09:14:03Z",
    }


# --- options ----------------------------------------------------------------------------------
def test_the_collection_version_is_read_from_galaxy_yml_or_the_manifest(tmp_path):
    from ansible_collections.apocrathia.mlflow.plugins.plugin_utils.collection import collection_version

    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    assert collection_version() == galaxy["version"]
    # An installed collection has MANIFEST.json (written by ansible-galaxy collection build) instead.
    (tmp_path / "MANIFEST.json").write_text('{"collection_info": {"version": "7.8.9"}}')
    assert collection_version(str(tmp_path)) == "7.8.9"
    with pytest.raises(ValueError):
        collection_version(str(tmp_path / "empty"))
    # No version is written in the module: without the action plugin it is unknown.
    assert "default" not in op.onepassword_argument_spec()["integration_version"]


def test_token_option_is_no_log_and_falls_back_to_the_environment():
    spec = op.onepassword_argument_spec()["service_account_token"]
    assert spec["no_log"] is True
    assert spec["fallback"][1] == ["OP_SERVICE_ACCOUNT_TOKEN"]
