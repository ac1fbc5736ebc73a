"""Run ansible-playbook the way a user does, and check its output for leaked secrets."""

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.paths import REPO_ROOT, VENV_BIN, tool_env


@dataclass
class PlaybookRun:
    rc: int
    output: str  # stdout and stderr together, as a user sees them
    command: list
    # Every task's outcome (tests/support/callback_plugins/task_results.py): name, role, action,
    # status and, for apocrathia.mlflow.k8s_objects, each object's ref, kind, action, operation.
    results: list = field(default_factory=list)

    def tasks(self, *, role=None, action=None, name=None):
        """The outcomes of the tasks matching role, action (FQCN) and name."""
        return [
            r
            for r in self.results
            if (role is None or r["role"] == role)
            and (action is None or r["action"] == action)
            and (name is None or r["name"] == name)
        ]

    def objects(self, **match):
        """The per-object results of every apocrathia.mlflow.k8s_objects call, filtered by ``match``."""
        return [
            obj
            for r in self.results
            for obj in r.get("objects", [])
            if all(obj.get(key) == value for key, value in match.items())
        ]

    def recap(self):
        """The PLAY RECAP counters summed over hosts: {'ok': n, 'changed': n, 'failed': n, ...}."""
        totals = {}
        in_recap = False
        for line in self.output.splitlines():
            if line.startswith("PLAY RECAP"):
                in_recap = True
                continue
            if in_recap and ":" in line and "=" in line:
                for part in line.split(":", 1)[1].split():
                    key, _, value = part.partition("=")
                    if value.isdigit():
                        totals[key] = totals.get(key, 0) + int(value)
        return totals


def run_playbook(
    playbook,
    *,
    inventory=None,
    extra_vars=None,
    env=None,
    verbosity=3,
    check=False,
    diff=False,
    tags=None,
    timeout=900,
):
    """Run ``ansible-playbook`` in a subprocess at ``-v`` * verbosity and return a PlaybookRun."""
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook)]
    if inventory:
        cmd += ["-i", str(inventory)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", ",".join(tags)]
    fd, results_file = tempfile.mkstemp(prefix="task-results-", suffix=".jsonl")
    os.close(fd)
    run_env = tool_env(env)
    callbacks = [c for c in run_env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c]
    run_env.update(
        TASK_RESULTS_FILE=results_file,
        ANSIBLE_CALLBACK_PLUGINS=os.pathsep.join(
            [str(Path(__file__).parent / "callback_plugins")]
            + [p for p in run_env.get("ANSIBLE_CALLBACK_PLUGINS", "").split(os.pathsep) if p]
        ),
        ANSIBLE_CALLBACKS_ENABLED=",".join(callbacks + ["task_results"]),
    )
    try:
        proc = subprocess.run(
            cmd,
            cwd=str(REPO_ROOT),
            env=run_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        results = [json.loads(line) for line in Path(results_file).read_text().splitlines() if line.strip()]
    finally:
        os.unlink(results_file)
    return PlaybookRun(proc.returncode, proc.stdout, cmd, results)


def assert_no_secrets(output, secrets):
    """Fail when any secret value (str, at least 4 chars) appears anywhere in ``output``."""
    leaked = [s for s in secrets if s and len(str(s)) >= 4 and str(s) in output]
    assert not leaked, f"{len(leaked)} secret value(s) appear in the output (values not shown)"


def write_inventory(path, hostvars):
    """Write a one-host local inventory (YAML) with the given host variables."""
    import yaml

    data = {
        "all": {
            "hosts": {
                "localhost": dict(
                    {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")},
                    **hostvars,
                )
            }
        }
    }
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
    return Path(path)


def run_ok(cmd, *, env=None, cwd=REPO_ROOT, timeout=300):
    """Run a command (stdout and stderr together), assert it succeeded, and return its output."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=tool_env() if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}"
    return proc.stdout
