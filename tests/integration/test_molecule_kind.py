"""molecule/default: the kind scenario. Without Docker or kind it must stop at its first step with
a message that says what is missing. Where they exist, the scenario is not run from here: the
workflow's kind job runs `molecule test -s default` as the README writes it, on its own, so the
emulated integration job never starts a kind cluster beside the rest of the suite."""

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


@pytest.mark.skipif(
    HAVE_KIND, reason="Docker and kind are present: the kind job runs the scenario (molecule test -s default)"
)
def test_kind_scenario_stops_at_once_and_names_what_is_missing():
    proc = molecule("create", "-s", "default", timeout=300)
    assert proc.returncode != 0
    assert "The kind scenario needs" in proc.stdout, proc.stdout[-3000:]
    missing = [m for m in ("a running Docker engine", "the kind command") if m in proc.stdout]
    assert missing, proc.stdout[-3000:]
    assert "molecule test -s emulated" in proc.stdout
    # It stopped before trying to create or download anything.
    for task in ("TASK [List the kind clusters", "TASK [Create the kind cluster", "TASK [Download"):
        assert task not in proc.stdout, proc.stdout[-3000:]


def test_kind_scenario_syntax_with_only_the_venv_on_path():
    """As the README runs it: no ANSIBLE_* variables, only the venv and the pinned tools on PATH."""
    env = {key: value for key, value in tool_env().items() if not key.startswith(("ANSIBLE_", "MOLECULE_"))}
    proc = subprocess.run(
        [str(VENV_BIN / "molecule"), "syntax", "-s", "default"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
