"""`python -m tests.cluster` (what `make cluster` and `make cluster-down` run), as a user drives it:
up, up again, a process killed behind its back, down; nothing of it is left running or listening."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.cluster.local_cluster import listening_ports, process_alive
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.slow


def cli(command, state_dir):
    return subprocess.run(
        [sys.executable, "-m", "tests.cluster", command, "--state-dir", str(state_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def recorded(state_dir):
    return json.loads((state_dir / "cluster.json").read_text())


def test_up_is_idempotent_restarts_a_broken_cluster_and_down_leaves_nothing(tmp_path):
    state_dir = tmp_path / "cluster"
    first = cli("up", state_dir)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"export KUBECONFIG={state_dir / 'admin.kubeconfig'}\n"
    pids = {name: p["pid"] for name, p in recorded(state_dir)["processes"].items()}
    try:
        again = cli("up", state_dir)
        assert again.returncode == 0, again.stderr
        assert "already runs" in again.stderr
        assert {name: p["pid"] for name, p in recorded(state_dir)["processes"].items()} == pids

        os.kill(pids["kwok"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while cli("status", state_dir).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert cli("status", state_dir).returncode == 3
        restarted = cli("up", state_dir)
        assert restarted.returncode == 0, restarted.stderr
        assert "not running whole" in restarted.stderr
        state = recorded(state_dir)
        assert all(state["processes"][name]["pid"] != pid for name, pid in pids.items())
        assert cli("status", state_dir).returncode == 0
    finally:
        state = recorded(state_dir)
        down = cli("down", state_dir)
    assert down.returncode == 0, down.stderr
    assert [n for n, p in state["processes"].items() if process_alive(p["pid"], p["executable"])] == []
    assert set(state["ports"].values()) & listening_ports() == set()
    assert (state_dir / "logs" / "kube-apiserver.log").is_file()  # kept for a look after the fact
