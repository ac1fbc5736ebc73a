"""Test-wide set-up: import the collection by its FQCN and expose shared paths."""

import sys

import pytest

from tests.support import paths

pytest_plugins = ["tests.kube_emulator.pytest_plugin", "tests.cluster.pytest_plugin"]

# `ansible_collections` is a namespace package: adding .collections merges this checkout's
# apocrathia.mlflow with the collections that PyPI `ansible` ships (kubernetes.core).
if str(paths.COLLECTIONS_PATH) not in sys.path:
    sys.path.insert(0, str(paths.COLLECTIONS_PATH))


@pytest.fixture(scope="session")
def schemas_dir():
    if not paths.SCHEMAS_DIR.is_dir():
        pytest.fail(f"shared schemas not found at {paths.SCHEMAS_DIR}; set SHARED_SCHEMAS_DIR")
    return paths.SCHEMAS_DIR
