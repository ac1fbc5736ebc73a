"""Build round trip: the Galaxy artifact a user installs is complete and carries no test tree."""

import tarfile

import pytest
import yaml

from tests.support.ansible_run import run_ok
from tests.support.paths import REPO_ROOT, VENV_BIN, tool_env

GALAXY = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
MODULES = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
# Kept out of the artifact by build_ignore; tests/ must not ship (it is test infrastructure).
MUST_NOT_SHIP = ("tests/", "bench/", "molecule/", ".venv/", ".ci/", ".tools/", ".cache/", ".collections/")


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory):
    """Build the tarball, install it into an empty collections path, and return both."""
    work = tmp_path_factory.mktemp("galaxy")
    env = tool_env()
    run_ok([VENV_BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", work / "dist"], env=env)
    tarball = work / "dist" / f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    assert tarball.is_file()
    installed = work / "collections"
    # Only the empty path is configured, as on a user's machine (the checkout's .collections
    # link would make ansible-galaxy answer "already installed"). --no-deps: kubernetes.core
    # comes from the venv's `ansible` here (Galaxy is unreachable).
    env = dict(env, ANSIBLE_COLLECTIONS_PATH=str(installed))
    run_ok([VENV_BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", installed, tarball], env=env)
    return tarball, installed, env


def test_artifact_has_no_test_tree(installed_collection):
    tarball, _, _ = installed_collection
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    shipped = [n for n in names if n.startswith(MUST_NOT_SHIP)]
    assert not shipped, f"build_ignore lets these into the artifact: {shipped[:10]}"
    for needed in ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md", "LICENSE", "playbooks/site.yml"):
        assert needed in names, f"{needed} is missing from the artifact"
    for module in MODULES:
        assert f"plugins/modules/{module}.py" in names
    roles = {n.split("/")[1] for n in names if n.startswith("roles/") and n.count("/") >= 2}
    assert {"mlflow_secrets", "cnpg_cluster", "mlflow_helm", "authentik_proxy"} <= roles


def test_installed_artifact_lists_and_documents_every_module(installed_collection):
    _, installed, env = installed_collection
    assert (installed / "ansible_collections" / "apocrathia" / "mlflow" / "MANIFEST.json").is_file()
    listing = run_ok([VENV_BIN / "ansible-doc", "-l", "apocrathia.mlflow"], env=env)
    assert MODULES, "the collection ships no modules"
    for module in MODULES:
        assert f"apocrathia.mlflow.{module}" in listing
        doc = run_ok([VENV_BIN / "ansible-doc", f"apocrathia.mlflow.{module}"], env=env)
        assert "OPTIONS" in doc and "RETURN VALUES" in doc


def test_installed_site_playbook_passes_syntax_check(installed_collection, tmp_path):
    _, _, env = installed_collection
    # Run from an empty directory so nothing of the checkout (ansible.cfg, roles/) is used.
    env = {k: v for k, v in env.items() if k != "ANSIBLE_CONFIG"}
    out = run_ok(
        [VENV_BIN / "ansible-playbook", "apocrathia.mlflow.site", "--syntax-check", "-i", "localhost,"],
        env=env,
        cwd=tmp_path,
    )
    assert "playbook:" in out and "site.yml" in out, out
