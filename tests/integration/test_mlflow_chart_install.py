"""The real mlflow chart installs, upgrades and rolls back with both pinned helm majors on the emulator.

The chart is the community-charts chart 1.11.5 laid out for an offline install by
scripts/mlflow_chart.py (the upstream files, without the dependency list of its disabled
subcharts). Helm 4.1.4 (`.tools/bin/helm`, the default, server-side apply) and helm 3.18.0
(`.tools/helm3/helm`) are both installed by `make setup`. What mlflow_helm relies on: the API
server's schema validation accepts every object, the ServiceMonitor appears only when its CRD
is served, the flask secret hook is created on install and kept (not regenerated) on upgrade
and rollback, `--wait` sees the Deployment become available, and a rollback restores the
previous revision's pod template.
"""

import copy
import subprocess

import pytest
import yaml

from tests.kube_emulator import KubeEmulator
from tests.support import paths, reference

pytestmark = pytest.mark.slow

HELMS = {"helm4": paths.HELM, "helm3": paths.HELM3}
CHART = paths.mlflow_chart()

# What mlflow_helm gives the chart for the reference deployment (with the defects fixed); a deep
# copy, so that no test can change the shared reference constants.
REFERENCE_VALUES = copy.deepcopy(
    {
        "image": {"repository": "burakince/mlflow", "pullPolicy": "IfNotPresent"},
        "replicaCount": 1,
        "service": {"type": "ClusterIP", "port": 80, "containerPort": 5000, "name": "mlflow"},
        "backendStore": reference.BACKEND_STORE,
        "artifactRoot": reference.ARTIFACT_ROOT,
        "extraVolumes": [{"name": "artifacts", "persistentVolumeClaim": {"claimName": "mlflow-artifacts-pvc"}}],
        "extraVolumeMounts": [{"name": "artifacts", "mountPath": "/mlflow/artifacts"}],
        "securityContext": reference.SECURITY_CONTEXT,
        "podSecurityContext": reference.POD_SECURITY_CONTEXT,
        "log": {"enabled": True, "level": "info"},
        "telemetry": {"enabled": False},
        "serverAllowedHosts": ["mlflow.example.com", "mlflow", "mlflow.mlflow", "mlflow.mlflow.svc"],
        "corsAllowedOrigins": ["https://mlflow.example.com"],
        "resources": reference.MLFLOW_RESOURCES,
        "extraArgs": {"workers": "2"},
        "extraEnvVars": {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        "serviceMonitor": reference.SERVICE_MONITOR,
    }
)


def _helm(helm, emu, tmp_path, *args):
    env = paths.tool_env(
        {
            "KUBECONFIG": emu.kubeconfig,
            "HELM_CACHE_HOME": tmp_path / "cache",
            "HELM_CONFIG_HOME": tmp_path / "config",
            "HELM_DATA_HOME": tmp_path / "data",
        }
    )
    return subprocess.run([str(helm), *map(str, args)], env=env, capture_output=True, text=True, timeout=180,
                          check=False)  # fmt: skip


def _args(emu):
    deployment = emu.get("apps/v1", "Deployment", "mlflow", "mlflow")
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.mark.parametrize(
    ("helm_name", "with_monitoring_crd"),
    [("helm4", True), ("helm4", False), ("helm3", True)],
    ids=["helm4-prometheus-operator", "helm4-no-prometheus-operator", "helm3-prometheus-operator"],
)
def test_install_upgrade_and_rollback_on_the_emulator(tmp_path, helm_name, with_monitoring_crd):
    helm = HELMS[helm_name]
    version = subprocess.run([str(helm), "version", "--template", "{{.Version}}"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    assert version.startswith("v4." if helm_name == "helm4" else "v3.")
    crds = [paths.PROMETHEUS_CRDS] if with_monitoring_crd else []
    with KubeEmulator(crd_files=crds, controllers=("workloads",)) as emu:
        for namespace in ("mlflow", "prometheus-system"):
            emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        values = tmp_path / "values.yaml"
        values.write_text(yaml.safe_dump(REFERENCE_VALUES))
        install = ("upgrade", "--install", "mlflow", CHART, "--namespace", "mlflow", "--values", values)

        first = _helm(helm, emu, tmp_path, *install, "--wait", "--timeout", "60s")
        assert first.returncode == 0, first.stderr
        flask = emu.get("v1", "Secret", "mlflow-flask-server-secret-key", "mlflow")
        assert flask is not None
        assert "--workers=2" in _args(emu)

        second = _helm(helm, emu, tmp_path, *install, "--set-string", "extraArgs.workers=3")
        assert second.returncode == 0, second.stderr
        assert emu.get("v1", "Secret", "mlflow-flask-server-secret-key", "mlflow")["data"] == flask["data"]
        assert "--workers=3" in _args(emu)

        deployment = emu.get("apps/v1", "Deployment", "mlflow", "mlflow")
        assert deployment["status"]["availableReplicas"] == 1
        assert emu.get("v1", "Service", "mlflow", "mlflow")["spec"]["ports"][0]["port"] == 80
        assert emu.get("v1", "ConfigMap", "mlflow-env-configmap", "mlflow")["data"]["PGDATABASE"] == "mlflow"
        monitor = emu.get("monitoring.coreos.com/v1", "ServiceMonitor", "mlflow", "prometheus-system") if crds else None
        assert (monitor is not None) == with_monitoring_crd

        rollback = _helm(helm, emu, tmp_path, "rollback", "mlflow", "1", "--namespace", "mlflow", "--wait")
        assert rollback.returncode == 0, rollback.stderr
        assert "--workers=2" in _args(emu)
        assert emu.get("v1", "Secret", "mlflow-flask-server-secret-key", "mlflow")["data"] == flask["data"]

        listing = _helm(helm, emu, tmp_path, "list", "--namespace", "mlflow", "--output", "yaml")
        release = yaml.safe_load(listing.stdout)[0]
        assert (release["chart"], release["app_version"], str(release["revision"])) == ("mlflow-1.11.5", "3.15.1", "3")
        assert release["status"] == "deployed"
