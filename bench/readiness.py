"""Readiness latency: from a CNPG Cluster's status becoming ready to the waiting task's result.

Both contenders run through real ansible-playbook (one process per run, local connection), with
the connection from K8S_AUTH_KUBECONFIG to the emulator:

- ``cnpg_cluster_wait``: apocrathia.mlflow.cnpg_cluster_wait (list + watch);
- ``k8s_info_wait``: kubernetes.core.k8s_info with ``wait: true`` and ``wait_condition``
  {type: Ready, status: "True"} at its default ``wait_sleep`` (5 s, a GET per poll).

The emulator's CNPG controller is off; the benchmark drives the Cluster's status itself. Each run
creates a Cluster in "Setting up primary" (Ready "False"), starts the playbook, waits for the
task's first request on `clusters` (so the module is waiting), waits a further offset, then
patches the status to healthy (Ready "True", readyInstances = instances) and records that wall
time. The latency is the time at which the task's result reached the controller (a callback,
bench/callback_plugins/bench_timing.py) minus the time of the status change.

The offsets are stratified over one polling interval, [1, 6) s after the first request, and the
same for both contenders, so the polling baseline is sampled evenly over its cycle. The two
contenders alternate run by run, so machine noise hits both alike.
"""

import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import log, median, percentile
from bench.playbooks import BackgroundPlaybook, read_timings, timing_env
from tests.kube_emulator import KubeEmulator
from tests.support.ansible_run import write_inventory
from tests.support.paths import CNPG_CRDS

API = "postgresql.cnpg.io/v1"
NAMESPACE = "default"
POLL_INTERVAL = 5.0  # kubernetes.core's wait_sleep default
OFFSET_START = 1.0
TASK_TIMEOUT = 120

TASKS = {
    "cnpg_cluster_wait": (
        "      apocrathia.mlflow.cnpg_cluster_wait:\n"
        "        name: {name}\n"
        "        namespace: {namespace}\n"
        "        timeout: {timeout}\n"
    ),
    "k8s_info_wait": (
        "      kubernetes.core.k8s_info:\n"
        "        api_version: postgresql.cnpg.io/v1\n"
        "        kind: Cluster\n"
        "        name: {name}\n"
        "        namespace: {namespace}\n"
        "        wait: true\n"
        "        wait_condition:\n"
        "          type: Ready\n"
        '          status: "True"\n'
        "        wait_timeout: {timeout}\n"
    ),
}
WAIT_TASK = "Wait for the Cluster"


def playbook_text(method, name):
    return (
        "- name: Readiness latency\n"
        "  hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        f"    - name: {WAIT_TASK}\n"
        + TASKS[method].format(name=name, namespace=NAMESPACE, timeout=TASK_TIMEOUT)
        + "      register: waited\n"
    )


def condition(status):
    """The Ready condition as CloudNativePG 1.30 writes it: no observedGeneration
    (pkg/resources/status/transactions.go SetClusterReadyCondition)."""
    return {
        "type": "Ready",
        "status": status,
        "reason": "ClusterIsReady" if status == "True" else "ClusterIsNotReady",
        "message": "Cluster is Ready" if status == "True" else "Cluster Is Not Ready",
        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def not_ready_status(name):
    return {
        "phase": "Setting up primary",
        "phaseReason": f"Creating primary instance {name}-1",
        "instances": 1,
        "readyInstances": 0,
        "targetPrimary": f"{name}-1",
        "conditions": [condition("False")],
    }


def ready_status(name):
    return {
        "phase": "Cluster in healthy state",
        "phaseReason": None,  # the operator writes it empty, and empty is omitted
        "instances": 1,
        "readyInstances": 1,
        "currentPrimary": f"{name}-1",
        "writeService": f"{name}-rw",
        "readService": f"{name}-r",
        "conditions": [condition("True")],
    }


def offsets(runs, seed=9):
    """``runs`` offsets stratified over [OFFSET_START, OFFSET_START + POLL_INTERVAL), in a fixed shuffled order."""
    values = [OFFSET_START + POLL_INTERVAL * (k + 0.5) / runs for k in range(runs)]
    random.Random(seed).shuffle(values)
    return values


def one_run(emu, workdir, inventory, method, index, offset):
    name = f"{method.replace('_', '-')}-{index}"
    emu.create(
        {
            "apiVersion": API,
            "kind": "Cluster",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"instances": 1, "storage": {"size": "1Gi"}},
        }
    )
    emu.patch_status(API, "Cluster", name, NAMESPACE, not_ready_status(name))
    playbook = workdir / f"{name}.yml"
    playbook.write_text(playbook_text(method, name))
    timing_file = workdir / f"{name}.timing.jsonl"
    player = BackgroundPlaybook(
        playbook,
        inventory=inventory,
        env={"K8S_AUTH_KUBECONFIG": str(emu.kubeconfig), **timing_env(timing_file)},
        verbosity=0,
        timeout=TASK_TIMEOUT + 60,
    )
    player.start()
    deadline = time.time() + 90
    first = None
    while first is None:
        hits = cluster_requests(emu, name)
        if hits:
            first = min(r.time for r in hits)
        elif not player.is_alive() or time.time() > deadline:
            run = player.finish(5)
            raise RuntimeError(f"{method}: the task made no request on clusters:\n{run.output[-3000:]}")
        else:
            time.sleep(0.005)
    time.sleep(max(0.0, first + offset - time.time()))
    changed_at = time.time()
    emu.patch_status(API, "Cluster", name, NAMESPACE, ready_status(name))
    run = player.finish(TASK_TIMEOUT + 90)
    if run.rc != 0:
        raise RuntimeError(f"{method} run {index} failed (rc={run.rc}):\n{run.output[-3000:]}")
    ends = [e for e in read_timings(timing_file) if e["event"] == "task_end" and e["task"] == WAIT_TASK]
    if not ends or ends[0]["status"] != "ok":
        raise RuntimeError(f"{method} run {index}: no ok result for the wait task:\n{run.output[-3000:]}")
    starts = [e for e in read_timings(timing_file) if e["event"] == "task_start" and e["task"] == WAIT_TASK]
    latency = ends[0]["time"] - changed_at
    if latency < 0:
        raise RuntimeError(f"{method} run {index}: the task returned before the status changed")
    return {
        "name": name,
        "changed_at": changed_at,
        "run": index,
        "offset_s": round(offset, 3),
        "latency_s": round(latency, 4),
        "task_s": round(ends[0]["time"] - starts[0]["time"], 3) if starts else None,
        "first_request_after_task_start_s": round(first - starts[0]["time"], 3) if starts else None,
        "playbook_wall_s": round(player.ended_at - player.started_at, 3),
    }


def cluster_requests(emu, name):
    """Requests on this run's Cluster (by name, or a list/watch selecting it by field selector)."""
    return [
        r for r in emu.requests if r.resource == "clusters" and (r.name == name or f"metadata.name%3D{name}" in r.path)
    ]


def summarize(runs):
    latencies = [r["latency_s"] for r in runs]
    return {
        "runs": len(runs),
        "median_s": round(median(latencies), 4),
        "p90_s": round(percentile(latencies, 90), 4),
        "min_s": round(min(latencies), 4),
        "max_s": round(max(latencies), 4),
        "median_requests": median([sum(r["cluster_requests"].values()) for r in runs]),
    }


def run(args):
    runs = args.runs
    results = {method: [] for method in TASKS}
    with tempfile.TemporaryDirectory(prefix="bench-readiness-") as tmp:
        workdir = Path(tmp)
        inventory = write_inventory(workdir / "hosts.yml", {})
        emu = KubeEmulator(crd_files=[CNPG_CRDS], controllers=()).start()
        try:
            for index, offset in enumerate(offsets(runs)):
                for method in TASKS:
                    result = one_run(emu, workdir, inventory, method, index, offset)
                    results[method].append(result)
                    log(
                        f"readiness {method} run {index + 1}/{runs}: offset {offset:.2f}s latency {result['latency_s']:.3f}s"
                    )
            # A watch is logged when the emulator sees it closed (at its next write, a bookmark
            # every 5 s): count the requests once every run is over.
            time.sleep(6.0)
            for values in results.values():
                for result in values:
                    requests = cluster_requests(emu, result["name"])
                    result["cluster_requests"] = dict(Counter(r.verb for r in requests))
                    # When the module's last request ended (the watch closing, or the last GET):
                    # the module's own share of the latency, before Ansible hands back the result.
                    result["last_request_after_change_s"] = round(
                        max(r.time for r in requests) - result["changed_at"], 4
                    )
        finally:
            emu.stop()
    summary = {method: summarize(values) for method, values in results.items()}
    ours, baseline = summary["cnpg_cluster_wait"]["median_s"], summary["k8s_info_wait"]["median_s"]
    ratio = baseline / ours if ours else None
    targets = {
        "median_at_most_1s": {"value_s": ours, "met": ours <= 1.0},
        "at_least_3x_faster": {"ratio": round(ratio, 2) if ratio else None, "met": bool(ratio and ratio >= 3.0)},
    }
    return {
        "method": "ansible-playbook per run (local connection, -v0), latency = task result at the controller "
        "(callback) - status patch; CNPG controller off, status driven by the benchmark",
        "poll_interval_s": POLL_INTERVAL,
        "offsets_s": [round(o, 3) for o in offsets(runs)],
        "summary": summary,
        "ratio_baseline_over_ours": round(ratio, 2) if ratio else None,
        "targets": targets,
        "runs": results,
    }
