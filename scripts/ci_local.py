#!/usr/bin/env python3
"""Run .github/workflows/ci.yml's jobs one after another, as the GitHub runner runs them, minus Docker.

Each job gets a fresh workspace laid out like the runner's: a copy of the checkout (the files git
tracks, plus untracked ones not ignored, as they are in the working tree) in an empty directory,
so nothing such as ../shared sits beside it, and an environment without the variables a developer
may have set (SHARED_SCHEMAS_DIR, ANSIBLE_*, MOLECULE_*, VIRTUAL_ENV). Then the job's steps run in
order: `run:` steps with `bash -e` in the workspace, as the runner does; `uses:` steps are stood
in for:

- actions/checkout: the copy above (persist-credentials: false: no token anywhere);
- actions/setup-python: nothing, the python3 on PATH is used (bootstrap.sh needs 3.12 or newer);
- actions/setup-go: nothing, the go on PATH is used (scripts/build_cluster_tools.sh needs 1.26 or newer);
- helm/kind-action: needs Docker; the job stops there and is reported as not run, unless
  --with-docker is given and Docker and kind answer.

`sudo` runs the command directly when this script already runs as root (the runner's sudo needs no
password either). With --schemas-from DIR, scripts/fetch_schemas.py copies from DIR instead of
downloading (FETCH_SCHEMAS_FROM), with the same blob id and sha256 checks: for machines without
GitHub access. With --chart-from DIR, scripts/mlflow_chart.py (run by `make setup`) takes the
mlflow chart from DIR (MLFLOW_CHART_SOURCE), with the same blob id checks. --reuse-installs links the checkout's .venv and .tools into the workspace, so
`make setup` checks them instead of installing from PyPI and npm again.

Usage: scripts/ci_local.py [--job NAME ...] [--schemas-from DIR] [--chart-from DIR] [--reuse-installs] [--keep]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
# What a developer's shell may carry and a runner does not.
SCRUBBED_PREFIXES = ("ANSIBLE_", "MOLECULE_", "K8S_AUTH_", "SHARED_SCHEMAS_DIR", "VIRTUAL_ENV", "PYTEST_")
KEPT = ("PYTEST_ADDOPTS",)  # what a caller may pass on purpose (e.g. to run part of a suite)
DOCKER_ACTIONS = ("helm/kind-action",)
INSTALLED = (".venv", ".tools")  # what `make setup` installs into the checkout
SUDO_SHIM = """#!/usr/bin/env bash
# ci_local.py: the runner's passwordless sudo, when this already runs as root.
while [ $# -gt 0 ]; do
  case "$1" in
    --preserve-env|--preserve-env=*|-E|-H|-n) shift ;;
    --) shift; break ;;
    -*) echo "ci_local sudo shim: option $1 is not handled" >&2; exit 2 ;;
    *) break ;;
  esac
done
exec "$@"
"""


def ordered_jobs(jobs):
    """Job names in an order that respects `needs` (the workflow's own order where free)."""
    done, order = set(), []
    while len(order) < len(jobs):
        ready = [n for n, j in jobs.items() if n not in done and set(_needs(j)) <= done]
        if not ready:
            raise SystemExit(f"ci_local: cycle in needs among {sorted(set(jobs) - done)}")
        order.append(ready[0])
        done.add(ready[0])
    return order


def _needs(job):
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def checkout_files():
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    return [Path(name.decode()) for name in listed if name]


def lay_out_workspace(base, reuse_installs):
    workspace = base / "work" / ROOT.name
    workspace.mkdir(parents=True)
    for relative in checkout_files():
        if relative.parts[0] in INSTALLED:
            continue  # a worktree's link to a shared venv is not part of a checkout
        source = ROOT / relative
        if not source.is_file() and not source.is_symlink():
            continue  # deleted in the working tree
        target = workspace / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    if reuse_installs:
        for name in INSTALLED:
            if (ROOT / name).exists():
                (workspace / name).symlink_to((ROOT / name).resolve())
    return workspace


def job_env(base, workspace, schemas_from, chart_from=None):
    env = {k: v for k, v in os.environ.items() if k in KEPT or not k.startswith(SCRUBBED_PREFIXES)}
    # The Makefile puts this checkout's venv and tools first on PATH: a runner has neither.
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if entry and not _inside(Path(entry), ROOT)
    )
    shim = base / "bin"
    if os.geteuid() == 0 and not shutil.which("sudo"):
        shim.mkdir(exist_ok=True)
        (shim / "sudo").write_text(SUDO_SHIM)
        (shim / "sudo").chmod(0o755)
        env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    runner_temp = base / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    env.update(
        CI="true",
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(workspace),
        RUNNER_TEMP=str(runner_temp),
    )
    if schemas_from:
        env["FETCH_SCHEMAS_FROM"] = str(Path(schemas_from).resolve())
    if chart_from:
        env["MLFLOW_CHART_SOURCE"] = str(Path(chart_from).resolve())
    return env


def _inside(path, root):
    try:
        return path.resolve().is_relative_to(root) or path.absolute().is_relative_to(root)
    except OSError:
        return False


def docker_answers():
    if not (shutil.which("docker") and shutil.which("kind")):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def run_job(name, job, args):
    """Run one job; returns 'passed', 'failed' or 'not run: ...'."""
    base = Path(tempfile.mkdtemp(prefix=f"ci-local-{name}-"))
    try:
        workspace = lay_out_workspace(base, args.reuse_installs)
        env = job_env(base, workspace, args.schemas_from, args.chart_from)
        env.update({k: str(v) for k, v in (job.get("env") or {}).items()})
        print(
            f"=== job {name} in {workspace} (nothing beside it: {sorted(p.name for p in workspace.parent.iterdir())})"
        )
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            label = step.get("name") or uses or step.get("run", "").splitlines()[0]
            if uses:
                action = uses.split("@", 1)[0]
                if action in DOCKER_ACTIONS and not (args.with_docker and docker_answers()):
                    print(f"--- {label}: needs Docker; the job stops here")
                    return "not run: needs Docker"
                print(f"--- {label}: stood in for (see scripts/ci_local.py)")
                continue
            print(f"--- {label}", flush=True)
            step_env = {**env, **{k: str(v) for k, v in (step.get("env") or {}).items()}}
            cwd = workspace / step.get("working-directory", ".")
            proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=step_env, check=False)
            if proc.returncode != 0:
                print(f"--- {label}: exit {proc.returncode}")
                return "failed"
        return "passed"
    finally:
        if args.keep:
            print(f"=== kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", action="append", help="run only this job (repeatable); default: every job")
    parser.add_argument("--schemas-from", help="a local copy of the schema tree, for machines without GitHub access")
    parser.add_argument("--chart-from", help="the upstream mlflow chart 1.11.5, for machines without GitHub access")
    parser.add_argument("--reuse-installs", action="store_true", help="link the checkout's .venv and .tools")
    parser.add_argument("--with-docker", action="store_true", help="run Docker jobs too when Docker and kind answer")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces")
    args = parser.parse_args(argv)
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    unknown = set(args.job or ()) - set(jobs)
    if unknown:
        parser.error(f"unknown job(s) {sorted(unknown)}; the workflow has {sorted(jobs)}")
    results = {}
    for name in ordered_jobs(jobs):
        if args.job and name not in args.job:
            continue
        blocked = [n for n in _needs(jobs[name]) if results.get(n, "passed") != "passed"]
        results[name] = f"not run: needs {', '.join(blocked)}" if blocked else run_job(name, jobs[name], args)
    print("=== ci-local: " + ", ".join(f"{name} {result}" for name, result in results.items()))
    return 1 if "failed" in results.values() else 0


if __name__ == "__main__":
    sys.exit(main())
