"""The execution environment definition produces a complete ansible-builder v3 build context."""

import re
import subprocess
import tarfile

import pytest
import yaml

from tests.support.ansible_run import run_ok
from tests.support.paths import REPO_ROOT, TOOLS_BIN, VENV_BIN

GALAXY = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
# Base images whose glibc is 2.32 or newer (the 1Password SDK's floor), with that version.
GLIBC_OF_BASE = {"quay.io/centos/centos:stream9": (2, 34), "quay.io/centos/centos:stream10": (2, 39)}


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    # The definition copies the built collection from .cache/build, as `make ee-context` does.
    run_ok(
        [VENV_BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", REPO_ROOT / ".cache" / "build"]
    )
    ctx = tmp_path_factory.mktemp("ee") / "context"
    run_ok([VENV_BIN / "ansible-builder", "create", "-f", "execution-environment.yml", "-c", ctx])
    return ctx


def test_base_image_has_a_glibc_the_sdk_supports(context):
    containerfile = (context / "Dockerfile").read_text()
    base = re.search(r'^ARG EE_BASE_IMAGE="([^"]+)"', containerfile, re.M).group(1)
    assert base in GLIBC_OF_BASE, f"unknown glibc for base image {base}"
    assert GLIBC_OF_BASE[base] >= (2, 32)
    assert 'ARG PYCMD="/usr/bin/python3.12"' in containerfile


def test_python_and_collection_dependencies_are_in_the_context(context):
    wanted = [
        line.split(">")[0].split("<")[0].split("=")[0].strip()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    shipped = (context / "_build" / "requirements.txt").read_text()
    for package in wanted:
        assert package in shipped, f"{package} from requirements.txt is missing from the EE"
    galaxy_reqs = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    names = [c["name"] for c in galaxy_reqs["collections"]]
    assert "kubernetes.core" in names
    assert any(n.endswith(".tar.gz") for n in names), "this collection itself is not installed in the EE"
    with tarfile.open(context / "_build" / "collections" / TARBALL) as tar:
        assert "plugins/modules/onepassword_item.py" in tar.getnames()


def test_the_pinned_helm_is_copied_into_the_final_image(context):
    helm = context / "_build" / "tools" / "helm"
    version = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, check=True).stdout
    pinned = subprocess.run(
        [str(TOOLS_BIN / "helm"), "version", "--short"], capture_output=True, text=True, check=True
    ).stdout
    assert version == pinned
    final_stage = (context / "Dockerfile").read_text().split("FROM base AS final", 1)[1]
    assert "COPY _build/tools/helm /usr/local/bin/helm" in final_stage
