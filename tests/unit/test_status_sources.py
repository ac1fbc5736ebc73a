"""The emulator's table of upstream sources (tests/kube_emulator/status_sources.py): its paths, its
citations against the pinned upstream trees, and the README's copy of it.

The pinned trees are read from the Go module cache (GOMODCACHE, default ~/go/pkg/mod) and from
bare git mirrors under STATUS_SOURCES_MIRRORS (``<owner>+<name>/repo``); a tree found in neither
is skipped.
"""

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.kube_emulator import status_sources
from tests.kube_emulator.status_sources import SOURCES, UPSTREAM, field_paths, uncited, unused


def test_field_paths_name_keys_conditions_and_list_items():
    body = {
        "apiVersion": "v1",
        "metadata": {"labels": {"cnpg.io/cluster": "pg", "role": "primary"}, "annotations": {}},
        "status": {
            "phase": "Running",
            "phaseReason": None,  # a merge patch deleting a field writes nothing
            "conditions": [{"type": "Ready", "status": "True"}],
            "instanceNames": [],
            "containerStatuses": [{"name": "postgres", "state": {"running": {"startedAt": "t"}}}],
        },
        "spec": {"rules": [{"matches": [{"headers": [{"type": "Exact", "name": "Host"}]}]}]},
    }
    assert field_paths(body) == {
        "metadata.labels[cnpg.io/cluster]",
        "metadata.labels.role",
        "metadata.annotations",
        "status.phase",
        "status.conditions[type=Ready].type",
        "status.conditions[type=Ready].status",
        "status.instanceNames[]",
        "status.containerStatuses[].name",
        "status.containerStatuses[].state.running.startedAt",
        "spec.rules[].matches[].headers[].type",
        "spec.rules[].matches[].headers[].name",
    }


def test_uncited_and_unused_follow_the_table():
    cluster = ("postgresql.cnpg.io/v1", "Cluster")
    written = {
        "status.phase",
        "status.conditions[type=Ready].observedGeneration",
        "status.managedRolesStatus.passwordStatus.mlflow.resourceVersion",
        "status.managedRolesStatus.passwordStatus[role.with.dots].transactionID",
    }
    assert uncited("cnpg", *cluster, written) == ["status.conditions[type=Ready].observedGeneration"]
    assert "status.readyInstances" in unused("cnpg", *cluster, written)
    assert "status.phase" not in unused("cnpg", *cluster, written)
    # a whole copied subtree (.**) and one copied key ([*])
    pod = ("v1", "Pod")
    assert uncited("workloads", *pod, {"spec.containers[].env[].name", "metadata.labels[app.kubernetes.io/name]"}) == []
    assert uncited("workloads", *pod, {"spec"}) == ["spec"]
    assert uncited("nobody", *pod, {"spec.nodeName"}) == ["spec.nodeName"]


def test_the_readme_tables_are_the_table():
    section = status_sources.readme_section(status_sources.README.read_text())
    assert section is not None, f"{status_sources.README}: no generated section"
    assert section == status_sources.render_markdown(), (
        "tests/kube_emulator/README.md is out of date: run python -m tests.kube_emulator.status_sources"
    )


def test_every_citation_names_a_pinned_tree_and_lines():
    places = list(status_sources.citations())
    assert places
    counted = {(c, k, f) for c, _, k, f, *_ in places}
    listed = {(c, k, f) for c, kinds in SOURCES.items() for (_, k), fields in kinds.items() for f in fields}
    assert counted == listed


def _go_mod_cache():
    if os.environ.get("GOMODCACHE"):
        return Path(os.environ["GOMODCACHE"])
    return Path.home() / "go" / "pkg" / "mod"


@cache
def _read(source, path):
    """The lines of `path` in the pinned tree `source`, or None when the tree is not on this machine."""
    repos, ref, module = UPSTREAM[source]
    if module:
        candidate = _go_mod_cache() / f"{module}@{ref}" / path
        if candidate.is_file():
            return candidate.read_text().splitlines()
    mirrors = os.environ.get("STATUS_SOURCES_MIRRORS")
    for repo in repos if mirrors else ():
        git_dir = Path(mirrors) / repo.replace("/", "+") / "repo"
        if git_dir.is_dir():
            shown = subprocess.run(
                ["git", "-C", str(git_dir), "show", f"{ref}:{path}"], capture_output=True, text=True, check=False
            )
            if shown.returncode == 0:
                return shown.stdout.splitlines()
    return None


def _letters(text):
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _token(field):
    """The last name in a field path, the word the cited code should mention (None for a wildcard)."""
    last = re.split(r"\.|\[", field.removesuffix(".**").replace("[]", "").rstrip("]"))[-1]
    last = last.removeprefix("type=").split("/")[-1]
    return None if last in ("*", "**") else _letters(last)


@pytest.mark.parametrize("source", sorted(UPSTREAM))
def test_cited_lines_exist(source):
    places = [p for p in status_sources.citations() if p[4] == source]
    if not places:
        pytest.skip(f"nothing cites {source}")
    if all(_read(source, path) is None for *_, path, _ in places):
        pytest.skip(f"{source} is not on this machine (Go module cache, STATUS_SOURCES_MIRRORS)")
    problems = []
    for controller, _, kind, field, _, path, lines in places:
        text = _read(source, path)
        if text is None:
            problems.append(f"{controller} {kind}.{field}: {path} is not in {source}")
        elif max(lines) > len(text) or not any(text[n - 1].strip() for n in lines):
            problems.append(f"{controller} {kind}.{field}: {path}:{lines} is past the end or blank in {source}")
    assert not problems, "\n".join(problems)


def test_cited_lines_mention_the_field():
    """Of all the lines cited for a field, one names it: a citation off by a few lines fails."""
    cited = {}
    for controller, _, kind, field, source, path, lines in status_sources.citations():
        text = _read(source, path)
        if text is None or max(lines) > len(text):
            cited[(controller, kind, field)] = None  # a tree that is not here: the field is not judged
        elif cited.get((controller, kind, field), "") is not None:
            cited[(controller, kind, field)] = cited.get((controller, kind, field), "") + " ".join(
                text[n - 1] for n in lines
            )
    judged = {key: text for key, text in cited.items() if text is not None}
    if not judged:
        pytest.skip("no pinned tree is on this machine (Go module cache, STATUS_SOURCES_MIRRORS)")
    problems = [
        f"{controller} {kind}.{field}: no cited line mentions {_token(field)!r}"
        for (controller, kind, field), text in sorted(judged.items())
        if _token(field) and _token(field) not in _letters(text)
    ]
    assert not problems, "\n".join(problems)
