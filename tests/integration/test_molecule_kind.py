"""molecule/default: the kind scenario. It runs in full where Docker and kind exist, and
elsewhere must stop at its first step with a message that says what is missing."""

import shutil
import subprocess

import pytest

from tests.support.paths import REPO_ROOT, VENV_BIN, tool_env


def _docker_engine_answers():
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0


HAVE_KIND = bool(shutil.which("kind")) and _docker_engine_answers()


def molecule(*args, timeout=3600):
    return subprocess.run(
        [str(VENV_BIN / "molecule"), *args],
        cwd=REPO_ROOT,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.skipif(HAVE_KIND, reason="Docker and kind are present: the full kind scenario runs instead")
def test_kind_scenario_stops_at_once_and_names_what_is_missing():
    proc = molecule("create", "-s", "default", timeout=300)
    assert proc.returncode != 0
    assert "The kind scenario needs" in proc.stdout, proc.stdout[-3000:]
    missing = [m for m in ("a running Docker engine", "the kind command") if m in proc.stdout]
    assert missing, proc.stdout[-3000:]
    assert "molecule test -s emulated" in proc.stdout
    # It stopped before trying to create anything.
    assert "TASK [Create the kind cluster]" not in proc.stdout


@pytest.mark.skipif(not HAVE_KIND, reason="needs a Docker engine and the kind command, which are absent here")
def test_kind_scenario_converges_and_runs_the_seed_example():
    proc = molecule("test", "-s", "default")
    assert proc.returncode == 0, proc.stdout[-5000:]
