#!/usr/bin/env python3
"""The "Role Variables" table of a role's README, from its meta/argument_specs.yml.

    scripts/role_variables.py ROLE            print the table
    scripts/role_variables.py --write ROLE... replace the table between the README's markers

tests/unit/test_role_readmes.py fails when a README's table differs from what this prints.
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- role-variables:start -->", "<!-- role-variables:end -->"


def _cell(text):
    """One table cell: Ansible's doc markup (C(), O(), V(), M(), P()) as Markdown code."""
    text = re.sub(r"\b(?:C|O|V|RV|M|P)\(([^()]*)\)", r"`\1`", " ".join(str(text).split()))
    return text.replace("|", "\\|")


def _default(spec):
    if spec.get("required"):
        return "**required**"
    value = spec.get("default")
    if isinstance(value, (dict, list)):
        value = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    elif isinstance(value, bool):
        value = str(value).lower()
    return f"`{_cell(value)}`" if value not in (None, "") else '`""`'


def table(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update(entry.get("options") or {})
    lines = ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, spec in options.items():
        description = spec.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        lines.append(f"| `{name}` | {spec.get('type', 'str')} | {_default(spec)} | {_cell(description)} |")
    return "\n".join(lines) + "\n"


def section(role):
    return f"{START}\n{table(role)}{END}"


def write(role):
    readme = ROOT / "roles" / role / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + section(role) + tail)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        for name in sys.argv[2:]:
            write(name)
    else:
        sys.stdout.write(table(sys.argv[1]))
