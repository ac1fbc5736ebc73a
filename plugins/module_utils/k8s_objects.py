# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Compare a manifest with the live object, on the client, the way a merge patch would see it.

A manifest is in sync when applying it would change nothing: every field it sets already has
that value in the live object. Fields only the live object has (server defaults, status,
other controllers' labels) do not count. Lists must match element by element, because a
patch replaces or merges them whole.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re
from decimal import Decimal, InvalidOperation

# Kubernetes resource.Quantity suffixes: the API server rewrites quantities in canonical form
# (1000m -> 1, 1024Mi -> 1Gi), so "1024Mi" in a manifest and "1Gi" in the cluster are equal.
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_MULTIPLIERS = {None: Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3")}
_MULTIPLIERS.update((suffix, Decimal(10) ** (3 * power)) for power, suffix in enumerate("kMGTPE", 1))
_MULTIPLIERS.update((suffix + "i", Decimal(2) ** (10 * power)) for power, suffix in enumerate("KMGTPE", 1))


def quantity_value(text):
    """The number a Kubernetes quantity string stands for, or None when it is not one."""
    if not isinstance(text, str):
        return None
    match = _QUANTITY.match(text)
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _MULTIPLIERS[match.group(2)]
    except InvalidOperation:
        return None


def _scalars_equal(desired, live):
    if desired == live and type(desired) is type(live):
        return True
    # YAML and JSON disagree on 1 vs 1.0, and bool is an int in Python: compare numbers as numbers only.
    numbers = (int, float)
    if (
        isinstance(desired, numbers)
        and isinstance(live, numbers)
        and not isinstance(desired, bool)
        and not isinstance(live, bool)
    ):
        return desired == live
    if isinstance(desired, str) and isinstance(live, str) and desired != live:
        want, have = quantity_value(desired), quantity_value(live)
        # Only strings with a unit or a fraction: "5" and "05" are names or ports, not quantities.
        return want is not None and want == have and not (desired.isdigit() and live.isdigit())
    return False


def _asks_only_for_absence(value):
    """null deletes a field in a merge patch, and an empty map adds nothing: an absent field is what they ask for."""
    if value is None:
        return True
    return isinstance(value, dict) and all(_asks_only_for_absence(v) for v in value.values())


def differences(desired, live, path=""):
    """Dotted paths where ``live`` does not hold what ``desired`` sets; empty when in sync."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [path or "."]
        found = []
        for key in sorted(desired):
            child = "{0}.{1}".format(path, key) if path else str(key)
            if key not in live:
                if not _asks_only_for_absence(desired[key]):
                    found.append(child)
                continue
            found.extend(differences(desired[key], live[key], child))
        return found
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return [path or "."]
        found = []
        for index, (want, have) in enumerate(zip(desired, live)):  # noqa: B905 - lengths checked above
            found.extend(differences(want, have, "{0}[{1}]".format(path, index)))
        return found
    return [] if _scalars_equal(desired, live) else [path or "."]


def changed_paths(before, after, path=""):
    """Dotted paths where two objects differ either way: a field added, changed or removed."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            child = "{0}.{1}".format(path, key) if path else str(key)
            if key not in before or key not in after:
                found.append(child)
            else:
                found.extend(changed_paths(before[key], after[key], child))
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for index, (old, new) in enumerate(zip(before, after)):  # noqa: B905 - lengths checked above
            found.extend(changed_paths(old, new, "{0}[{1}]".format(path, index)))
        return found
    return [] if before == after and type(before) is type(after) else [path or "."]


def comparable(definition):
    """The manifest as the API server stores it: a Secret's stringData becomes base64 data."""
    if definition.get("kind") != "Secret" or not definition.get("stringData"):
        return definition
    result = dict(definition)
    data = dict(result.get("data") or {})
    for key, value in result.pop("stringData").items():
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        data[key] = base64.b64encode(raw).decode("ascii")
    result["data"] = data
    return result


def without_managed_fields(obj):
    """A live object without metadata.managedFields, which is bulky and never compared."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        obj = dict(obj)
        obj["metadata"] = {k: v for k, v in metadata.items() if k != "managedFields"}
    return obj


def object_not_found(body, name):
    """Whether a 404 answer says that object ``name`` does not exist (its Status names it), rather
    than that the server does not serve the kind at all."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body or "")
    except ValueError:
        return False
    details = status.get("details") if isinstance(status, dict) else None
    return isinstance(details, dict) and details.get("name") == name


def object_ref(kind, name, namespace):
    """'Kind namespace/name', or 'Kind name' for a cluster-scoped object."""
    return "{0} {1}{2}".format(kind, namespace + "/" if namespace else "", name)


def describe(api_version, kind, name, namespace):
    where = "{0}/{1}".format(namespace, name) if namespace else (name or "")
    return "{0} {1} ({2})".format(kind, where, api_version).replace("  ", " ")
