"""Shipped server defaults vs the chart's defaults, on a real PostgreSQL and a real MLflow server.

Input: the Helm values and CNPG Cluster that a converge of site.yml on the emulator produced
(read back with tests/harness/converge_input.read_converge, as the real-client tests do). Two
variants of those values:

- ``shipped``: as converged (the mlflow_helm role's workers, SQLAlchemy pool settings,
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false and the audit log: --app-name audit, its ConfigMap
  on PYTHONPATH, UVICORN_ACCESS_LOG=false);
- ``chart``: the same values without ``extraArgs.workers`` / ``appName``, the audit volume and
  the role's MLFLOW_SERVER_ENABLE_JOB_EXECUTION / MLFLOW_SQLALCHEMYSTORE_* / PYTHONPATH /
  UVICORN_ACCESS_LOG variables, i.e. what the chart and MLflow do by default (4 uvicorn
  workers, SQLAlchemy's default pool of 5 + 10 overflow per worker, job execution on, no audit
  line but uvicorn's access line).

Each variant gets its own PostgreSQL (bootstrapped like CNPG's initdb, with the Cluster's
parameters) and an `mlflow server` started from the Deployment (tests/harness/pod.py): the
cluster's for ``shipped``, what `helm template` of the real chart renders for ``chart``. Both are
started, and left until their processes are idle (start-up over), before any load. The load: 4
client threads in this process, each with its own run and HTTP keep-alive session, POSTing
`/api/2.0/mlflow/runs/log-batch` (what MlflowClient.log_batch sends) with BATCH_METRICS metrics
per call, back to back. The machine is shared and noisy, so the variants are loaded in short
alternating slices, A B B A A B B A ..., each a 1 s warm-up and a measured window, and the
windows are summed per variant: load from elsewhere falls on both alike.

Measured per variant: calls per second over its windows, p50/p95 latency, server and PostgreSQL
CPU time per call, the server process tree's resident memory (idle before the load, and the
peak: RSS summed over processes, and PSS, which counts shared pages once, closer to what the
container's cgroup is charged), and peak client connections to its PostgreSQL (pg_stat_activity
sampled every 0.1 s, from server start to the end).
"""

import copy
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import log, median, percentile
from tests.harness import converge_input, pod, procs
from tests.harness.stack import Stack, new_workdir
from tests.integration.conftest import INVENTORY, SITE, site_env, site_extra_vars, start_emulator
from tests.support.ansible_run import run_playbook

THREADS = 4
BATCH_METRICS = 10
ROLE_ENV = ("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "MLFLOW_SQLALCHEMYSTORE_", "PYTHONPATH", "UVICORN_ACCESS_LOG")
AUDIT_VOLUME = "mlflow-audit"  # the role's audit middleware (docs/audit-log.md); the chart has none
IDLE_SETTLE_S = 5.0  # at least this long after /health answers
QUIET_CORES = 0.10  # then until the server's processes use less CPU than this (cores), over QUIET_WINDOW_S
QUIET_WINDOW_S = 3.0
QUIET_TIMEOUT_S = 240.0
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid):
    """User + system CPU seconds of ``pid`` and its descendants (those alive now)."""
    total = 0
    for member in procs.process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def wait_until_quiet(pid):
    """Wait until the server's start-up work (workers, job runner, consumers) is over.

    Returns (seconds waited, CPU cores used over the last window). A server whose background
    processes never calm down is measured anyway after QUIET_TIMEOUT_S, and says so.
    """
    start = time.monotonic()
    time.sleep(IDLE_SETTLE_S)
    while True:
        before = tree_cpu_seconds(pid)
        time.sleep(QUIET_WINDOW_S)
        cores = max(0.0, tree_cpu_seconds(pid) - before) / QUIET_WINDOW_S
        waited = time.monotonic() - start
        if cores < QUIET_CORES or waited > QUIET_TIMEOUT_S:
            return waited, cores


def converged_deployment():
    """Run site.yml once on a fresh emulator and read back what it deployed."""
    import secrets

    workdir = Path(tempfile.mkdtemp(prefix="bench-server-converge-"))
    emulator = start_emulator()
    try:
        kubeconfig = emulator.write_kubeconfig(workdir / "kubeconfig")
        run = run_playbook(
            SITE,
            inventory=INVENTORY,
            extra_vars=site_extra_vars("pw-" + secrets.token_urlsafe(24)),
            env=site_env(workdir, kubeconfig),
            verbosity=0,
            timeout=1200,
        )
        if run.rc != 0:
            raise RuntimeError(f"site.yml failed (rc={run.rc}):\n{run.output[-4000:]}")
        deployment = converge_input.read_converge(kubeconfig)
        deployment.source = "bench converge of site.yml on the emulator"
        return deployment
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def chart_default_variant(deployment):
    """The converged values without the role's server tuning: the chart's and MLflow's defaults."""
    variant = copy.deepcopy(deployment)
    variant.workload = None  # other values: the chart renders the Deployment for them
    values = variant.values
    (values.get("extraArgs") or {}).pop("workers", None)
    (values.get("extraArgs") or {}).pop("appName", None)
    for key in ("extraVolumes", "extraVolumeMounts"):
        values[key] = [v for v in values.get(key) or [] if v.get("name") != AUDIT_VOLUME]
    env = values.get("extraEnvVars") or {}
    for key in list(env):
        if key.startswith(ROLE_ENV):
            env.pop(key)
    return variant


def server_settings(deployment):
    """What the variant configures: workers, pool, job execution (None: the default applies)."""
    values = deployment.values
    env = values.get("extraEnvVars") or {}
    return {
        "workers": (values.get("extraArgs") or {}).get("workers"),
        "pool_size": env.get("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"),
        "max_overflow": env.get("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"),
        "pool_recycle": env.get("MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE"),
        "job_execution": env.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION"),
        "audit_log": (values.get("extraArgs") or {}).get("appName") == "audit",
    }


class Load:
    """THREADS threads logging batches back to back to one server, one slice at a time.

    Latencies are kept for calls that start and end inside a slice's measured window; the
    threads' runs are created once and reused by every slice.
    """

    def __init__(self, url, experiment_id):
        self.url, self.experiment_id = url, experiment_id
        self.latencies, self.errors, self.error_samples = [], 0, []
        self.window_s = 0.0
        self.cpu = [0.0, 0.0]  # server, PostgreSQL CPU seconds inside the windows
        self.lock = threading.Lock()
        self.sessions = [requests.Session() for _ in range(THREADS)]
        self.run_ids = []
        for index, session in enumerate(self.sessions):
            response = session.post(
                f"{url}/api/2.0/mlflow/runs/create",
                json={
                    "experiment_id": experiment_id,
                    "start_time": int(time.time() * 1000),
                    "run_name": f"bench-{index}",
                },
                timeout=60,
            )
            response.raise_for_status()
            self.run_ids.append(response.json()["run"]["info"]["run_id"])
        self.steps = [0] * THREADS

    def _worker(self, index, window, stop):
        session, run_id = self.sessions[index], self.run_ids[index]
        while not stop.is_set():
            step = self.steps[index]
            now_ms = int(time.time() * 1000)
            body = {
                "run_id": run_id,
                "metrics": [
                    {"key": f"metric_{k}", "value": step * 0.5 + k, "timestamp": now_ms, "step": step}
                    for k in range(BATCH_METRICS)
                ],
                "params": [],
                "tags": [],
            }
            t0 = time.monotonic()
            try:
                response = session.post(f"{self.url}/api/2.0/mlflow/runs/log-batch", json=body, timeout=60)
                ok, detail = response.status_code == 200, f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as error:
                ok, detail = False, repr(error)[:200]
            t1 = time.monotonic()
            if window[0] <= t0 and t1 <= window[1]:
                with self.lock:
                    if ok:
                        self.latencies.append(t1 - t0)
                    else:
                        self.errors += 1
                        if len(self.error_samples) < 5:
                            self.error_samples.append(detail)
            self.steps[index] = step + 1

    def slice(self, warmup, duration, cpu):
        """One slice: ``warmup`` s unmeasured, then ``duration`` s measured. ``cpu()``: (server, pg) CPU s."""
        stop = threading.Event()
        start = time.monotonic()
        window = (start + warmup, start + warmup + duration)
        threads = [threading.Thread(target=self._worker, args=(i, window, stop), daemon=True) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, window[0] - time.monotonic()))
        cpu0 = cpu()
        time.sleep(max(0.0, window[1] - time.monotonic()))
        cpu1 = cpu()
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        self.window_s += duration
        self.cpu[0] += cpu1[0] - cpu0[0]
        self.cpu[1] += cpu1[1] - cpu0[1]

    def summary(self):
        n, lat = len(self.latencies), self.latencies
        return {
            "threads": THREADS,
            "metrics_per_batch": BATCH_METRICS,
            "window_s": self.window_s,
            "calls": n,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "calls_per_s": round(n / self.window_s, 2) if self.window_s else None,
            "metrics_per_s": round(n * BATCH_METRICS / self.window_s, 1) if self.window_s else None,
            "p50_ms": round(percentile(lat, 50) * 1000, 1) if lat else None,
            "p95_ms": round(percentile(lat, 95) * 1000, 1) if lat else None,
            "mean_ms": round(sum(lat) / n * 1000, 1) if lat else None,
            # CPU time per call: far less sensitive to other load on the machine than calls/s.
            "server_cpu_ms_per_call": round(self.cpu[0] * 1000 / n, 2) if n else None,
            "postgres_cpu_ms_per_call": round(self.cpu[1] * 1000 / n, 2) if n else None,
            "server_cpu_cores": round(self.cpu[0] / self.window_s, 2) if self.window_s else None,
        }

    def close(self):
        for session in self.sessions:
            session.close()


class Variant:
    """One variant's PostgreSQL and MLflow server, started and left idle until its slices."""

    def __init__(self, name, deployment):
        self.name, self.deployment = name, deployment
        self.stack = Stack(deployment, new_workdir(prefix=f"bench-server-{name}-"))
        self.server = self.load = None
        self.info = {}

    def start(self):
        stack = self.stack
        stack.start_postgres()
        stack.pg.start_sampling(interval=0.1)
        self.server = stack.server = stack.start_server(self.deployment, name=self.name)
        self.server.start_memory_sampling(interval=0.25)
        settle_s, idle_cores = wait_until_quiet(self.server.proc.pid)
        idle_rss, idle_pss = self.server.memory()
        self.info = {
            "server_ready_s": round(self.server.timings["ready_s"], 1),
            "settle_after_ready_s": round(settle_s, 1),
            "idle_cpu_cores": round(idle_cores, 3),
            "quiet_before_load": idle_cores < QUIET_CORES,
            "idle_rss": idle_rss,
            "idle_pss": idle_pss,
        }
        experiment = requests.post(
            f"{self.server.url}/api/2.0/mlflow/experiments/create", json={"name": f"bench-{self.name}"}, timeout=60
        )
        experiment.raise_for_status()
        self.load = Load(self.server.url, experiment.json()["experiment_id"])
        return self

    def cpu(self):
        return tree_cpu_seconds(self.server.proc.pid), tree_cpu_seconds(self.stack.pg.proc.pid)

    def result(self):
        peak_rss, peak_pss = self.server.stop_memory_sampling()
        peak_conn = self.stack.pg.stop_sampling()
        limit = pod.memory_limit_bytes(self.server.container)
        return {
            "settings": server_settings(self.deployment),
            "argv": [a for a in self.server.argv if not a.startswith("--port")],
            **{k: v for k, v in self.info.items() if k not in ("idle_rss", "idle_pss")},
            "server_processes": len(procs.process_tree(self.server.proc.pid)),
            "load": self.load.summary(),
            "memory": {
                "idle_rss_mib": round(self.info["idle_rss"] / 2**20),
                "idle_pss_mib": round(self.info["idle_pss"] / 2**20),
                "peak_rss_mib": round(peak_rss / 2**20),
                "peak_pss_mib": round(peak_pss / 2**20),
                "limit_mib": round(limit / 2**20) if limit else None,
            },
            "db_connections": {
                "peak_total": peak_conn["total"],
                "peak_mlflow_db": peak_conn["database"],
                "max_connections": self.stack.input.pg_parameters.get("max_connections"),
            },
        }

    def stop(self):
        if self.load:
            self.load.close()
        self.stack.stop()


def abba(names, slices):
    """A B B A A B B A ...: ``slices`` slices per name; cancels a linear drift in the machine's load."""
    a, b = names
    order = []
    while len(order) < 2 * slices:
        order += [a, b] if (len(order) // 2) % 2 == 0 else [b, a]
    return order[: 2 * slices]


def measure_round(variants, slices, warmup, slice_s):
    """Both variants up at once, loaded in alternating slices (ABBA), so that other load on the
    machine falls on both alike; each is idle while the other is measured."""
    running = {}
    try:
        for name, deployment in variants.items():
            log(f"  starting {name}: {server_settings(deployment)}")
            running[name] = Variant(name, deployment).start()
            log(
                f"  {name} ready after {running[name].info['server_ready_s']} s, idle after a further {running[name].info['settle_after_ready_s']} s"
            )
        for name in abba(list(variants), slices):
            variant = running[name]
            variant.load.slice(warmup, slice_s, variant.cpu)
        return {name: variant.result() for name, variant in running.items()}
    finally:
        for variant in running.values():
            variant.stop()


def run(args):
    # Measured time per variant and round: slices x SLICE_S (quick: 2 x 4 s, else 6 x 5 s).
    slices, warmup, slice_s = (2, 1.0, 4.0) if args.quick else (6, 1.0, 5.0)
    log("server: converging site.yml on the emulator to read the shipped values")
    shipped = converged_deployment()
    variants = {"shipped": shipped, "chart": chart_default_variant(shipped)}
    rounds = []
    for index in range(args.runs):
        order = list(variants) if index % 2 == 0 else list(reversed(variants))
        log(f"server round {index + 1}/{args.runs}")
        result = measure_round({name: variants[name] for name in order}, slices, warmup, slice_s)
        for name, m in result.items():
            log(
                f"  {name}: {m['load']['calls_per_s']} calls/s p50 {m['load']['p50_ms']} ms p95 {m['load']['p95_ms']} ms "
                f"errors {m['load']['errors']} peak RSS {m['memory']['peak_rss_mib']} MiB PSS {m['memory']['peak_pss_mib']} MiB "
                f"peak DB conns {m['db_connections']['peak_total']}"
            )
        rounds.append(result)

    def med(name, path):
        values = []
        for r in rounds:
            value = r[name]
            for key in path:
                value = value[key]
            values.append(value)
        return median(values)

    summary = {
        name: {
            "calls_per_s": med(name, ("load", "calls_per_s")),
            "p50_ms": med(name, ("load", "p50_ms")),
            "p95_ms": med(name, ("load", "p95_ms")),
            "server_cpu_ms_per_call": med(name, ("load", "server_cpu_ms_per_call")),
            "postgres_cpu_ms_per_call": med(name, ("load", "postgres_cpu_ms_per_call")),
            "errors": med(name, ("load", "errors")),
            "idle_rss_mib": med(name, ("memory", "idle_rss_mib")),
            "peak_rss_mib": med(name, ("memory", "peak_rss_mib")),
            "peak_pss_mib": med(name, ("memory", "peak_pss_mib")),
            "peak_db_connections": med(name, ("db_connections", "peak_total")),
            "server_ready_s": med(name, ("server_ready_s",)),
            "settle_after_ready_s": med(name, ("settle_after_ready_s",)),
            "idle_cpu_cores": med(name, ("idle_cpu_cores",)),
            "settings": server_settings(variants[name]),
        }
        for name in variants
    }
    ratio = (
        summary["shipped"]["calls_per_s"] / summary["chart"]["calls_per_s"] if summary["chart"]["calls_per_s"] else None
    )
    # Per round, shipped / chart measured in the same interleaved slices; then the median.
    paired = median([r["shipped"]["load"]["calls_per_s"] / r["chart"]["load"]["calls_per_s"] for r in rounds])
    limit = rounds[0]["shipped"]["memory"]["limit_mib"]
    return {
        "method": "real PostgreSQL + mlflow server per variant (tests/harness), values from a site.yml converge "
        f"on the emulator; {THREADS} client threads POSTing runs/log-batch ({BATCH_METRICS} metrics) back to back; both "
        f"variants up at once, loaded in alternating ABBA slices ({slices} per variant and round, {warmup:g} s warm-up "
        f"+ {slice_s:g} s measured each)",
        "source": shipped.source,
        "summary": summary,
        "throughput_shipped_over_chart": round(ratio, 3) if ratio else None,
        "throughput_shipped_over_chart_paired_median": round(paired, 3),
        "targets": {
            "not_slower_than_chart": {
                "throughput_ratio": round(paired, 3),
                "throughput_ratio_of_medians": round(ratio, 3) if ratio else None,
                "p95_shipped_ms": summary["shipped"]["p95_ms"],
                "p95_chart_ms": summary["chart"]["p95_ms"],
                "met": paired >= 0.95,
                "rule": "median over rounds of shipped/chart calls per second (both measured in the same "
                "interleaved slices) >= 0.95: differences under 5% are within this machine's noise",
            },
            "within_memory_limit": {
                "peak_rss_mib": summary["shipped"]["peak_rss_mib"],
                "peak_pss_mib": summary["shipped"]["peak_pss_mib"],
                "limit_mib": limit,
                "met": bool(limit and summary["shipped"]["peak_rss_mib"] < limit),
            },
        },
        "rounds": rounds,
    }
