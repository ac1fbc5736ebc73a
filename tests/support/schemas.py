"""Validators that tests use against the real upstream schemas in ``../shared/schemas``.

- Helm values of the community-charts mlflow chart: ``validate_chart_values`` (its real
  ``values.schema.json``, the check Helm itself makes before rendering).
- authentik blueprints: ``load_blueprint`` reads the YAML with authentik's custom tags
  (``!Find``, ``!KeyOf``, ...) as ``Tag`` placeholders, ``validate_blueprint`` checks the document
  against the real blueprint schema and accepts a placeholder at any position (a tag stands for
  whatever authentik resolves it to: a UUID for a flow, an integer key for a provider, ...),
  and checks the outpost ``config`` keys the schema leaves open.
- Kubernetes objects: ``validate_k8s_object`` delegates to the emulator's validation (the same
  code that checks what the roles send to the emulated API server).

Every ``validate_*`` raises ``SchemaValidationError`` listing all problems; every ``*_errors``
returns that list (empty when valid).
"""

import copy
import functools
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml

from tests.support import paths


class SchemaValidationError(AssertionError):
    """Raised with one line per problem."""

    def __init__(self, what, errors):
        self.errors = list(errors)
        super().__init__(f"{what}: {len(self.errors)} problem(s)\n" + "\n".join(f"- {e}" for e in self.errors))


def _path(error_path):
    out = ""
    for part in error_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


@functools.cache
def _load_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


# --- Helm chart values -----------------------------------------------------------------------


def coalesce_values(defaults, values):
    """Helm's merge of user values over chart defaults: maps merge deeply, null removes a key."""
    out = copy.deepcopy(defaults)
    for key, value in (values or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = coalesce_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@functools.cache
def _chart_defaults(values_path):
    with open(values_path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def chart_values_errors(values, schema_path=None, defaults_path=None):
    """Problems of ``values`` as Helm reports them before rendering the mlflow chart.

    Like Helm, the values are first merged over the chart's defaults (the real 1.11.5
    ``values.yaml``), then checked against its ``values.schema.json``; pass ``defaults_path=False``
    to check ``values`` alone.
    """
    schema = _load_json(str(schema_path or paths.MLFLOW_CHART_SCHEMA))
    if defaults_path is not False:
        values = coalesce_values(_chart_defaults(str(defaults_path or paths.MLFLOW_CHART_VALUES)), values)
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(f"{_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(values))


def validate_chart_values(values, schema_path=None, defaults_path=None):
    errors = chart_values_errors(values, schema_path, defaults_path)
    if errors:
        raise SchemaValidationError("mlflow chart values", errors)
    return values


# --- authentik blueprints --------------------------------------------------------------------

# authentik's BlueprintLoader (authentik/blueprints/v1/common.py) registers exactly these.
AUTHENTIK_TAGS = frozenset(
    {
        "KeyOf",
        "Find",
        "FindObject",
        "Context",
        "Format",
        "Condition",
        "If",
        "Env",
        "File",
        "Enumerate",
        "Value",
        "Index",
        "AtIndex",
        "ParseJSON",
    }
)


@dataclass(frozen=True)
class Tag:
    """A custom-tagged YAML node, kept unresolved: ``!KeyOf provider`` -> Tag('KeyOf', 'provider')."""

    name: str
    value: Any

    def __hash__(self):
        return hash((self.name, json.dumps(self.value, sort_keys=True, default=repr)))


class BlueprintLoader(yaml.SafeLoader):
    """SafeLoader that reads authentik's tags as ``Tag`` placeholders and rejects unknown tags."""


def _construct_tag(loader, suffix, node):
    if suffix not in AUTHENTIK_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown authentik blueprint tag !{suffix}", node.start_mark
        )
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tag(suffix, value)


BlueprintLoader.add_multi_constructor("!", _construct_tag)


def load_blueprint(text):
    """Parse a blueprint (YAML text) the way authentik does, tags becoming ``Tag`` placeholders."""
    return yaml.load(text, Loader=BlueprintLoader)  # noqa: S506 - a SafeLoader subclass


def iter_tags(node):
    """Every Tag in a loaded document, depth first (tags nested in tag arguments included)."""
    if isinstance(node, Tag):
        yield node
        yield from iter_tags(node.value)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from iter_tags(key)
            yield from iter_tags(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_tags(item)


def _placeholder_tolerant(validator_cls):
    """The validator class with every keyword passing when the instance is a Tag placeholder."""

    def wrap(check):
        def checked(validator, value, instance, schema):
            if isinstance(instance, Tag):
                return
            yield from check(validator, value, instance, schema) or ()

        return checked

    return jsonschema.validators.extend(
        validator_cls, {keyword: wrap(check) for keyword, check in validator_cls.VALIDATORS.items()}
    )


@functools.cache
def _blueprint_validator(schema_path):
    schema = _load_json(schema_path)
    cls = _placeholder_tolerant(jsonschema.validators.validator_for(schema))
    # Draft 7's checker does not know "uuid", the format of every foreign key (flows, service
    # connections...): a slug written where authentik expects a key fails here, as in authentik.
    formats = jsonschema.FormatChecker(list(cls.FORMAT_CHECKER.checkers))
    formats.checks("uuid", raises=ValueError)(lambda value: not isinstance(value, str) or bool(uuid.UUID(value)))
    return cls(schema, format_checker=formats), schema


def _entry_errors(validator, schema, index, entry, strict_attrs=True):
    """Errors of one entry against the branch of ``blueprint_entry`` for its model (clear messages)."""
    model = entry.get("model") if isinstance(entry, dict) else None
    label = f"entries[{index}]" + (f" ({model})" if model else "")
    branches = schema["$defs"]["blueprint_entry"]["oneOf"]
    branch = next((b for b in branches if b["properties"]["model"].get("const") == model), None)
    if branch is None:
        return [f"entries[{index}]: unknown model {model!r}"]
    sub = validator.evolve(schema={**branch, "$defs": schema["$defs"]})
    errors = [f"{label}.{_path(e.absolute_path)}: {e.message}" for e in sub.iter_errors(entry)]
    if strict_attrs:
        # The model schemas leave unknown keys open and authentik drops them silently, so a
        # misspelt attribute (intercept_header_autth) would pass unnoticed: flag it here.
        ref = (branch["properties"].get("attrs") or {}).get("$ref", "")
        known = set(schema["$defs"].get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
        for part in ("identifiers", "attrs"):
            given = entry.get(part) if isinstance(entry, dict) else None
            if known and isinstance(given, dict):
                errors += [
                    f"{label}.{part}.{key}: not an attribute of {model} (authentik would ignore it)"
                    for key in given
                    if not isinstance(key, Tag) and key not in known
                ]
    return errors


def outpost_config_errors(config, label="outpost config"):
    """Checks of the outpost ``config`` keys the schema leaves open (an open object there).

    Types follow authentik's outpost config (authentik/outposts/models.py, OutpostConfig) and the
    Kubernetes HTTPRoute parentRef (gateway.networking.k8s.io/v1).
    """
    errors = []
    if isinstance(config, Tag):
        return errors
    if not isinstance(config, dict):
        return [f"{label}: must be a mapping, got {type(config).__name__}"]
    dns1123_label = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    dns1123_subdomain = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

    namespace = config.get("kubernetes_namespace")
    if namespace is not None and not isinstance(namespace, Tag):
        if not isinstance(namespace, str) or not dns1123_label.match(namespace) or len(namespace) > 63:
            errors.append(f"{label}.kubernetes_namespace: {namespace!r} is not a Kubernetes namespace name")

    template = config.get("object_naming_template")
    if template is not None and not isinstance(template, Tag):
        if not isinstance(template, str) or "%(name)s" not in template:
            errors.append(f"{label}.object_naming_template: {template!r} must be a string containing '%(name)s'")
        else:
            sample = template % {"name": "mlflow-outpost"}
            if not dns1123_label.match(sample):
                errors.append(
                    f"{label}.object_naming_template: {template!r} gives {sample!r}, not a valid Kubernetes object name"
                )

    refs = config.get("kubernetes_httproute_parent_refs")
    if refs is not None and not isinstance(refs, Tag):
        if not isinstance(refs, list):
            errors.append(f"{label}.kubernetes_httproute_parent_refs: must be a list of parentRefs")
        else:
            allowed = {"group", "kind", "namespace", "name", "sectionName", "port"}
            for i, ref in enumerate(refs):
                where = f"{label}.kubernetes_httproute_parent_refs[{i}]"
                if not isinstance(ref, dict):
                    errors.append(f"{where}: must be a mapping")
                    continue
                unknown = sorted(set(ref) - allowed)
                if unknown:
                    errors.append(f"{where}: unknown key(s) {unknown} (allowed: {sorted(allowed)})")
                if not isinstance(ref.get("name"), str) or not ref.get("name"):
                    errors.append(f"{where}.name: required, a non-empty string")
                for key in ("name", "namespace", "sectionName"):
                    value = ref.get(key)
                    if isinstance(value, str) and value and not dns1123_subdomain.match(value):
                        errors.append(f"{where}.{key}: {value!r} is not a valid Kubernetes name")
                if "port" in ref and not (isinstance(ref["port"], int) and 1 <= ref["port"] <= 65535):
                    errors.append(f"{where}.port: must be an integer 1-65535")

    for key in ("kubernetes_replicas",):
        value = config.get(key)
        if value is not None and not isinstance(value, Tag) and not (isinstance(value, int) and value >= 0):
            errors.append(f"{label}.{key}: must be a non-negative integer")
    for key in ("authentik_host_insecure",):
        value = config.get(key)
        if value is not None and not isinstance(value, Tag | bool):
            errors.append(f"{label}.{key}: must be a boolean")
    return errors


def _reference_errors(doc):
    """``!KeyOf x`` must name the ``id`` of an entry in the same blueprint (authentik fails otherwise)."""
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return []
    ids = {e.get("id") for e in entries if isinstance(e, dict) and e.get("id")}
    return [
        f"!KeyOf {tag.value!r}: no entry has id {tag.value!r} (ids: {sorted(ids)})"
        for tag in iter_tags(entries)
        if tag.name == "KeyOf" and tag.value not in ids
    ]


def blueprint_errors(doc, schema_path=None, strict_attrs=True):
    """Problems of a loaded blueprint: the real schema, outpost config keys, !KeyOf targets.

    With ``strict_attrs`` (the default) an attribute the model does not have is an error too.
    """
    validator, schema = _blueprint_validator(str(schema_path or paths.AUTHENTIK_BLUEPRINT_SCHEMA))
    if not isinstance(doc, dict):
        return [f"blueprint: must be a mapping, got {type(doc).__name__}"]
    errors = []
    # Header against the whole schema with the entries emptied; each entry is checked below
    # against its model's branch, which gives clearer messages than the schema's big oneOf.
    header = {k: ([] if k == "entries" else v) for k, v in doc.items()}
    errors += [f"{_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(header)]
    entries = doc.get("entries", [])
    if isinstance(entries, dict):  # the schema also allows {group: [entries]}
        entries = [entry for group in entries.values() for entry in (group or [])]
    if not isinstance(entries, list):
        errors.append("entries: must be a list (or a mapping of lists)")
        entries = []
    for index, entry in enumerate(entries):
        errors += _entry_errors(validator, schema, index, entry, strict_attrs)
        if isinstance(entry, dict) and entry.get("model") == "authentik_outposts.outpost":
            attrs = entry.get("attrs") or {}
            if isinstance(attrs, dict) and "config" in attrs:
                errors += outpost_config_errors(attrs["config"], f"entries[{index}].attrs.config")
    errors += _reference_errors(doc)
    return errors


def validate_blueprint(doc, schema_path=None, strict_attrs=True):
    """Raise SchemaValidationError unless the blueprint (text or loaded document) is valid."""
    if isinstance(doc, str):
        doc = load_blueprint(doc)
    errors = blueprint_errors(doc, schema_path, strict_attrs)
    if errors:
        raise SchemaValidationError("authentik blueprint", errors)
    return doc


def blueprint_entry(doc, model, **identifiers):
    """The single entry of ``model`` whose identifiers include ``identifiers``."""
    found = [
        e
        for e in doc.get("entries", [])
        if e.get("model") == model and all((e.get("identifiers") or {}).get(k) == v for k, v in identifiers.items())
    ]
    assert len(found) == 1, f"expected one {model} entry with {identifiers}, found {len(found)}"
    return found[0]


# --- Kubernetes objects ----------------------------------------------------------------------


@functools.cache
def _emulator_schemas():
    from tests.kube_emulator.schemas import Schemas

    return Schemas()


@functools.cache
def _crd_types(crd_file):
    from tests.kube_emulator.resources import from_crd

    with open(crd_file, encoding="utf-8") as handle:
        return tuple(rt for doc in yaml.safe_load_all(handle) if doc for rt in from_crd(doc))


def k8s_object_errors(obj, crd_files=()):
    """Problems of one Kubernetes object, as the emulator's API server reports them.

    Thin wrapper over the emulator's own validation (tests/kube_emulator/schemas.py): core types
    from kubernetes-validate, custom types from the openAPIV3Schema of ``crd_files``; unknown
    fields count as errors (strict decoding, as kubectl/kubernetes.core send them).
    """
    from tests.kube_emulator.resources import BUILTINS

    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    types = list(BUILTINS) + [rt for path in crd_files for rt in _crd_types(str(path))]
    rt = next((t for t in types if (t.group, t.version, t.kind) == (group, version, obj.get("kind"))), None)
    if rt is None:
        return [f"no schema for {obj.get('apiVersion')} {obj.get('kind')} (give its CRD file)"]
    from tests.kube_emulator.defaults import apply_defaults

    # The emulator's admission, without storing: unknown fields, then defaults, then the schema.
    schemas = _emulator_schemas()
    obj = copy.deepcopy(obj)
    root = schemas.root(rt)
    unknown = schemas.prune(obj, root, remove=False) if root is not None else []
    if root is not None and rt.schema is not None:
        schemas.default(obj, root)
    apply_defaults(rt.kind, obj)
    causes = schemas.validate(rt, obj)
    return [f"unknown field {path!r}" for path in unknown] + [
        f"{c['field']}: {c['message']}" if c["field"] else c["message"] for c in causes
    ]


def validate_k8s_object(obj, crd_files=()):
    errors = k8s_object_errors(obj, crd_files)
    if errors:
        meta = obj.get("metadata") or {}
        raise SchemaValidationError(f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}", errors)
    return obj
