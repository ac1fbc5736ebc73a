"""`make ci-local` (scripts/ci_local.py): the workflow's jobs in a workspace laid out like a GitHub
runner's, here without Docker. The unit job runs its own commands (`make schemas`, `make unit`)
in a copy of the checkout with nothing beside it, so the tests find only the schemas that job's
step laid out. To stay cheap it runs the unit tests that read those schemas, not the whole suite
(PYTEST_ADDOPTS), and reuses the installed venv and helm (--reuse-installs)."""

import os
import re
import shutil
import subprocess

import pytest

from tests.support.paths import REPO_ROOT, SCHEMAS_DIR, VENV_BIN

SCRIPT = REPO_ROOT / "scripts" / "ci_local.py"
# The upstream chart as the developers' and CI's machines have it (scripts/mlflow_chart.py).
CHART_SOURCE = os.environ.get("MLFLOW_CHART_SOURCE") or str(REPO_ROOT.parent / "shared" / "charts" / "mlflow-1.11.5")
SCHEMA_TESTS = "fetch_schemas or terminal_phases or kubernetes_version or schemas_support"


def ci_local(*args, addopts=None, timeout=600):
    env = dict(os.environ)
    # A developer's (or this suite's) own settings must not reach the simulated runner.
    env["SHARED_SCHEMAS_DIR"] = str(SCHEMAS_DIR)
    if addopts:
        env["PYTEST_ADDOPTS"] = addopts
    return subprocess.run(
        [str(VENV_BIN / "python"), str(SCRIPT), *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def fetched_tree(tmp_path):
    """A local copy of what scripts/fetch_schemas.py downloads (this machine has no GitHub access)."""
    tree = tmp_path / "fetched"
    shutil.copytree(SCHEMAS_DIR, tree, ignore=shutil.ignore_patterns("*.md"))
    return tree


def test_unit_job_passes_on_a_runner_layout(fetched_tree):
    proc = ci_local(
        "--job",
        "unit",
        "--reuse-installs",
        "--schemas-from",
        str(fetched_tree),
        "--chart-from",
        CHART_SOURCE,
        addopts=f"-k '{SCHEMA_TESTS}'",
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    # Nothing beside the workspace (no ../shared), and the schemas came from the job's own step.
    beside = re.search(r"=== job unit in (\S+) \(nothing beside it: (\[.*\])\)", out)
    assert beside and beside.group(2) == repr([REPO_ROOT.name]), out[:2000]
    assert "--- Lay out the schemas the tests read" in out
    assert "cloudnative-pg/postgresql.cnpg.io_clusters.yaml blob a65a1f0e93d46f092440ac42d1516a40822ca640 ok" in out
    ran = re.search(r"(\d+) passed, (\d+) deselected", out)
    assert ran and int(ran.group(1)) >= 10, out[-3000:]
    assert "failed" not in out.split("--- Unit tests", 1)[1]
    assert "=== ci-local: unit passed" in out


def test_unit_job_fails_at_its_schema_step_on_a_tampered_file(fetched_tree):
    crd = fetched_tree / "cloudnative-pg" / "postgresql.cnpg.io_clusters.yaml"
    crd.write_bytes(crd.read_bytes() + b"\n# changed\n")
    proc = ci_local(
        "--job", "unit", "--reuse-installs", "--schemas-from", str(fetched_tree), "--chart-from", CHART_SOURCE
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "cloudnative-pg/postgresql.cnpg.io_clusters.yaml: got blob" in proc.stdout
    assert "--- Unit tests" not in proc.stdout  # stopped before the tests
    assert "=== ci-local: unit failed" in proc.stdout


def test_kind_job_stops_at_the_docker_step_without_with_docker():
    """Without --with-docker (and here there is no Docker engine) the kind job stops at kind-action."""
    proc = ci_local("--job", "kind", "--reuse-installs", "--chart-from", CHART_SOURCE, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "needs Docker; the job stops here" in proc.stdout
    assert "=== ci-local: kind not run: needs Docker" in proc.stdout
