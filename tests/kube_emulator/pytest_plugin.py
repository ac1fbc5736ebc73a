"""pytest fixtures: `kube_emulator` (one started emulator per test) and `kube_emulator_factory`."""

import pytest

from tests.support import paths

from .emulator import KubeEmulator


def shared_crd_dirs():
    """The CRDs every fixture emulator starts with: CNPG, Gateway API, prometheus-operator, 1Password."""
    return [paths.CNPG_CRDS, paths.GATEWAY_CRDS, paths.PROMETHEUS_CRDS, paths.ONEPASSWORD_CRDS]


FIXTURE_DEFAULTS = {
    "cnpg_delay": 0.1,
    "workload_delay": 0.05,
    "storage_classes": {"standard": True, "longhorn": False},
}


@pytest.fixture
def kube_emulator_factory():
    """Call with KubeEmulator keyword arguments; returns a started emulator, stopped at teardown.

    Without `crd_files` it loads the shared CRDs; unspecified delays are the fast fixture delays.
    """
    started = []

    def make(**kwargs):
        if "crd_files" not in kwargs:
            missing = [str(p) for p in shared_crd_dirs() if not p.is_dir()]
            if missing:
                pytest.fail(f"shared schemas not found: {', '.join(missing)}; set SHARED_SCHEMAS_DIR")
            kwargs["crd_files"] = shared_crd_dirs()
        emulator = KubeEmulator(**{**FIXTURE_DEFAULTS, **kwargs})
        started.append(emulator)
        return emulator.start()

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def kube_emulator(kube_emulator_factory):
    """A started emulator with the shared CRDs, all controllers, StorageClasses `standard` (default) and `longhorn`."""
    return kube_emulator_factory()
