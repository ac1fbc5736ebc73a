"""Command line: start the real-client stack and leave it running, or stop it.

    python -m tests.harness up --state-dir DIR [--kubeconfig K] [--values FILE] [--run-example]
    python -m tests.harness down --state-dir DIR

`up` reads its input from a converge (--kubeconfig: the cluster, emulated or real, that
site.yml converged), or else from the roles' intended values (optionally merged with
--values, a JSON or YAML file of Helm values). It starts PostgreSQL, MLflow (from the
Deployment in the cluster, or the chart's rendering for other values) and the outpost
STAND-IN, writes DIR/state.json and prints how to point the MLflow SDK at it. With
--kubeconfig of the emulator, it registers MLflow's and the outpost's local addresses for
their Services, so the API server's Service proxy reaches them.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.harness import endpoints, procs, remote_client
from tests.harness.deployment_input import intended_input
from tests.harness.stack import APP_USER, Stack
from tests.support.schemas import coalesce_values

STATE = "state.json"


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _start_time(pid):
    """When ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22), or None."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _ours(state, name):
    """Whether the process recorded as ``name`` still runs: the same pid, started at the same time.

    A pid alone is not enough: once ours exits, the kernel may give it to another process, such as
    another test's etcd, whose process group a signal to this pid would then end.
    """
    pid = state.get("pids", {}).get(name)
    if not pid or not _alive(pid):
        return False
    recorded = state.get("started", {}).get(name)
    return recorded is None or _start_time(pid) == recorded


def _check_traversable(path):
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            if parent == path:
                continue
            raise SystemExit(
                f"{parent} is not traversable by other users (mode {oct(parent.stat().st_mode & 0o777)}); the "
                "servers run as unprivileged users: choose a --state-dir under /tmp or another open directory"
            )


def _input(args):
    if args.kubeconfig:
        from tests.harness.converge_input import read_converge

        deployment = read_converge(args.kubeconfig, namespace=args.namespace, release=args.release)
    else:
        deployment = intended_input()
        deployment.source = "the roles' intended values (no --kubeconfig given)"
    if args.values:
        deployment.values = coalesce_values(deployment.values, yaml.safe_load(Path(args.values).read_text()))
        deployment.workload = None  # other values: what the chart renders for them
    return deployment


def up(args):
    state_dir = Path(args.state_dir).resolve()
    state_file = state_dir / STATE
    if state_file.exists():
        recorded = json.loads(state_file.read_text())
        if any(_ours(recorded, name) for name in recorded.get("pids", {})):
            raise SystemExit(f"already up (see {state_file}); run `down --state-dir {args.state_dir}` first")
    _check_traversable(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o755)
    deployment = _input(args)
    stack = Stack(deployment, state_dir)
    t0 = time.monotonic()
    try:
        stack.start_postgres()
        stack.server = stack.start_server()
    except BaseException:
        stack.stop(remove=False)
        raise
    # The outpost stand-in runs as its own process, so it outlives this command.
    provider = deployment.provider
    config = {
        "upstream": stack.server.url,
        "internal_host": provider["internal_host"],
        "external_host": provider["external_host"],
        "intercept_header_auth": bool(provider.get("intercept_header_auth", True)),
        "app_passwords": {APP_USER: stack.app_password},
        "tokens": {stack.bearer_token: APP_USER},
        "port": procs.free_port(),
    }
    config_file = state_dir / "outpost.json"
    config_file.touch(mode=0o600)
    config_file.write_text(json.dumps(config))
    with (state_dir / "outpost.log").open("wb") as log:
        outpost = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.outpost", str(config_file)],
            cwd=Path(__file__).resolve().parents[2], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{config['port']}"
    procs.wait_for(lambda: _outpost_up(url), 30, what="outpost stand-in", proc=outpost, log=state_dir / "outpost.log")
    registered = []
    if args.kubeconfig:
        registered = register_endpoints(args.kubeconfig, deployment, stack.server.url, url)
    password_file = state_dir / "app-password"
    password_file.touch(mode=0o600)
    password_file.write_text(stack.app_password + "\n")
    state = {
        "input": deployment.source,
        "url": url,
        "mlflow_direct_url": stack.server.url,
        "postgres": f"{stack.pg.host}:{stack.pg.port}",
        "username": APP_USER,
        "app_password_file": str(password_file),
        "pids": {"outpost": outpost.pid, "mlflow": stack.server.proc.pid, "postgres": stack.pg.proc.pid},
        "started": {
            "outpost": _start_time(outpost.pid),
            "mlflow": _start_time(stack.server.proc.pid),
            "postgres": _start_time(stack.pg.proc.pid),
        },
        "timings": {
            "postgres_ready_s": round(stack.pg.timings["ready_s"], 2),
            "mlflow_ready_s": round(stack.server.timings["ready_s"], 2),
            "total_s": round(time.monotonic() - t0, 2),
        },
        "argv": stack.server.argv,
        "kubeconfig": str(Path(args.kubeconfig).resolve()) if args.kubeconfig else None,
        "service_endpoints": registered,
    }
    state_file.write_text(json.dumps(state, indent=2) + "\n")
    print(f"MLflow is up (input: {deployment.source}); real PostgreSQL and MLflow, authentik outpost STAND-IN.")
    print(
        f"  PostgreSQL ready in {state['timings']['postgres_ready_s']} s, MLflow in {state['timings']['mlflow_ready_s']} s"
    )
    print(f"  through the outpost stand-in: {url}   (MLflow itself: {stack.server.url})")
    print("  point the MLflow SDK at it:")
    print(f"    export MLFLOW_TRACKING_URI={url} MLFLOW_TRACKING_USERNAME={APP_USER}")
    print(f"    export MLFLOW_TRACKING_PASSWORD=$(cat {password_file})")
    for entry in registered:
        print(
            f"  the emulator's Service proxy forwards {entry['namespace']}/{entry['name']}:{entry['port']} "
            f"to {entry['address']}"
        )
    print(f"  stop with: python -m tests.harness down --state-dir {args.state_dir}")
    if args.run_example:
        run = remote_client.run_example(
            state_dir / "client", url, experiment="my-experiment", model_name="MyModel",
            hide=[stack.server.workdir], **stack.auth_basic(),
        )  # fmt: skip
        steps = ", ".join(f"{s['step']} {'ok' if s['ok'] else 'FAILED'}" for s in run.result.get("steps", []))
        print(f"  the reference deployment's examples as a remote client ({run.seconds:.1f} s): {steps}")
        if not run.result.get("ok"):
            print(json.dumps(run.failed_step(), indent=2), file=sys.stderr)
            return 1
    return 0


def register_endpoints(kubeconfig, deployment, mlflow_url, outpost_url):
    """The emulator's Services answer through the processes started here (MLflow's and the outpost's)."""
    from kubernetes import client, config

    registered = endpoints.register(
        kubeconfig, deployment.namespace, deployment.workload.deployment["metadata"]["name"],
        mlflow_url.split("://", 1)[1],
    )  # fmt: skip
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        outposts = client.AppsV1Api(api).list_deployment_for_all_namespaces(
            label_selector="app.kubernetes.io/managed-by=goauthentik.io"
        )
    finally:
        api.close()
    for outpost in outposts.items:
        registered += endpoints.register(
            kubeconfig, outpost.metadata.namespace, outpost.metadata.name, outpost_url.split("://", 1)[1]
        )
    return registered


def _outpost_up(url):
    from tests.harness.mlflow_server import request

    try:
        return request(url + "/outpost.goauthentik.io/ping", timeout=2)[0] == 200
    except OSError:
        return False


def down(args):
    state_file = Path(args.state_dir).resolve() / STATE
    if not state_file.exists():
        print(f"nothing to stop: {state_file} does not exist")
        return 0
    state = json.loads(state_file.read_text())
    pids = state.get("pids", {})
    if state.get("service_endpoints") and state.get("kubeconfig") and Path(state["kubeconfig"]).exists():
        endpoints.unregister(state["kubeconfig"], state["service_endpoints"])
    # PostgreSQL last, and with SIGINT (fast shutdown): MLflow holds connections to it.
    for name in ("outpost", "mlflow", "postgres"):
        pid = pids.get(name)
        if not _ours(state, name):
            continue
        try:
            os.killpg(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        print(f"stopped {name} (pid {pid})")
    state_file.unlink()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start PostgreSQL, MLflow and the outpost stand-in, and leave them running")
    p_up.add_argument("--state-dir", required=True)
    p_up.add_argument("--kubeconfig", help="read the input from this converged cluster")
    p_up.add_argument("--namespace", default="mlflow")
    p_up.add_argument("--release", default="mlflow")
    p_up.add_argument("--values", help="Helm values (JSON/YAML) merged over the input's values")
    p_up.add_argument(
        "--run-example", action="store_true", help="then run the reference deployment's examples as a remote client"
    )
    p_down = sub.add_parser("down", help="stop what `up` started")
    p_down.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    return up(args) if args.command == "up" else down(args)


if __name__ == "__main__":
    sys.exit(main())
