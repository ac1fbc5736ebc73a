"""Model serving: /invocations latency and throughput of the reference example's model, and the
scoring server's peak memory against the limits the mlflow_model_serving role ships.

How: site.yml on the emulator; the harness stack from that converge (real PostgreSQL, real
`mlflow server`, the outpost stand-in); the reference example registers MyModel through the
outpost (tests/harness/client_example.py: a RandomForestRegressor, 100 trees of depth 6);
site.yml again with `mlflow_model_serving_models: [{name: champion, model_uri:
models:/MyModel@champion}]`; then `mlflow models serve` started from the command, args and env of
the Deployment it wrote (tests/harness/model_server.py: only the tracking URI, port, host and
/tmp mapped). Load: THREADS client threads, each with its own keep-alive session, POSTing the
example's input to /invocations back to back for a fixed window per payload: one row, and the
example's whole test set (100 rows). Memory: RSS and PSS of the server's process tree, sampled
every 0.2 s from its start (download and load of the model included) to the end of the load.
"""

import json
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import log, median, percentile
from tests.harness import converge_input, procs, remote_client
from tests.harness.model_server import ModelServer, example_data, serving_endpoints
from tests.harness.stack import Stack, new_workdir
from tests.integration.conftest import INVENTORY, SITE, site_env, site_extra_vars, start_emulator
from tests.support.ansible_run import run_playbook

THREADS = 4
MODELS = [{"name": "champion", "model_uri": "models:/MyModel@champion"}]
MIB = 1024 * 1024


def _mib(quantity):
    """Kubernetes memory quantity (Mi, Gi, M, G or bytes) in MiB."""
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1000 / MIB, "M": 1000**2 / MIB, "G": 1000**3 / MIB}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if str(quantity).endswith(suffix):
            return float(str(quantity)[: -len(suffix)]) * factor
    return float(quantity) / MIB


def load(url, payload, seconds, threads=THREADS):
    latencies, errors = [], []
    stop = threading.Event()
    lock = threading.Lock()
    body = json.dumps(payload).encode()

    def worker():
        with requests.Session() as session:
            while not stop.is_set():
                t0 = time.perf_counter()
                response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
                elapsed = time.perf_counter() - t0
                with lock:
                    (latencies if response.status_code == 200 else errors).append(elapsed)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join(timeout=70)
    wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95) * 1000, 1) if latencies else None,
        "window_s": round(wall, 1),
    }


def run(args):
    seconds = 5.0 if args.quick else 20.0
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    emulator = start_emulator()
    stack = server = None
    try:
        kubeconfig = emulator.write_kubeconfig(workdir / "kubeconfig")
        extra = site_extra_vars("pw-" + secrets.token_urlsafe(24))
        env = site_env(workdir, kubeconfig)
        log("serving: converging site.yml on the emulator")
        first = run_playbook(SITE, inventory=INVENTORY, extra_vars=extra, env=env, verbosity=0, timeout=1200)
        if first.rc != 0:
            raise RuntimeError(f"site.yml failed:\n{first.output[-4000:]}")
        stack = Stack(converge_input.read_converge(kubeconfig), new_workdir("bench-serving-stack-")).start()
        log("serving: registering the example's model through the outpost stand-in")
        example = remote_client.run_example(
            stack.workdir / "client", stack.outpost.url, experiment="bench", model_name="MyModel",
            hide=[stack.server.workdir], **stack.auth_basic(),
        )  # fmt: skip
        if not example.result.get("ok"):
            raise RuntimeError(f"the example failed: {json.dumps(example.result)[:3000]}")
        with serving_endpoints(emulator, stack.server):
            serve_run = run_playbook(
                SITE, inventory=INVENTORY, extra_vars={**extra, "mlflow_model_serving_models": MODELS}, env=env,
                verbosity=0, timeout=1200,
            )  # fmt: skip
        if serve_run.rc != 0:
            raise RuntimeError(f"site.yml with a model failed:\n{serve_run.output[-4000:]}")
        deployment = emulator.get("apps/v1", "Deployment", "champion", "mlflow")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        server = ModelServer(stack.workdir / "serving", deployment, stack.server.url, hide=[stack.server.workdir])
        _, x_test, _ = example_data()
        log("serving: starting mlflow models serve from the Deployment")
        t0 = time.monotonic()
        server.start(sample_memory=True)
        ready_s = time.monotonic() - t0
        time.sleep(1.0)
        idle_rss, _ = procs.tree_memory(server.proc.pid)
        results = {}
        for name, rows in (("one_row", x_test[:1]), ("test_set_100_rows", x_test)):
            load(f"{server.url}/invocations", {"inputs": rows.tolist()}, 2.0)  # warm-up
            rounds = [load(f"{server.url}/invocations", {"inputs": rows.tolist()}, seconds) for _ in range(args.runs)]
            results[name] = {
                "requests_per_s": median([r["requests_per_s"] for r in rounds]),
                "p50_ms": median([r["p50_ms"] for r in rounds]),
                "p95_ms": median([r["p95_ms"] for r in rounds]),
                "errors": sum(r["errors"] for r in rounds),
                "rounds": rounds,
            }
            log(f"  {name}: {results[name]['requests_per_s']} req/s p50 {results[name]['p50_ms']} ms "
                f"p95 {results[name]['p95_ms']} ms errors {results[name]['errors']}")  # fmt: skip
        peak_rss, peak_pss = server.stop_memory_sampling()
        limit = _mib(container["resources"]["limits"]["memory"])
        request_mib = _mib(container["resources"]["requests"]["memory"])
        memory = {
            "idle_rss_mib": round(idle_rss / MIB),
            "peak_rss_mib": round(peak_rss / MIB),
            "peak_pss_mib": round(peak_pss / MIB),
            "request_mib": round(request_mib),
            "limit_mib": round(limit),
        }
        log(f"  memory: {memory}")
        return {
            "method": __doc__.split("\n\n", 1)[1].replace("\n", " "),
            "threads": THREADS,
            "window_s": seconds,
            "server_ready_s": round(ready_s, 1),
            "served": {
                "args": container["args"],
                "workers": container["args"][container["args"].index("--workers") + 1],
            },
            "invocations": results,
            "memory": memory,
            "targets": {
                "within_memory_limit": {**memory, "met": peak_rss / MIB < limit},
                "within_memory_request": {
                    "peak_pss_mib": memory["peak_pss_mib"],
                    "request_mib": memory["request_mib"],
                    "met": peak_pss / MIB < request_mib,
                },  # fmt: skip
            },
        }
    finally:
        if server is not None:
            server.stop()
        if stack is not None:
            stack.stop()
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)
