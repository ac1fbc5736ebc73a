"""One Kubernetes version for the emulator and the kind scenario, and one CloudNativePG 1.30 supports."""

import re

import yaml

from tests.kube_emulator import schemas, server
from tests.kube_emulator.version import CNPG_SUPPORTED_MINORS, KUBERNETES_VERSION, SCHEMA_VERSION
from tests.support.paths import REPO_ROOT

KIND_MOLECULE = REPO_ROOT / "molecule" / "default" / "molecule.yml"


def kind_node_image():
    config = yaml.safe_load(KIND_MOLECULE.read_text())
    return config["provisioner"]["inventory"]["group_vars"]["all"]["molecule_kind_node_image"]


def test_the_kind_node_image_is_pinned_by_digest_at_the_emulators_version():
    match = re.fullmatch(r"kindest/node:(v[0-9.]+)@sha256:([0-9a-f]{64})", kind_node_image())
    assert match, kind_node_image()
    assert match.group(1) == KUBERNETES_VERSION


def test_the_version_is_one_cloudnative_pg_1_30_supports():
    minor = ".".join(KUBERNETES_VERSION.lstrip("v").split(".")[:2])
    assert minor in CNPG_SUPPORTED_MINORS
    assert SCHEMA_VERSION.startswith(f"v{minor}.")


def test_the_emulator_reports_and_validates_against_that_version():
    assert server.K8S_VERSION["gitVersion"] == KUBERNETES_VERSION
    assert (server.K8S_VERSION["major"], server.K8S_VERSION["minor"]) == tuple(KUBERNETES_VERSION[1:].split(".")[:2])
    assert schemas.Schemas().version == SCHEMA_VERSION
