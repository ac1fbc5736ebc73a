"""A 1Password account in memory, behind the SDK's client boundary.

Only the network-bound part of onepassword-sdk is replaced: ``Client.authenticate`` returns a
``FakeClient`` whose ``vaults``, ``items`` and ``secrets`` APIs answer from memory with the SDK's
own pydantic types (built from the same JSON shapes the SDK core sends), and raise the SDK's own
exceptions. Everything offline (token parsing, reference validation) stays the real SDK's.

Use it in a test with ``FakeAccount(...).patch(monkeypatch)``, or in another process (an
AnsiballZ module) through ``sitecustomize`` and ``install_from_env()`` (see
``tests/integration/test_onepassword_item_playbook.py``).
"""

import hashlib
import json
import os

import onepassword
from onepassword import RateLimitExceededException
from onepassword.types import (
    Item,
    ItemOverview,
    ItemsGetAllResponse,
    ResolveAllResponse,
    VaultOverview,
)

ACCOUNT_ENV = "FAKE_ONEPASSWORD_ACCOUNT"  # path of a JSON spec, for install_from_env()
CREATED = "2026-11-01T10:00:00Z"
UPDATED = "2026-11-20T09:14:03Z"


def fake_id(*names):
    """A stable 26-character ID like 1Password's, derived from ``names``."""
    digest = hashlib.sha256("/".join(names).encode()).hexdigest()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(alphabet[int(digest[i : i + 2], 16) % 32] for i in range(0, 52, 2))


def rate_limited():
    """The exception the SDK raises on HTTP 429."""
    return RateLimitExceededException("rate limit exceeded")


def network_down():
    # Wording taken from the SDK core's error strings (op_uniffi_core); it raises plain Exception.
    return Exception("error sending request: failed connecting to host: Connection refused (os error 111)")


def token_rejected():
    return Exception("failed to authenticate: bad service account token, please rotate it")


FAILURES = {"rate_limited": rate_limited, "network_down": network_down, "token_rejected": token_rejected}


class FakeAccount:
    """Vaults and items a service account can read, and a log of the SDK calls made."""

    def __init__(self, token):
        self.token = token
        self._vaults = []  # VaultOverview JSON
        self._items = {}  # vault id -> [Item JSON]
        self._failures = {}  # "api.method" -> [exception, ...] raised by the next calls
        self.calls = []  # ("api.method", args): no secret in args
        self.authenticated_with = None  # (integration_name, integration_version)

    # --- building the account -------------------------------------------------------------
    def add_vault(self, title, vault_id=None):
        vault_id = vault_id or fake_id(title)
        self._vaults.append(
            {
                "id": vault_id,
                "title": title,
                "description": "",
                "vaultType": "userCreated",
                "activeItemCount": 0,
                "contentVersion": 1,
                "attributeVersion": 1,
                "createdAt": CREATED,
                "updatedAt": UPDATED,
            }
        )
        self._items[vault_id] = []
        return vault_id

    def add_item(self, vault_id, title, fields, sections=(), item_id=None, version=1, archived=False):
        """``fields``: (label, value) or (label, value, section_id); ``sections``: (id, title)."""
        item_id = item_id or fake_id(vault_id, title, str(len(self._items[vault_id])))
        item = {
            "id": item_id,
            "title": title,
            "category": "Login",
            "vaultId": vault_id,
            "fields": [
                {
                    "id": "{}-{}".format(f[0], index) if len(f) > 2 else f[0],
                    "title": f[0],
                    "sectionId": f[2] if len(f) > 2 else None,
                    "fieldType": "Concealed" if "pass" in f[0] else "Text",
                    "value": f[1],
                }
                for index, f in enumerate(fields)
            ],
            "sections": [{"id": s[0], "title": s[1]} for s in sections],
            "notes": "",
            "tags": [],
            "websites": [],
            "version": version,
            "files": [],
            "createdAt": CREATED,
            "updatedAt": UPDATED,
            "state": "archived" if archived else "active",  # ItemOverview only; Item ignores it
        }
        self._items[vault_id].append(item)
        return Item.model_validate(item)

    def fail(self, method, *exceptions):
        """Make the next calls of ``method`` ("secrets.resolve_all", "authenticate", ...) raise."""
        self._failures.setdefault(method, []).extend(exceptions)

    @classmethod
    def from_spec(cls, spec):
        """Build from JSON: {token, vaults: [{title, id?, items: [{title, id?, version?, sections?,
        fields: [[label, value, section_id?], ...]}]}], failures: {method: ["rate_limited", ...]}}."""
        account = cls(spec["token"])
        for vault in spec.get("vaults", []):
            vault_id = account.add_vault(vault["title"], vault.get("id"))
            for item in vault.get("items", []):
                account.add_item(
                    vault_id,
                    item["title"],
                    [tuple(f) for f in item["fields"]],
                    sections=[tuple(s) for s in item.get("sections", [])],
                    item_id=item.get("id"),
                    version=item.get("version", 1),
                )
        for method, names in spec.get("failures", {}).items():
            account.fail(method, *(FAILURES[name]() for name in names))
        return account

    # --- installing it ----------------------------------------------------------------------
    def patch(self, monkeypatch):
        """Route ``onepassword.Client.authenticate`` to this account for one test."""
        monkeypatch.setattr(onepassword.Client, "authenticate", staticmethod(self.authenticate))
        return self

    def install(self):
        """Route ``onepassword.Client.authenticate`` to this account for the whole process."""
        onepassword.Client.authenticate = staticmethod(self.authenticate)
        return self

    # --- the client boundary ------------------------------------------------------------------
    def _record(self, method, *args):
        self.calls.append((method, args))
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    def count(self, method=None):
        return len([c for c in self.calls if method is None or c[0] == method])

    async def authenticate(self, auth, integration_name, integration_version):
        self._record("authenticate", integration_name, integration_version)
        if auth != self.token:
            raise token_rejected()
        self.authenticated_with = (integration_name, integration_version)
        return FakeClient(self)

    def find_vault(self, ref):
        return [v for v in self._vaults if v["id"] == ref] or [v for v in self._vaults if v["title"] == ref]

    def find_item(self, vault_id, ref):
        items = self._items.get(vault_id, [])
        return [i for i in items if i["id"] == ref] or [i for i in items if i["title"] == ref]


class FakeClient:
    def __init__(self, account):
        self.vaults = FakeVaults(account)
        self.items = FakeItems(account)
        self.secrets = FakeSecrets(account)


class FakeVaults:
    def __init__(self, account):
        self._account = account

    async def list(self, params=None):
        self._account._record("vaults.list")
        return [VaultOverview.model_validate(v) for v in self._account._vaults]


class FakeItems:
    def __init__(self, account):
        self._account = account

    async def list(self, vault_id, *filters):
        self._account._record("items.list", vault_id)
        if vault_id not in self._account._items:
            raise Exception("vault couldn't be found")
        keys = ("id", "title", "category", "vaultId", "websites", "tags", "createdAt", "updatedAt", "state")
        return [ItemOverview.model_validate({k: i[k] for k in keys}) for i in self._account._items[vault_id]]

    async def get(self, vault_id, item_id):
        self._account._record("items.get", vault_id, item_id)
        found = [i for i in self._account._items.get(vault_id, []) if i["id"] == item_id]
        if not found:
            raise Exception("item couldn't be found")
        return Item.model_validate(found[0])

    async def get_all(self, vault_id, item_ids):
        self._account._record("items.get_all", vault_id, tuple(item_ids))
        if len(item_ids) > 50:
            raise Exception("invalid user input: you can only retrieve up to 50 items at once")
        answers = []
        for item_id in item_ids:
            found = [i for i in self._account._items.get(vault_id, []) if i["id"] == item_id]
            answers.append({"content": found[0]} if found else {"error": {"type": "itemNotFound"}})
        return ItemsGetAllResponse.model_validate({"individualResponses": answers})


class FakeSecrets:
    def __init__(self, account):
        self._account = account

    async def resolve(self, secret_reference):
        self._account._record("secrets.resolve", secret_reference)
        answer = self._resolve_one(secret_reference)
        if "error" in answer:
            raise Exception("error resolving secret reference: " + answer["error"]["type"])
        return answer["content"]["secret"]

    async def resolve_all(self, secret_references):
        self._account._record("secrets.resolve_all", tuple(secret_references))
        answers = {ref: self._resolve_one(ref) for ref in secret_references}
        # Through JSON, as the SDK does: the result has exactly the SDK's types.
        return ResolveAllResponse.model_validate_json(json.dumps({"individualResponses": answers}))

    def _resolve_one(self, ref):
        def error(kind, **extra):
            return {"error": dict({"type": kind}, **extra)}

        if not ref.startswith("op://"):
            return error("parsing", message='secret reference is not prefixed with "op://"')
        parts = ref[len("op://") :].split("?")[0].split("/")
        if len(parts) not in (3, 4):
            return error("parsing", message="secret reference has invalid format")
        vaults = self._account.find_vault(parts[0])
        if not vaults:
            return error("vaultNotFound")
        if len(vaults) > 1:
            return error("tooManyVaults")
        items = self._account.find_item(vaults[0]["id"], parts[1])
        if not items:
            return error("itemNotFound")
        if len(items) > 1:
            return error("tooManyItems")
        item = items[0]
        scope = item["fields"]
        if len(parts) == 4:
            sections = [s["id"] for s in item["sections"] if parts[2] in (s["id"], s["title"])]
            if not sections:
                return error("noMatchingSections")
            scope = [f for f in scope if f["sectionId"] in sections]
        fields = [f for f in scope if f["id"] == parts[-1]] or [f for f in scope if f["title"] == parts[-1]]
        if not fields:
            return error("fieldNotFound")
        if len(fields) > 1:
            return error("tooManyMatchingFields")
        return {"content": {"secret": fields[0]["value"], "itemId": item["id"], "vaultId": item["vaultId"]}}


def install_from_env():
    """Install the account described by the JSON file $FAKE_ONEPASSWORD_ACCOUNT, if set."""
    path = os.environ.get(ACCOUNT_ENV)
    if not path:
        return None
    with open(path) as handle:
        return FakeAccount.from_spec(json.load(handle)).install()


# Loaded by every Python process started with the environment below (Python imports a
# ``sitecustomize`` module found on PYTHONPATH at start-up), so AnsiballZ module processes
# get the fake account while the SDK's offline code stays real.
SITECUSTOMIZE = """\
import os
import sys

sys.path.append(os.environ["FAKE_ONEPASSWORD_REPO"])
try:
    from tests.unit.fakes.onepassword_sdk import install_from_env
except ImportError:  # an interpreter without onepassword-sdk: nothing to fake
    pass
else:
    install_from_env()
"""


def fake_service_account_token(label):
    """A service account token for tests: the shape of a real one (``ops_`` and base64 JSON),
    built at run time so that no token-shaped literal sits in the repository."""
    import base64

    claims = json.dumps({"signInAddress": f"{label}.example.invalid"}, separators=(",", ":")).encode()
    return "ops_" + base64.urlsafe_b64encode(claims).decode().rstrip("=") + f"-{label}-fake-token"


def vault_account(token, items, vault="Secrets"):
    """An account spec (for ``FakeAccount.from_spec``/``out_of_process_env``): one vault with ``items``."""
    return {"token": token, "vaults": [{"title": vault, "items": items}]}


def mlflow_secrets_item(username, password, version=1):
    """The seed's item: ``mlflow-secrets`` with the fields ``username`` and ``password``."""
    return {"title": "mlflow-secrets", "version": version, "fields": [["username", username], ["password", password]]}


def out_of_process_env(workdir, account_spec, repo_root=None):
    """Environment that installs the account ``account_spec`` (JSON-able) in child processes.

    Writes ``workdir/site/sitecustomize.py`` and ``workdir/account.json``; merge the returned
    variables into the environment of ansible-playbook (or ansible-runner).
    """
    from pathlib import Path

    if repo_root is None:
        repo_root = Path(__file__).resolve().parents[3]
    workdir = Path(workdir)
    (workdir / "site").mkdir(parents=True, exist_ok=True)
    (workdir / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (workdir / "account.json").write_text(json.dumps(account_spec))
    return {
        "PYTHONPATH": str(workdir / "site"),
        "FAKE_ONEPASSWORD_REPO": str(repo_root),
        ACCOUNT_ENV: str(workdir / "account.json"),
    }
