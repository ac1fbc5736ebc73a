"""A chart value change reaches the MLflow process with no change to the harness.

The real chart is installed (then upgraded) on the emulator with helm; the harness reads the
Deployment back from the cluster and starts a real `mlflow server` from it (tests/harness/pod.py).
Nothing in tests/harness knows `--workers` or MLFLOW_SERVER_ALLOWED_HOSTS: they travel from the
values through the chart's templates into the Deployment and its ConfigMap, and from there into
the process.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import pod
from tests.harness.mlflow_server import MlflowServer, request
from tests.harness.stack import new_workdir
from tests.kube_emulator import KubeEmulator
from tests.support import paths

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the server as a separate user"),
]

SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


# The first request to a fresh server builds its in-memory SQLite schema: slow on a loaded machine.
SLOW = 120


def _helm_install(emu, workdir, values):
    env = paths.tool_env({"KUBECONFIG": emu.kubeconfig, "HELM_CACHE_HOME": workdir / "hc",
                          "HELM_CONFIG_HOME": workdir / "hcfg", "HELM_DATA_HOME": workdir / "hd"})  # fmt: skip
    cmd = [str(paths.HELM), "upgrade", "--install", "mlflow", str(paths.mlflow_chart()), "-n", "mlflow", "-f", "-"]
    proc = subprocess.run(cmd, input=yaml.safe_dump(values), env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def _running(emu, workdir):
    workload = pod.from_cluster(emu.kubeconfig, "mlflow", "mlflow")
    return MlflowServer(workdir, workload, host_map={}).start()


def test_workers_and_allowed_hosts_follow_the_chart_values():
    workdir = new_workdir(prefix="harness-pod-")
    with KubeEmulator(controllers=("workloads",)) as emu:
        emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mlflow"}})
        # The chart's default backend (SQLite in memory): no PostgreSQL needed to see the options.
        _helm_install(emu, workdir, {"extraArgs": {"workers": "1"}, "serverAllowedHosts": ["one.example.com"]})
        first = _running(emu, workdir / "first")
        try:
            cmdline = Path(f"/proc/{first.proc.pid}/cmdline").read_bytes().split(b"\0")
            assert b"--workers=1" in cmdline
            assert request(first.url + SEARCH, headers={"Host": "one.example.com"}, timeout=SLOW)[0] != 403
            assert request(first.url + SEARCH, headers={"Host": "two.example.com"}, timeout=SLOW)[0] == 403
        finally:
            first.stop()

        _helm_install(emu, workdir, {"extraArgs": {"workers": "2"}, "serverAllowedHosts": ["two.example.com"]})
        second = _running(emu, workdir / "second")
        try:
            cmdline = Path(f"/proc/{second.proc.pid}/cmdline").read_bytes().split(b"\0")
            assert b"--workers=2" in cmdline and b"--workers=1" not in cmdline
            assert request(second.url + SEARCH, headers={"Host": "two.example.com"}, timeout=SLOW)[0] != 403
            assert request(second.url + SEARCH, headers={"Host": "one.example.com"}, timeout=SLOW)[0] == 403
        finally:
            second.stop()
            shutil.rmtree(workdir, ignore_errors=True)
