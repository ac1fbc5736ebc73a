# -*- coding: utf-8 -*-
# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared 1Password SDK code: import guard, options, retries, error messages, references.

Every network call goes through ``OnePasswordSession.call``, which retries rate limits and
network failures with a bounded exponential backoff and turns every SDK error into a one-line
message that names the object and the cause, and never contains the token or a secret value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import os
import platform
import re
import traceback
from collections import namedtuple

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible_collections.apocrathia.mlflow.plugins.module_utils.backoff import backoff

ONEPASSWORD_IMPORT_ERROR = None
try:
    from onepassword import Client, RateLimitExceededException
    from onepassword.secrets import Secrets
except ImportError:
    HAS_ONEPASSWORD = False
    ONEPASSWORD_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_ONEPASSWORD = True

# Sent to 1Password when integration_version is not given; the onepassword_item action plugin
# gives the collection's version (plugin_utils/collection.py reads it from galaxy.yml).
UNKNOWN_VERSION = "unknown"
DEFAULT_INTEGRATION_NAME = "apocrathia.mlflow"
TOKEN_ENV = "OP_SERVICE_ACCOUNT_TOKEN"
MIN_GLIBC = (2, 32)
MAX_RETRY_DELAY = 30.0
ITEMS_GET_ALL_LIMIT = 50  # the SDK refuses more items per get_all call

# Error kinds. Only RETRYABLE ones are retried.
TOKEN_MISSING = "token_missing"
TOKEN_MALFORMED = "token_malformed"
TOKEN_REJECTED = "token_rejected"
RATE_LIMITED = "rate_limited"
NETWORK = "network"
FORBIDDEN = "forbidden"
PLATFORM = "platform"
REFERENCE = "reference"
NOT_FOUND = "not_found"
AMBIGUOUS = "ambiguous"
OTHER = "other"
RETRYABLE = (RATE_LIMITED, NETWORK)

# Matched against the lower-cased SDK message, first match wins. The SDK raises plain
# Exception for everything except rate limits, so its wording is all there is to go on.
_ERROR_PATTERNS = (
    (TOKEN_MISSING, ("token was not specified",)),
    (
        TOKEN_MALFORMED,
        (
            "token had invalid format",
            "base64 decoding failed",
            "deserialization failed",
            "invalid service account token",
        ),
    ),
    (
        TOKEN_REJECTED,
        (
            "bad service account token",
            "you are not authenticated",
            "failed to authenticate",
            "bad credentials",
            "session expired",
            "unauthorized",
        ),
    ),
    (RATE_LIMITED, ("rate limit",)),
    (FORBIDDEN, ("right permissions", "forbidden")),
    (
        NETWORK,
        (
            "failed connecting",
            "error sending request",
            "request timeout",
            "timed out",
            "connection",
            "dns error",
            "network",
            "internal server error",
            "server error",
        ),
    ),
    (PLATFORM, ("glibc", "architecture is not currently supported")),
)

_TOKEN_LIKE = re.compile(r"ops_[A-Za-z0-9+/=_-]{4,}")

Reference = namedtuple("Reference", ["vault", "item", "section", "field", "attribute"])


class OnePasswordError(Exception):
    """A failure already phrased for the user: one line, no token, no secret value."""

    def __init__(self, message, kind=OTHER):
        super(OnePasswordError, self).__init__(message)
        self.kind = kind


def onepassword_argument_spec():
    """Options shared by every module that talks to 1Password (doc fragment apocrathia.mlflow.onepassword)."""
    return dict(
        service_account_token=dict(type="str", no_log=True, fallback=(env_fallback, [TOKEN_ENV])),
        integration_name=dict(type="str", default=DEFAULT_INTEGRATION_NAME),
        integration_version=dict(type="str"),
        timeout=dict(type="int", default=30),
        retries=dict(type="int", default=3),
        retry_delay=dict(type="float", default=1.0),
    )


def one_line(text, secrets=()):
    """``text`` on one line, with every secret and anything shaped like a token redacted."""
    text = str(text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    text = _TOKEN_LIKE.sub("ops_<redacted>", text)
    return " ".join(text.split())


def _version_tuple(text):
    match = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def glibc_problem(system=None, libc=None):
    """Why this host cannot run the SDK's native core, or None when it can.

    ``libc`` is ``(name, version)`` as ``platform.libc_ver()`` returns it; both arguments exist
    for the tests and default to the running host.
    """
    system = platform.system() if system is None else system
    if system != "Linux":
        return None
    if libc is None:
        libc = _host_libc()
    name, version = libc
    if name != "glibc":
        return (
            "Unsupported platform: the 1Password SDK needs glibc {0}.{1} or newer and this host's C library "
            "is not glibc (for example musl on Alpine); run the module on a glibc-based host".format(*MIN_GLIBC)
        )
    found = _version_tuple(version)
    if found is not None and found < MIN_GLIBC:
        return (
            "Unsupported platform: the 1Password SDK needs glibc {0}.{1} or newer and this host has glibc {2}; "
            "run the module on a newer host (for example Debian 12, Ubuntu 22.04 or RHEL 10)".format(
                MIN_GLIBC[0], MIN_GLIBC[1], version
            )
        )
    return None


def _host_libc():
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        value = None
    if value and value.startswith("glibc "):
        return ("glibc", value.split(" ", 1)[1])
    return platform.libc_ver()


def check_requirements(module):
    """Fail the module when the platform or the SDK cannot work; return otherwise."""
    problem = glibc_problem()
    if problem:
        module.fail_json(msg=problem)
    if not HAS_ONEPASSWORD:
        module.fail_json(msg=missing_required_lib("onepassword-sdk"), exception=ONEPASSWORD_IMPORT_ERROR)


def parse_reference(reference):
    """Split ``op://vault/item[/section]/field[?attribute=x]``; raise OnePasswordError if malformed.

    This only checks the shape; ``validate_reference`` adds the SDK's own (offline) validation.
    """
    shape = "op://<vault>/<item>/[<section>/]<field>"
    if not isinstance(reference, str) or not reference.startswith("op://"):
        raise OnePasswordError(
            "Malformed secret reference '{0}': it must start with op:// ({1})".format(reference, shape), REFERENCE
        )
    path, _sep, query = reference[len("op://") :].partition("?")
    parts = path.split("/")
    if len(parts) not in (3, 4) or not all(parts):
        raise OnePasswordError(
            "Malformed secret reference '{0}': expected {1}, with no empty part".format(reference, shape), REFERENCE
        )
    attribute = None
    if query:
        key, _sep, attribute = query.partition("=")
        if key != "attribute" or not attribute:
            raise OnePasswordError(
                "Malformed secret reference '{0}': the only query allowed is ?attribute=<name>".format(reference),
                REFERENCE,
            )
    section = parts[2] if len(parts) == 4 else None
    return Reference(parts[0], parts[1], section, parts[-1], attribute)


def validate_reference(reference):
    """``parse_reference`` plus the SDK's offline validation (character set, query keys)."""
    parsed = parse_reference(reference)
    try:
        Secrets.validate_secret_reference(reference)
    except Exception as exc:  # noqa: BLE001 - the SDK raises plain Exception
        reason = one_line(exc)
        reason = reason.split("could not be parsed: ", 1)[-1].rstrip("}")  # the SDK's message ends in a stray }
        raise OnePasswordError("Malformed secret reference '{0}': {1}".format(reference, reason), REFERENCE) from None
    return parsed


def classify_error(exc):
    """The kind of an SDK (or asyncio) exception, one of the kind constants above."""
    if HAS_ONEPASSWORD and isinstance(exc, RateLimitExceededException):
        return RATE_LIMITED
    if isinstance(exc, asyncio.TimeoutError):
        return NETWORK
    text = str(exc).lower()
    for kind, needles in _ERROR_PATTERNS:
        if any(needle in text for needle in needles):
            return kind
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return NETWORK
    return OTHER


def describe_error(exc, what, attempts=1, secrets=()):
    """One line for the user about ``exc``, raised while ``what`` (e.g. "listing vaults")."""
    kind = classify_error(exc)
    reason = one_line(exc, secrets) or type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError):
        reason = "no answer within the timeout"
    elif type(exc).__name__ == "ValidationError":
        # pydantic quotes the input it rejected, which may hold secret values.
        reason = "unexpected answer format (is onepassword-sdk too old or too new?)"
    elif len(reason) > 300:
        reason = reason[:300] + "..."
    if kind == TOKEN_MISSING:
        msg = "No 1Password service account token: set service_account_token or the {0} environment variable".format(
            TOKEN_ENV
        )
    elif kind == TOKEN_MALFORMED:
        detail = reason.rsplit(": ", 1)[-1]
        msg = (
            "The 1Password service account token is malformed ({0}); "
            "pass the complete token of a service account, which starts with 'ops_'".format(detail)
        )
    elif kind == TOKEN_REJECTED:
        msg = "1Password rejected the service account token while {0} (revoked, expired or wrong account): {1}".format(
            what, reason
        )
    elif kind == RATE_LIMITED:
        msg = "1Password rate limit exceeded while {0}; gave up after {1} attempt(s)".format(what, attempts)
    elif kind == NETWORK:
        msg = "Could not reach 1Password while {0}; gave up after {1} attempt(s): {2}".format(what, attempts, reason)
    elif kind == FORBIDDEN:
        msg = "The service account is not allowed to do this while {0}: {1}".format(what, reason)
    elif kind == PLATFORM:
        msg = "Unsupported platform for the 1Password SDK: {0}".format(reason)
    else:
        msg = "1Password SDK error while {0}: {1}".format(what, reason)
    return OnePasswordError(one_line(msg, secrets), kind)


def backoff_delays(retries, base, cap=MAX_RETRY_DELAY):
    """The waits before retry 1..retries: base, 2*base, 4*base, ... each at most ``cap`` (module_utils/backoff)."""
    return [backoff(attempt, base, cap) for attempt in range(1, max(retries, 0) + 1)]


class OnePasswordSession:
    """One authenticated SDK client and the retry policy for every call made with it."""

    def __init__(
        self,
        token,
        integration_name=DEFAULT_INTEGRATION_NAME,
        integration_version=None,
        timeout=30,
        retries=3,
        retry_delay=1.0,
        secrets=None,
    ):
        self._token = token or ""
        self.integration_name = integration_name
        self.integration_version = integration_version or UNKNOWN_VERSION
        self.timeout = timeout
        self.delays = backoff_delays(retries, retry_delay)
        # Values to redact from messages; the caller's no-log set can be passed in so that
        # values learned during the run are redacted as well.
        self.secrets = secrets if secrets is not None else set()
        if self._token:
            self.secrets.add(self._token)
        self.client = None
        self.calls = 0  # SDK round trips, attempts included (reported for audit)
        self.sleep = asyncio.sleep

    async def call(self, what, factory):
        """Await ``factory()`` with the timeout, retrying rate limits and network failures."""
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                return await asyncio.wait_for(factory(), self.timeout)
            except OnePasswordError:
                raise
            except Exception as exc:  # noqa: BLE001 - the SDK raises plain Exception
                kind = classify_error(exc)
                if kind not in RETRYABLE or attempt > len(self.delays):
                    raise describe_error(exc, what, attempt, self.secrets) from None
                await self.sleep(self.delays[attempt - 1])

    async def authenticate(self):
        self.client = await self.call(
            "authenticating",
            lambda: Client.authenticate(self._token, self.integration_name, self.integration_version),
        )
        return self.client


def run(coroutine):
    """Run a coroutine to completion from synchronous module code."""
    return asyncio.run(coroutine)


def _labels(names, limit=30):
    names = list(names)
    shown = ", ".join(names[:limit]) or "none"
    if len(names) > limit:
        shown += ", ... ({0} in all)".format(len(names))
    return shown


def _match(objects, wanted, kind, where):
    """The one object whose id, else title, equals ``wanted``; OnePasswordError if none or several."""
    matches = [o for o in objects if o.id == wanted] or [o for o in objects if o.title == wanted]
    if len(matches) > 1:
        raise OnePasswordError(
            "More than one {0} is titled '{1}' {2} (ids {3}); use the {0} ID".format(
                kind, wanted, where, ", ".join(o.id for o in matches)
            ),
            AMBIGUOUS,
        )
    return matches[0] if matches else None


async def find_vault(session, vault):
    vaults = await session.call("listing vaults", lambda: session.client.vaults.list())
    found = _match(vaults, vault, "vault", "among the service account's vaults")
    if found is None:
        raise OnePasswordError(
            "Vault '{0}' not found or not shared with the service account; it can read: {1}".format(
                vault, _labels(v.title for v in vaults)
            ),
            NOT_FOUND,
        )
    return found


async def find_item(session, vault, item):
    """(vault overview, full Item) for ``item`` (title or ID) of ``vault`` (title or ID): three round trips."""
    found_vault = await find_vault(session, vault)
    where = "in vault '{0}'".format(found_vault.title)
    overviews = await session.call(
        "listing items in vault '{0}'".format(found_vault.title),
        lambda: session.client.items.list(found_vault.id),
    )
    # Archived items are not readable through the SDK; do not let them make a title ambiguous.
    overviews = [o for o in overviews if getattr(o.state, "value", o.state) == "active"]
    overview = _match(overviews, item, "item", where)
    if overview is None:
        raise OnePasswordError("Item '{0}' not found in vault '{1}'".format(item, found_vault.title), NOT_FOUND)
    full = await session.call(
        "reading item '{0}' in vault '{1}'".format(overview.title, found_vault.title),
        lambda: session.client.items.get(found_vault.id, overview.id),
    )
    return found_vault, full


def field_label(field, sections):
    """How a field is named in messages: its label, prefixed by its section's title if any."""
    section = sections.get(field.section_id) if field.section_id else None
    return "{0}/{1}".format(section, field.title) if section else field.title


def select_fields(item, labels=None, section=None, vault_title=None):
    """{label: value} for ``labels`` (all fields when None) of ``item``, optionally in ``section``.

    A label matches a field's label, else its ID. Errors name the item and list the item's
    field labels, never a value.
    """
    sections = dict((s.id, s.title) for s in item.sections)
    where = "Item '{0}' in vault '{1}'".format(item.title, vault_title or item.vault_id)
    scope = list(item.fields)
    if section is not None:
        section_ids = [s.id for s in item.sections if s.id == section] or [
            s.id for s in item.sections if s.title == section
        ]
        if not section_ids:
            raise OnePasswordError(
                "{0} has no section '{1}'; its sections are: {2}".format(
                    where, section, _labels(s.title or s.id for s in item.sections)
                ),
                NOT_FOUND,
            )
        scope = [f for f in scope if f.section_id in section_ids]
    available = _labels(field_label(f, sections) for f in item.fields)

    if labels is None:
        by_label = {}
        for field in scope:
            by_label.setdefault(field.title or field.id, []).append(field)
        duplicates = sorted(label for label, fields in by_label.items() if len(fields) > 1)
        if duplicates:
            raise OnePasswordError(
                "{0} has several fields labelled {1}; set section or list the fields to read".format(
                    where, ", ".join("'{0}'".format(d) for d in duplicates)
                ),
                AMBIGUOUS,
            )
        return dict((label, fields[0].value) for label, fields in by_label.items())

    result = {}
    missing = []
    for label in labels:
        matches = [f for f in scope if f.title == label] or [f for f in scope if f.id == label]
        if not matches:
            missing.append(label)
        elif len(matches) > 1:
            raise OnePasswordError(
                "{0} has {1} fields labelled '{2}' ({3}); set section, or rename the fields in 1Password".format(
                    where, len(matches), label, _labels(field_label(f, sections) for f in matches)
                ),
                AMBIGUOUS,
            )
        else:
            result[label] = matches[0].value
    if missing:
        raise OnePasswordError(
            "{0} has no field {1}{2}; its fields are: {3}".format(
                where,
                ", ".join("'{0}'".format(m) for m in missing),
                " in section '{0}'".format(section) if section is not None else "",
                available,
            ),
            NOT_FOUND,
        )
    return result


def item_summary(item):
    """The item's identity and change markers; nothing secret."""
    updated = item.updated_at
    updated_at = updated.isoformat() + ("Z" if updated.tzinfo is None else "")
    return dict(id=item.id, title=item.title, vault_id=item.vault_id, version=item.version, updated_at=updated_at)


async def read_item(session, vault, item, labels=None, section=None):
    """(fields, [summary]) for one item: authenticate + 3 round trips, whatever the number of fields."""
    await session.authenticate()
    found_vault, full = await find_item(session, vault, item)
    return select_fields(full, labels, section, found_vault.title), [item_summary(full)]


_REFERENCE_ERRORS = {
    "parsing": (REFERENCE, "Malformed secret reference '{ref}'"),
    "vaultNotFound": (
        NOT_FOUND,
        "Vault '{vault}' not found or not shared with the service account (reference '{ref}')",
    ),
    "tooManyVaults": (AMBIGUOUS, "More than one vault matches '{vault}' (reference '{ref}'); use the vault ID"),
    "itemNotFound": (NOT_FOUND, "Item '{item}' not found in vault '{vault}' (reference '{ref}')"),
    "tooManyItems": (
        AMBIGUOUS,
        "More than one item matches '{item}' in vault '{vault}' (reference '{ref}'); use the item ID",
    ),
    "noMatchingSections": (NOT_FOUND, "Item '{item}' has no section '{section}' (reference '{ref}')"),
    "fieldNotFound": (NOT_FOUND, "Item '{item}' has no field '{field}' (reference '{ref}')"),
    "tooManyMatchingFields": (
        AMBIGUOUS,
        "Item '{item}' has several fields labelled '{field}' (reference '{ref}'); add the section to the reference "
        "or rename the fields in 1Password",
    ),
}


async def _reference_error(session, ref, parsed, error):
    kind_name = getattr(error.type, "value", error.type)
    kind, template = _REFERENCE_ERRORS.get(
        kind_name, (OTHER, "Could not resolve secret reference '{ref}' (%s)" % kind_name)
    )
    msg = template.format(ref=ref, vault=parsed.vault, item=parsed.item, section=parsed.section, field=parsed.field)
    if getattr(error, "message", None):
        msg += ": " + one_line(error.message, session.secrets)
    if kind_name == "fieldNotFound":
        # Worth three more round trips on this failure path: the user needs the labels.
        try:
            _vault, item = await find_item(session, parsed.vault, parsed.item)
        except OnePasswordError:
            pass
        else:
            sections = dict((s.id, s.title) for s in item.sections)
            msg += "; its fields are: " + _labels(field_label(f, sections) for f in item.fields)
    return OnePasswordError(one_line(msg, session.secrets), kind)


async def read_references(session, references, on_secret=None):
    """(fields keyed by reference, [summary per item]) for ``references``.

    Round trips: authenticate, one resolve_all for all references, then one items.get_all per
    vault involved (run concurrently) for the items' versions. ``on_secret`` is called with each
    value as soon as it is known (to register it with the no-log set).
    """
    parsed = dict((ref, validate_reference(ref)) for ref in references)  # offline, before authenticating
    await session.authenticate()
    refs = list(parsed)
    response = await session.call(
        "resolving {0} secret reference(s)".format(len(refs)),
        lambda: session.client.secrets.resolve_all(refs),
    )
    fields = {}
    item_ids = {}
    errors = []
    for ref in refs:
        answer = response.individual_responses.get(ref)
        if answer is None or (answer.content is None and answer.error is None):
            errors.append(OnePasswordError("1Password returned no answer for secret reference '{0}'".format(ref)))
        elif answer.error is not None:
            errors.append(await _reference_error(session, ref, parsed[ref], answer.error))
        else:
            fields[ref] = answer.content.secret
            if on_secret:
                on_secret(answer.content.secret)
            item_ids.setdefault(answer.content.vault_id, set()).add(answer.content.item_id)
    if errors:
        raise OnePasswordError("; ".join(str(e) for e in errors), errors[0].kind)

    async def get_all(vault_id, ids):
        return await session.call(
            "reading {0} item(s) of vault {1}".format(len(ids), vault_id),
            lambda: session.client.items.get_all(vault_id, ids),
        )

    batches = []
    for vault_id, ids in sorted(item_ids.items()):
        ids = sorted(ids)
        for start in range(0, len(ids), ITEMS_GET_ALL_LIMIT):
            batches.append(get_all(vault_id, ids[start : start + ITEMS_GET_ALL_LIMIT]))
    summaries = []
    for answer in await asyncio.gather(*batches):
        for single in answer.individual_responses:
            if single.content is not None:
                summaries.append(item_summary(single.content))
    return fields, summaries
