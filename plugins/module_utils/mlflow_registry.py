# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""MLflow model registry: parse a models:/ URI and resolve it to one version over the REST API.

No transport here: ``Registry`` takes a ``get(path, params) -> (status, body)`` function, so the
same rules serve the Kubernetes service proxy, a direct URL, and the unit tests.

URI forms, as MLflow 3.15.1 parses them (mlflow/store/artifact/utils/models.py, _parse_model_uri):
``models:/Name/3`` (a version), ``models:/Name@alias``, ``models:/Name/Production`` (a stage,
case-insensitive: the latest version in it) and ``models:/Name/latest`` (the highest version).
``models:/m-<id>`` names a logged model, not a registered one, and has no version to pin.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from urllib.parse import unquote, urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urllib import unquote

    from urlparse import urlsplit

API = "/api/2.0/mlflow"
# mlflow/entities/model_registry/model_version_stages.py (ALL_STAGES); matched case-insensitively.
STAGES = ("None", "Staging", "Production", "Archived")
LATEST = "latest"
# How many names or versions a message lists before it says how many more there are.
LIST_LIMIT = 20


class ModelUriError(ValueError):
    pass


class RegistryError(Exception):
    """The registry could not be read (not: the model is missing)."""


def parse_model_uri(uri):
    """{'name', 'kind' (version|alias|stage|latest), 'ref'} of a registered model URI, or ModelUriError."""
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise ModelUriError(
            "'{0}' is not a registered model URI: use models:/<name>/<version>, models:/<name>@<alias> "
            "or models:/<name>/<stage>".format(uri)
        )
    parts = urlsplit(uri, allow_fragments=False)
    path = unquote(parts.path)
    if parts.netloc or parts.query or not path.startswith("/") or len(path) <= 1:
        raise ModelUriError("'{0}' is not a registered model URI: use models:/<name>/<version>".format(uri))
    segments = path[1:].split("/")
    if len(segments) > 2 or not segments[0].strip():
        raise ModelUriError("'{0}' is not a registered model URI: a model name holds no '/'".format(uri))
    if len(segments) == 2:
        name, suffix = segments
        if not suffix.strip():
            raise ModelUriError("'{0}' has an empty version or stage".format(uri))
        if suffix.isdigit():
            return {"name": name, "kind": "version", "ref": str(int(suffix))}
        if suffix.lower() == LATEST:
            return {"name": name, "kind": "latest", "ref": LATEST}
        stage = canonical_stage(suffix)
        if stage is None:
            raise ModelUriError(
                "'{0}': '{1}' is neither a version number nor a stage ({2})".format(uri, suffix, ", ".join(STAGES))
            )
        return {"name": name, "kind": "stage", "ref": stage}
    if "@" in segments[0]:
        name, alias = segments[0].rsplit("@", 1)
        if not name.strip() or not alias.strip():
            raise ModelUriError("'{0}' has an empty model name or alias".format(uri))
        return {"name": name, "kind": "alias", "ref": alias}
    raise ModelUriError(
        "'{0}' names a logged model, not a registered one: register it and serve models:/<name>/<version> "
        "or models:/<name>@<alias>".format(uri)
    )


def canonical_stage(stage):
    for known in STAGES:
        if known.lower() == stage.lower():
            return known
    return None


def pinned_uri(name, version):
    return "models:/{0}/{1}".format(name, version)


def _listing(items):
    items = list(items)
    if not items:
        return "none"
    shown = ", ".join(items[:LIST_LIMIT])
    return shown if len(items) <= LIST_LIMIT else "{0} and {1} more".format(shown, len(items) - LIST_LIMIT)


def _version_key(version):
    try:
        return int(version)
    except (TypeError, ValueError):
        return 0


class Registry:
    def __init__(self, get):
        self._get = get

    def _call(self, endpoint, params):
        path = "{0}/{1}".format(API, endpoint)
        status, body = self._get(path, params)
        try:
            data = json.loads(body) if body else {}
        except (TypeError, ValueError):
            data = None
        if status == 200 and isinstance(data, dict):
            return data
        code = data.get("error_code") if isinstance(data, dict) else None
        # MLflow answers a missing model, version or alias with RESOURCE_DOES_NOT_EXIST (404).
        if status == 404 and code == "RESOURCE_DOES_NOT_EXIST":
            return None
        text = body if isinstance(body, str) else (body or b"").decode("utf-8", "replace")
        raise RegistryError("GET {0} answered {1}: {2}".format(path, status, text[:500]))

    def registered_model(self, name):
        data = self._call("registered-models/get", {"name": name})
        return None if data is None else data.get("registered_model", {})

    def model_names(self):
        data = self._call("registered-models/search", {"max_results": "1000"}) or {}
        return sorted(m.get("name", "") for m in data.get("registered_models", []))

    def version_by_alias(self, name, alias):
        data = self._call("registered-models/alias", {"name": name, "alias": alias})
        return None if data is None else data.get("model_version")

    def model_version(self, name, version):
        data = self._call("model-versions/get", {"name": name, "version": version})
        return None if data is None else data.get("model_version")

    def versions(self, name):
        quoted = name.replace("'", "\\'")
        data = self._call("model-versions/search", {"filter": "name='{0}'".format(quoted), "max_results": "1000"}) or {}
        return sorted((str(v.get("version")) for v in data.get("model_versions", [])), key=_version_key)

    def latest_versions(self, name, stage=None):
        params = {"name": name}
        if stage is not None:
            params["stages"] = stage
        data = self._call("registered-models/get-latest-versions", params) or {}
        return data.get("model_versions", [])

    def resolve(self, uri):
        """(result, problem): the version ``uri`` stands for now, or a message saying what the registry holds."""
        parsed = parse_model_uri(uri)
        name, kind, ref = parsed["name"], parsed["kind"], parsed["ref"]
        model = self.registered_model(name)
        if model is None:
            return None, "registered model '{0}' ({1}) does not exist; the registry holds: {2}".format(
                name, uri, _listing(self.model_names())
            )
        aliases = sorted(model.get("aliases") or [], key=lambda a: a.get("alias", ""))
        if kind == "alias":
            # MLflow answers an unknown alias with 400 INVALID_PARAMETER_VALUE, not 404; the model lists its aliases.
            listed = any(a.get("alias") == ref for a in aliases)
            found = self.version_by_alias(name, ref) if listed else None
            if found is None:
                return None, "model '{0}' has no alias '{1}' ({2}); its aliases: {3}".format(
                    name, ref, uri, _listing("{0} -> version {1}".format(a["alias"], a["version"]) for a in aliases)
                )
        elif kind == "version":
            found = self.model_version(name, ref)
            if found is None:
                return None, "model '{0}' has no version {1} ({2}); its versions: {3}".format(
                    name, ref, uri, _listing(self.versions(name))
                )
        else:
            candidates = self.latest_versions(name, None if kind == LATEST else ref)
            if not candidates:
                held = self.latest_versions(name)
                return None, "model '{0}' has no version in stage '{1}' ({2}); stages held: {3}".format(
                    name, ref, uri,
                    _listing("{0} (version {1})".format(v.get("current_stage"), v.get("version")) for v in held),
                )  # fmt: skip
            found = max(candidates, key=lambda v: _version_key(v.get("version")))
        version = str(found.get("version"))
        status = found.get("status", "READY")
        if status != "READY":
            return None, "model '{0}' version {1} ({2}) is {3}, not READY: {4}".format(
                name, version, uri, status, found.get("status_message") or "no message"
            )
        return {
            "uri": uri,
            "name": name,
            "kind": kind,
            "ref": ref,
            "version": version,
            "pinned_uri": pinned_uri(name, version),
            "source": found.get("source", ""),
            "run_id": found.get("run_id", ""),
            "current_stage": found.get("current_stage", ""),
            "aliases": sorted(a["alias"] for a in aliases if str(a.get("version")) == version),
        }, None

    def resolve_all(self, uris):
        """(results, problems) for several URIs; every problem is reported, not only the first."""
        results, problems = [], []
        for uri in uris:
            try:
                result, problem = self.resolve(uri)
            except ModelUriError as e:
                result, problem = None, str(e)
            results.append(result)
            if problem:
                problems.append(problem)
        return results, problems
