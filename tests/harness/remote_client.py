"""Run the seed's examples as a remote client: another process, another user, its own directory.

The client user cannot read the server's artifact directory (mode 0700, owned by the server
user), like a laptop that only reaches MLflow over HTTP.
"""

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness import procs

EXAMPLE = Path(__file__).with_name("client_example.py")


@dataclass
class ClientRun:
    returncode: int
    result: dict
    stdout: str
    stderr: str
    seconds: float
    home: Path
    steps: dict = field(default_factory=dict)

    def step(self, name):
        return self.steps.get(name)

    def failed_step(self):
        return next((s for s in self.result.get("steps", []) if not s["ok"]), None)


def client_home(workdir, os_user=procs.CLIENT_USER):
    home = procs.owned_dir(workdir, os_user, 0o700)
    procs.owned_dir(home / "tmp", os_user, 0o700)
    return home


def client_env(home, tracking_uri, *, username=None, password=None, token=None, extra=None):
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "MLFLOW_TRACKING_URI": tracking_uri,
    }
    if username is not None:
        env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"] = username, password
    if token is not None:
        env["MLFLOW_TRACKING_TOKEN"] = token
    env.update(extra or {})
    return env


def run_as_client(argv, home, env, *, hide=(), timeout=600, os_user=procs.CLIENT_USER):
    """Run ``argv`` as the client user in its own mount namespace, with ``hide`` covered by empty tmpfs."""
    return subprocess.run(
        procs.isolated_command(argv, os_user, hide=hide), cwd=home, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def run_example(
    workdir, tracking_uri, *, experiment, model_name, alias="champion", hide=(), extra_args=(), timeout=600, **auth
):
    """Copy the example into the client's own directory and run it there; returns a ClientRun."""
    home = client_home(workdir)
    script = home / "client_example.py"
    shutil.copy(EXAMPLE, script)
    uid, gid = procs.ensure_user(procs.CLIENT_USER)
    shutil.chown(script, uid, gid)
    env = client_env(home, tracking_uri, **auth)
    argv = [
        sys.executable,
        str(script),
        "--experiment",
        experiment,
        "--model-name",
        model_name,
        "--alias",
        alias,
        *extra_args,
    ]
    start = time.monotonic()
    proc = run_as_client(argv, home, env, hide=hide, timeout=timeout)
    seconds = time.monotonic() - start
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
    try:
        result = json.loads(last)
    except json.JSONDecodeError:
        result = {"ok": False, "steps": [], "unparsed_stdout": proc.stdout[-3000:]}
    steps = {s["step"]: s for s in result.get("steps", [])}
    return ClientRun(proc.returncode, result, proc.stdout, proc.stderr, seconds, home, steps)


def probe_read(path, workdir, hide=()):
    """Try, as the client (same user, namespace and ``hide``), to list ``path``; returns (ok, output)."""
    home = client_home(workdir)
    code = "import os, sys\ntry:\n    print(os.listdir(sys.argv[1]))\nexcept OSError as e:\n    print(repr(e)); sys.exit(3)"
    argv = [sys.executable, "-c", code, str(path)]
    proc = run_as_client(argv, home, client_env(home, "unused"), hide=hide, timeout=60)
    return proc.returncode == 0, proc.stdout.strip() + proc.stderr.strip()
