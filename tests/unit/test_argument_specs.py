"""Every role's defaults/main.yml and meta/argument_specs.yml describe the same variables.

The prometheus.prometheus collection fails CI when the two drift apart; so does this test:
a default without a documented option, an option without a default (unless required), a
documented default that differs from the real one, or a default of the wrong type.
"""

import sys
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO_ROOT

ROLES_DIR = REPO_ROOT / "roles"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "meta").is_dir())
PUBLIC_ROLES = [r for r in ROLES if not r.startswith("_")]

TYPES = {
    "str": str,
    "int": int,
    "bool": bool,
    "dict": dict,
    "list": list,
    "float": (int, float),
    "path": str,
    "raw": object,
}


def _load(path):
    return yaml.safe_load(Path(path).read_text()) or {}


def _defaults(role):
    path = ROLES_DIR / role / "defaults" / "main.yml"
    return _load(path) if path.exists() else {}


def _specs(role):
    path = ROLES_DIR / role / "meta" / "argument_specs.yml"
    assert path.exists(), f"{role}: meta/argument_specs.yml is missing"
    return _load(path)["argument_specs"]


def _options(role):
    """Options of every entry point, merged (an internal role documents each entry point)."""
    merged = {}
    for entry in _specs(role).values():
        merged.update(entry.get("options") or {})
    return merged


def test_every_role_is_covered():
    assert {"mlflow_secrets", "cnpg_cluster", "mlflow_helm", "authentik_proxy", "_common"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented(role):
    undocumented = sorted(set(_defaults(role)) - set(_options(role)))
    assert not undocumented, f"{role}: defaults without an argument_specs option: {undocumented}"


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_a_default_or_is_required(role):
    defaults = _defaults(role)
    missing = sorted(
        name for name, spec in _options(role).items() if name not in defaults and not spec.get("required", False)
    )
    assert not missing, f"{role}: argument_specs options without a default in defaults/main.yml: {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_documented_defaults_match(role):
    defaults = _defaults(role)
    differ = sorted(
        name
        for name, spec in _options(role).items()
        if name in defaults and "default" in spec and spec["default"] != defaults[name]
    )
    assert not differ, f"{role}: argument_specs default differs from defaults/main.yml for: {differ}"
    undocumented_default = sorted(
        name for name, spec in _options(role).items() if name in defaults and "default" not in spec
    )
    assert not undocumented_default, f"{role}: options without a documented default: {undocumented_default}"


@pytest.mark.parametrize("role", ROLES)
def test_default_types_match(role):
    defaults = _defaults(role)
    wrong = []
    for name, spec in _options(role).items():
        if name not in defaults:
            continue
        value = defaults[name]
        expected = TYPES[spec.get("type", "str")]
        templated = isinstance(value, str) and "{{" in value
        if spec.get("type") == "int" and isinstance(value, bool):
            wrong.append(name)
        elif not templated and not isinstance(value, expected):
            wrong.append(name)
        if spec.get("choices") and not templated and value not in spec["choices"]:
            wrong.append(name)
    assert not wrong, f"{role}: defaults of the wrong type (or not among the choices): {sorted(wrong)}"


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_public_variables_are_prefixed(role):
    bad = sorted(n for n in set(_defaults(role)) | set(_options(role)) if not n.startswith(f"{role}_"))
    assert not bad, f"{role}: public variables must start with '{role}_': {bad}"


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_preflight_entry_point_matches_main(role):
    """site.yml runs every role's preflight (tasks_from: preflight) before any change, so a
    variable of the wrong type must fail there: the preflight entry point validates the same
    options as main (in YAML: `main: &spec` ... `preflight: *spec`)."""
    specs = _specs(role)
    assert "preflight" in specs, f"{role}: meta/argument_specs.yml has no 'preflight' entry point"
    assert specs["preflight"].get("options") == specs["main"].get("options"), (
        f"{role}: the preflight entry point must check the same options as main"
    )


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_deploy_entry_point_matches_main(role):
    """A role's deploy entry point (its changes without the preflight) takes the same options."""
    specs = _specs(role)
    if (ROLES_DIR / role / "tasks" / "deploy.yml").exists():
        assert specs.get("deploy", {}).get("options") == specs["main"].get("options"), (
            f"{role}: the deploy entry point must document the same options as main"
        )


def test_site_validates_each_role_once_before_any_change():
    """site.yml skips the argument validation of a role (rolespec_validate: false) only after it
    ran that role's preflight entry point, which validates the same options."""
    play = yaml.safe_load((REPO_ROOT / "playbooks" / "site.yml").read_text())[0]
    validated = []
    for task in play["tasks"]:
        spec = task.get("ansible.builtin.import_role") or task.get("ansible.builtin.include_role")
        if not spec:
            continue
        role = spec["name"].split(".")[-1]
        if spec.get("tasks_from") == "preflight":
            assert spec.get("rolespec_validate", True), f"site.yml must validate {role}'s preflight"
            validated.append(role)
        elif spec.get("rolespec_validate", True) is False:
            assert role in validated, f"site.yml skips {role}'s validation before its preflight ran"
    assert sorted(validated) == sorted(PUBLIC_ROLES), "site.yml runs every role's preflight"


def test_detects_drift(tmp_path, monkeypatch):
    """The checks above fail on a drifted role (so a passing run means something)."""
    role = tmp_path / "roles" / "drifted"
    (role / "tasks").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text("drifted_a: 1\ndrifted_b: x\n")
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      drifted_a: {type: int, default: 2}\n      drifted_c: {type: str, default: y}\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROLES_DIR", tmp_path / "roles")
    with pytest.raises(AssertionError, match="drifted_b"):
        test_every_default_is_documented("drifted")
    with pytest.raises(AssertionError, match="drifted_c"):
        test_every_option_has_a_default_or_is_required("drifted")
    with pytest.raises(AssertionError, match="drifted_a"):
        test_documented_defaults_match("drifted")
