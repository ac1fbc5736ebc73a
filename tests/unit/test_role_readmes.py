"""Every role's README has the layout Ansible users know, and its Role Variables table is the
one scripts/role_variables.py builds from meta/argument_specs.yml (so the two cannot drift)."""

import importlib.util

import pytest

from tests.support.paths import REPO_ROOT

ROLES = sorted(p.name for p in (REPO_ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
SECTIONS = ["## Requirements", "## Role Variables", "## Dependencies", "## Example Playbook"]

_spec = importlib.util.spec_from_file_location("role_variables", REPO_ROOT / "scripts" / "role_variables.py")
role_variables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_variables)


@pytest.mark.parametrize("role", ROLES)
def test_readme_has_the_standard_sections_in_order(role):
    text = (REPO_ROOT / "roles" / role / "README.md").read_text()
    positions = [text.find(section) for section in SECTIONS]
    assert -1 not in positions, f"{role}: README lacks {[s for s, p in zip(SECTIONS, positions, strict=True) if p < 0]}"
    assert positions == sorted(positions), f"{role}: README sections out of order"


@pytest.mark.parametrize("role", ROLES)
def test_role_variables_match_the_argument_specs(role):
    text = (REPO_ROOT / "roles" / role / "README.md").read_text()
    assert role_variables.section(role) in text, (
        f"{role}: README's Role Variables differ from meta/argument_specs.yml; run scripts/role_variables.py --write {role}"
    )


def test_a_drifted_table_is_detected():
    table = role_variables.table("mlflow_helm")
    assert "`mlflow_helm_external_host` | str | **required**" in table
    assert role_variables.section("mlflow_helm").replace("`1.11.5`", "`1.0.0`") != role_variables.section("mlflow_helm")
