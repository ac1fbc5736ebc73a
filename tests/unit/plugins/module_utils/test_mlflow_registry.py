"""mlflow_registry: URI parsing (MLflow's rules) and resolution, against a scripted registry.

The scripted registry answers the GET endpoints in the shapes MLflow 3.15.1 returns (checked
against the real server in tests/integration/test_model_serving.py).
"""

import json

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils import mlflow_registry as reg


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/MyModel/3", {"name": "MyModel", "kind": "version", "ref": "3"}),
        ("models:/MyModel/03", {"name": "MyModel", "kind": "version", "ref": "3"}),
        ("models:/MyModel@champion", {"name": "MyModel", "kind": "alias", "ref": "champion"}),
        ("models:/MyModel/Production", {"name": "MyModel", "kind": "stage", "ref": "Production"}),
        ("models:/MyModel/staging", {"name": "MyModel", "kind": "stage", "ref": "Staging"}),
        ("models:/MyModel/Latest", {"name": "MyModel", "kind": "latest", "ref": "latest"}),
        ("models:/My%20Model/1", {"name": "My Model", "kind": "version", "ref": "1"}),
    ],
)
def test_parse_model_uri(uri, expected):
    assert reg.parse_model_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("runs:/abc/model", "not a registered model URI"),
        ("models:/", "not a registered model URI"),
        ("models:/a/b/c", "holds no '/'"),
        ("models:/MyModel/Prod", "neither a version number nor a stage"),
        ("models:/MyModel@", "empty model name or alias"),
        ("models:/m-0123abc", "logged model"),
        (None, "not a registered model URI"),
    ],
)
def test_parse_model_uri_refuses(uri, says):
    with pytest.raises(reg.ModelUriError, match=says):
        reg.parse_model_uri(uri)


MISSING = (404, json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"}))


class ScriptedRegistry:
    """Models {name: {"versions": {n: {stage, status}}, "aliases": {alias: n}}} behind MLflow's GETs."""

    def __init__(self, models):
        self.models, self.calls = models, []

    def _mv(self, name, n):
        v = self.models[name]["versions"][n]
        return {
            "name": name,
            "version": str(n),
            "current_stage": v.get("stage", "None"),
            "status": v.get("status", "READY"),
            "source": f"models:/m-{name}{n}",
            "run_id": f"run{n}",
        }

    def _latest(self, name, stages):
        best = {}
        for n, v in self.models[name]["versions"].items():
            stage = v.get("stage", "None")
            if (not stages or stage in stages) and n > best.get(stage, 0):
                best[stage] = n
        return [self._mv(name, n) for n in best.values()]

    def get(self, path, params):
        self.calls.append((path, dict(params)))
        endpoint = path.removeprefix(reg.API + "/")
        name = params.get("name")
        if endpoint == "registered-models/search":
            return 200, json.dumps({"registered_models": [{"name": n} for n in self.models]})
        if endpoint == "model-versions/search":
            name = params["filter"].split("'")[1]
            return 200, json.dumps({"model_versions": [self._mv(name, n) for n in self.models[name]["versions"]]})
        if name not in self.models:
            return MISSING
        model = self.models[name]
        if endpoint == "registered-models/get":
            aliases = [{"alias": a, "version": str(n)} for a, n in model.get("aliases", {}).items()]
            return 200, json.dumps({"registered_model": {"name": name, "aliases": aliases}})
        if endpoint == "registered-models/alias":
            n = model.get("aliases", {}).get(params["alias"])
            if n is None:  # what MLflow 3.15.1 answers
                return 400, json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": "alias not found."})
            return 200, json.dumps({"model_version": self._mv(name, n)})
        if endpoint == "model-versions/get":
            n = int(params["version"])
            return MISSING if n not in model["versions"] else (200, json.dumps({"model_version": self._mv(name, n)}))
        if endpoint == "registered-models/get-latest-versions":
            stages = [params["stages"]] if "stages" in params else []
            return 200, json.dumps({"model_versions": self._latest(name, stages)})
        raise AssertionError(endpoint)


MODELS = {
    "MyModel": {
        "versions": {1: {"stage": "Archived"}, 2: {"stage": "Production"}, 3: {}, 4: {"stage": "Production"}},
        "aliases": {"champion": 3, "challenger": 4},
    },
    "Other": {"versions": {1: {"status": "PENDING_REGISTRATION"}}},
}


@pytest.mark.parametrize(
    ("uri", "version", "aliases"),
    [
        ("models:/MyModel/2", "2", []),
        ("models:/MyModel@champion", "3", ["champion"]),
        ("models:/MyModel/production", "4", ["challenger"]),
        ("models:/MyModel/latest", "4", ["challenger"]),
    ],
)
def test_resolve(uri, version, aliases):
    result, problem = reg.Registry(ScriptedRegistry(MODELS).get).resolve(uri)
    assert problem is None
    assert result["version"] == version
    assert result["pinned_uri"] == f"models:/MyModel/{version}"
    assert result["aliases"] == aliases
    assert result["uri"] == uri


def test_alias_uses_the_alias_endpoint():
    scripted = ScriptedRegistry(MODELS)
    reg.Registry(scripted.get).resolve("models:/MyModel@champion")
    assert (f"{reg.API}/registered-models/alias", {"name": "MyModel", "alias": "champion"}) in scripted.calls


def test_stage_uses_get_latest_versions_with_the_stage():
    scripted = ScriptedRegistry(MODELS)
    reg.Registry(scripted.get).resolve("models:/MyModel/Production")
    assert (
        f"{reg.API}/registered-models/get-latest-versions",
        {"name": "MyModel", "stages": "Production"},
    ) in scripted.calls


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        (
            "models:/Nope/1",
            "registered model 'Nope' (models:/Nope/1) does not exist; the registry holds: MyModel, Other",
        ),
        (
            "models:/MyModel@gold",
            "model 'MyModel' has no alias 'gold' (models:/MyModel@gold); "
            "its aliases: challenger -> version 4, champion -> version 3",
        ),
        ("models:/MyModel/9", "model 'MyModel' has no version 9 (models:/MyModel/9); its versions: 1, 2, 3, 4"),
        (
            "models:/Other/Staging",
            "model 'Other' has no version in stage 'Staging' (models:/Other/Staging); stages held: None (version 1)",
        ),
        ("models:/Other/1", "model 'Other' version 1 (models:/Other/1) is PENDING_REGISTRATION, not READY"),
    ],
)
def test_what_cannot_be_served_says_what_the_registry_holds(uri, says):
    result, problem = reg.Registry(ScriptedRegistry(MODELS).get).resolve(uri)
    assert result is None
    assert problem.startswith(says)


def test_resolve_all_reports_every_problem():
    results, problems = reg.Registry(ScriptedRegistry(MODELS).get).resolve_all(
        ["models:/MyModel/2", "models:/Nope@x", "runs:/r/model", "models:/MyModel@gold"]
    )
    assert [r and r["version"] for r in results] == ["2", None, None, None]
    assert len(problems) == 3
    assert "Nope" in problems[0] and "runs:/r/model" in problems[1] and "gold" in problems[2]


def test_a_registry_error_is_not_a_missing_model():
    def get(path, params):
        return 403, "Invalid Host header"

    with pytest.raises(reg.RegistryError, match="answered 403: Invalid Host header"):
        reg.Registry(get).resolve("models:/MyModel/1")


def test_a_long_listing_is_cut():
    models = {f"m{i:03d}": {"versions": {1: {}}} for i in range(30)}
    _, problem = reg.Registry(ScriptedRegistry(models).get).resolve("models:/zzz/1")
    assert problem.endswith("m019 and 10 more")
