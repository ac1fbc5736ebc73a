"""The mlflow chart stand-in installs and upgrades with the pinned helm against the emulator.

What mlflow_helm relies on: the API server's schema validation accepts every object, the
ServiceMonitor appears only when its CRD is served, the flask secret hook is created on install
and kept (not regenerated) on upgrade, and `--wait` sees the Deployment become available.
"""

import subprocess

import pytest
import yaml

from tests.kube_emulator import KubeEmulator
from tests.support import paths
from tests.unit.test_chart_standin import CHART, REFERENCE_VALUES

pytestmark = pytest.mark.slow


def _helm(emu, tmp_path, *args):
    env = paths.tool_env(
        {
            "KUBECONFIG": emu.kubeconfig,
            "HELM_CACHE_HOME": tmp_path / "cache",
            "HELM_CONFIG_HOME": tmp_path / "config",
            "HELM_DATA_HOME": tmp_path / "data",
        }
    )
    return subprocess.run(
        [str(paths.TOOLS_BIN / "helm"), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("with_monitoring_crd", [True, False], ids=["prometheus-operator", "no-prometheus-operator"])
def test_install_and_upgrade_on_the_emulator(tmp_path, with_monitoring_crd):
    crds = [paths.PROMETHEUS_CRDS] if with_monitoring_crd else []
    with KubeEmulator(crd_files=crds, controllers=("workloads",)) as emu:
        for namespace in ("mlflow", "prometheus-system"):
            emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        values = tmp_path / "values.yaml"
        values.write_text(yaml.safe_dump(REFERENCE_VALUES))
        install = ("upgrade", "--install", "mlflow", CHART, "--namespace", "mlflow", "--values", values)

        first = _helm(emu, tmp_path, *install, "--wait", "--timeout", "60s")
        assert first.returncode == 0, first.stderr
        flask = emu.get("v1", "Secret", "mlflow-flask-server-secret-key", "mlflow")
        assert flask is not None

        second = _helm(emu, tmp_path, *install)
        assert second.returncode == 0, second.stderr
        assert emu.get("v1", "Secret", "mlflow-flask-server-secret-key", "mlflow")["data"] == flask["data"]

        deployment = emu.get("apps/v1", "Deployment", "mlflow", "mlflow")
        assert deployment["status"]["availableReplicas"] == 1
        assert emu.get("v1", "Service", "mlflow", "mlflow")["spec"]["ports"][0]["port"] == 80
        assert emu.get("v1", "ConfigMap", "mlflow-env-configmap", "mlflow")["data"]["PGDATABASE"] == "mlflow"
        monitor = emu.get("monitoring.coreos.com/v1", "ServiceMonitor", "mlflow", "prometheus-system") if crds else None
        assert (monitor is not None) == with_monitoring_crd

        listing = _helm(emu, tmp_path, "list", "--namespace", "mlflow", "--output", "yaml")
        release = yaml.safe_load(listing.stdout)[0]
        assert (release["chart"], release["app_version"], release["revision"]) == ("mlflow-1.11.5", "3.15.1", "2")
