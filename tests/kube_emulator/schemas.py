"""Schemas: core types from kubernetes-validate, custom types from their CRD's openAPIV3Schema.

One walker serves pruning, defaulting and the list semantics that patching needs; jsonschema does
the validation proper.
"""

import copy
import json
import re
from importlib.resources import files

import jsonschema
from referencing import Registry, Resource

from .version import SCHEMA_VERSION as K8S_SCHEMA_VERSION

_DEFS_URI = "https://kubernetes.io/api/_definitions.json"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Kinds whose names must be DNS labels rather than subdomains.
_LABEL_NAMED = {"Namespace", "Service"}


def field_path(parts):
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _quote(value):
    return json.dumps(value) if isinstance(value, (str, int, float, bool)) else f'"{type(value).__name__}"'


class Cause(dict):
    """A StatusCause: reason, message and field."""

    def __init__(self, reason, field, message):
        super().__init__(reason=reason, field=field, message=message)


class Schemas:
    def __init__(self, version=K8S_SCHEMA_VERSION):
        base = files("kubernetes_validate") / "kubernetes-json-schema" / f"{version}-local"
        self.version = version
        self.document = json.loads((base / "_definitions.json").read_text())
        self.defs = self.document["$defs"]
        self.by_gvk = {}
        for name, node in self.defs.items():
            for gvk in node.get("x-kubernetes-group-version-kind", ()):
                self.by_gvk.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
        self.registry = Registry().with_resource(_DEFS_URI, Resource.from_contents(self.document))
        self._crd_verdicts = {}  # CRD manifest -> causes: the same big files are loaded in every test

    # -- navigation ---------------------------------------------------------------------------
    def resolve(self, node):
        while node and "$ref" in node:
            node = self.defs[node["$ref"].rsplit("/", 1)[-1]]
        return node or {}

    def root(self, rt):
        """The schema node of a whole object of this type (None when none is known)."""
        if "root" not in rt.cache:
            rt.cache["root"] = self._build_root(rt)
        return rt.cache["root"]

    def _build_root(self, rt):
        if rt.schema is None:
            name = self.by_gvk.get((rt.group, rt.version, rt.kind))
            return {"$ref": f"#/$defs/{name}"} if name else None
        schema = _structural(copy.deepcopy(rt.schema))
        props = schema.setdefault("properties", {})
        props["metadata"] = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        return schema

    def child(self, node, key):
        node = self.resolve(node)
        props = node.get("properties") or {}
        if key in props:
            return props[key]
        extra = node.get("additionalProperties")
        return extra if isinstance(extra, dict) else None

    def items(self, node):
        return self.resolve(node).get("items") if node else None

    def list_keys(self, node, strategic=False):
        """Merge keys of a list of maps: SMP's patch-merge-key, or SSA's list-map-keys."""
        node = self.resolve(node)
        if strategic:
            if "merge" in node.get("x-kubernetes-patch-strategy", "") and node.get("x-kubernetes-patch-merge-key"):
                return [node["x-kubernetes-patch-merge-key"]]
            return None
        if node.get("x-kubernetes-list-type") == "map":
            return list(node.get("x-kubernetes-list-map-keys") or [])
        return None

    def is_set(self, node, strategic=False):
        node = self.resolve(node)
        if strategic:
            return "merge" in node.get("x-kubernetes-patch-strategy", "") and not node.get(
                "x-kubernetes-patch-merge-key"
            )
        return node.get("x-kubernetes-list-type") == "set"

    # -- pruning and defaulting -----------------------------------------------------------------
    def prune(self, obj, node, remove=True, _path=()):
        """Unknown field paths of obj under node; removed from obj when remove is true."""
        unknown = []
        node = self.resolve(node)
        if not node:
            return unknown
        if isinstance(obj, dict):
            props = node.get("properties")
            extra = node.get("additionalProperties")
            preserve = node.get("x-kubernetes-preserve-unknown-fields")
            if props is None and extra is None:
                return unknown  # an open object (RawExtension, preserved CRD subtree)
            for key in list(obj):
                sub = (props or {}).get(key)
                if sub is None and isinstance(extra, dict):
                    sub = extra
                if sub is not None:
                    unknown += self.prune(obj[key], sub, remove, _path + (key,))
                elif not (preserve or extra is True):
                    unknown.append(field_path(_path + (key,)))
                    if remove:
                        del obj[key]
        elif isinstance(obj, list) and node.get("items"):
            for i, item in enumerate(obj):
                unknown += self.prune(item, node["items"], remove, _path + (i,))
        return unknown

    def default(self, obj, node):
        node = self.resolve(node)
        if isinstance(obj, dict):
            for key, sub in (node.get("properties") or {}).items():
                sub = self.resolve(sub)
                if key not in obj and "default" in sub:
                    obj[key] = copy.deepcopy(sub["default"])
                if key in obj:
                    self.default(obj[key], sub)
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                for key in obj:
                    if key not in (node.get("properties") or {}):
                        self.default(obj[key], extra)
        elif isinstance(obj, list) and node.get("items"):
            for item in obj:
                self.default(item, node["items"])

    # -- validation -----------------------------------------------------------------------------
    def validate(self, rt, obj):
        """StatusCauses for everything wrong with obj (empty when valid)."""
        if rt.kind == "CustomResourceDefinition":  # big, and the same few files in every test
            key = json.dumps(obj, sort_keys=True)
            if key not in self._crd_verdicts:
                self._crd_verdicts[key] = self._validate(rt, obj)
            return copy.deepcopy(self._crd_verdicts[key])
        return self._validate(rt, obj)

    def _validate(self, rt, obj):
        causes = _metadata_causes(rt, obj.get("metadata") or {})
        validator = self._validator(rt)
        if validator is not None:
            found = [
                _cause(e) for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
            ]
            mistyped = {c["field"] for c in found if c["reason"] == "FieldValueTypeInvalid"}
            causes += [c for c in found if c["field"] not in mistyped or c["reason"] == "FieldValueTypeInvalid"]
        return causes

    def _validator(self, rt):
        if "validator" not in rt.cache:
            root = self.root(rt)
            if root is None:
                validator = None
            elif rt.schema is None:
                ref = _DEFS_URI + root["$ref"]
                validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=self.registry)
            else:
                schema = dict(root, properties=dict(root["properties"], metadata={"type": "object"}))
                validator = jsonschema.Draft4Validator(schema)
            rt.cache["validator"] = validator
        return rt.cache["validator"]


def _structural(node):
    """Turn a CRD schema into plain JSON Schema: int-or-string, nullable, closed empty objects."""
    if not isinstance(node, dict):
        return node
    for key in ("properties", "patternProperties"):
        for name, sub in (node.get(key) or {}).items():
            node[key][name] = _structural(sub)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            node[key] = _structural(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            node[key] = [_structural(sub) for sub in node[key]]
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node.setdefault("allOf", []).append({"anyOf": [{"type": "integer"}, {"type": "string"}]})
    if node.get("nullable") and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    node.pop("format", None)  # formats are advisory for the API server, too, except a few
    if (
        node.get("type") == "object"
        and "properties" not in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and not node.get("x-kubernetes-embedded-resource")
    ):
        node["additionalProperties"] = False
    return node


def _cause(error):
    path = list(error.absolute_path)
    where = field_path(path)
    if error.validator == "required":
        missing = re.match(r"'([^']+)'", error.message)
        where = field_path(path + [missing.group(1) if missing else "?"])
        return Cause("FieldValueRequired", where, "Required value")
    if error.validator == "enum":
        allowed = ", ".join(_quote(v) for v in error.validator_value)
        return Cause(
            "FieldValueNotSupported", where, f"Unsupported value: {_quote(error.instance)}: supported values: {allowed}"
        )
    reason = "FieldValueTypeInvalid" if error.validator == "type" else "FieldValueInvalid"
    if error.validator == "type":
        wanted = error.validator_value
        wanted = wanted[0] if isinstance(wanted, list) else wanted
        detail = f"{where} in body must be of type {wanted}: {_quote(error.instance)}"
    else:
        detail = f"{where} in body {error.message}"
    return Cause(reason, where, f"Invalid value: {_quote(error.instance)}: {detail}")


def _metadata_causes(rt, meta):
    causes = []
    name = meta.get("name")
    pattern, what = (
        (_DNS_LABEL, "a lowercase RFC 1123 label")
        if rt.kind in _LABEL_NAMED
        else (_DNS_SUBDOMAIN, "a lowercase RFC 1123 subdomain")
    )
    if not name and not meta.get("generateName"):
        causes.append(Cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required"))
    elif name and (not pattern.match(name) or len(name) > (63 if rt.kind in _LABEL_NAMED else 253)):
        causes.append(
            Cause(
                "FieldValueInvalid",
                "metadata.name",
                f"Invalid value: {_quote(name)}: {what} must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character",
            )
        )
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, short = key.rpartition("/")
        if not _LABEL_NAME.match(short) or len(short) > 63 or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
            causes.append(
                Cause("FieldValueInvalid", "metadata.labels", f"Invalid value: {_quote(key)}: name part must be valid")
            )
        if not isinstance(value, str) or not _LABEL_VALUE.match(value) or len(value) > 63:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    "metadata.labels",
                    f"Invalid value: {_quote(value)}: a valid label must be 63 characters or less",
                )
            )
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            causes.append(
                Cause("FieldValueTypeInvalid", f"metadata.annotations.{key}", "Invalid value: must be a string")
            )
    return causes
