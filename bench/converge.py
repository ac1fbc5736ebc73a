"""site.yml on the emulated cluster: the first converge and the idempotent re-run.

Uses the same setup as the integration suite's `converged_site` fixture
(tests/integration/conftest.py): the emulator laid out like the seed's cluster (CRDs, StorageClasses,
platform namespaces and gateway; CNPG 0.1 s per phase step, workloads 0.05 s), the repository's
inventory, the `provided` secret source, the real community-charts chart 1.11.5 installed offline
(scripts/mlflow_chart.py) and
authentik's outpost wait on. Each run is a fresh emulator: converge, then re-run, both through
ansible-playbook without -v (as a user runs it). The check-mode pass the fixture also does is
not part of this benchmark.

Measured per playbook run: wall time of the ansible-playbook process, API requests by verb (the
emulator's request log; server-side dry runs are counted apart), PLAY RECAP counters and the
slowest tasks (bench/callback_plugins/bench_timing.py).
"""

import resource
import secrets
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import log, median
from bench.playbooks import read_timings, task_durations, time_by_action, timing_env
from tests.integration.conftest import INVENTORY, SITE, site_env, site_extra_vars, start_emulator
from tests.kube_emulator.faults import WRITE_VERBS
from tests.support.ansible_run import run_playbook

STEPS = ("converge", "rerun")


def count_requests(records):
    """{verb: n} for API requests (not discovery), and the write requests split by kind."""
    api = [r for r in records if r.resource]
    writes = [r for r in api if r.verb in WRITE_VERBS]
    dry = [r for r in writes if "dryRun=All" in r.path]
    real = [r for r in writes if "dryRun=All" not in r.path]
    return {
        "total": len(api),
        "discovery_and_other": len(records) - len(api),
        "by_verb": dict(sorted(Counter(r.verb for r in api).items())),
        "writes": len(writes),
        "writes_dry_run": len(dry),
        "writes_real": len(real),
        "writes_real_failed": len([r for r in real if r.status >= 400]),
        "real_write_targets": [f"{r.verb} {r.resource}/{r.name or ''} -> {r.status}" for r in real],
    }


def converge_once(workdir, index):
    """One fresh emulated cluster: converge, then re-run. Returns {step: measurements} (+ the emulator)."""
    emulator = start_emulator()
    out = {}
    try:
        kubeconfig = emulator.write_kubeconfig(workdir / "kubeconfig")
        extra_vars = site_extra_vars("pw-" + secrets.token_urlsafe(24))
        env = site_env(workdir, kubeconfig)
        for step in STEPS:
            timing_file = workdir / f"{index}-{step}.timing.jsonl"
            emulator.reset_requests()
            usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            run = run_playbook(
                SITE,
                inventory=INVENTORY,
                extra_vars=extra_vars,
                env={**env, **timing_env(timing_file)},
                verbosity=0,
                timeout=1200,
            )
            wall = time.monotonic() - t0
            usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU time of ansible-playbook and everything it ran (workers, modules, helm): all
            # waited for, so counted here. Far steadier than wall time on a shared machine.
            cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
            time.sleep(0.5)  # watches are logged when they close
            if run.rc != 0:
                raise RuntimeError(f"site.yml {step} failed (rc={run.rc}):\n{run.output[-4000:]}")
            events = read_timings(timing_file)
            tasks = task_durations(events)
            slowest = sorted(tasks, key=lambda t: -t[1])[:8]
            recap = run.recap()
            out[step] = {
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "recap": recap,
                "tasks_changed": recap.get("changed", 0),
                "tasks_run": len(tasks),
                "requests": count_requests(emulator.requests),
                "slowest_tasks": [{"task": n, "s": round(s, 2), "status": st} for n, s, st in slowest],
                "time_by_action": time_by_action(events),
                "changed_tasks": [n for n, _, _ in tasks if _changed(events, n)],
            }
            log(
                f"converge run {index + 1} {step}: {wall:.1f}s (CPU {cpu:.1f}s), changed={recap.get('changed', 0)}, "
                f"requests={out[step]['requests']['by_verb']} real writes={out[step]['requests']['writes_real']}"
            )
    finally:
        emulator.stop()
    return out


def _changed(events, name):
    return any(e["event"] == "task_end" and e["task"] == name and e.get("changed") for e in events)


def run(args):
    runs = []
    for index in range(args.runs):
        workdir = Path(tempfile.mkdtemp(prefix="bench-converge-"))
        try:
            runs.append(converge_once(workdir, index))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = {}
    for step in STEPS:
        values = [r[step] for r in runs]
        summary[step] = {
            "wall_s_median": round(median([v["wall_s"] for v in values]), 2),
            "wall_s_all": [v["wall_s"] for v in values],
            "cpu_s_median": round(median([v["cpu_s"] for v in values]), 2),
            "cpu_s_all": [v["cpu_s"] for v in values],
            "tasks_changed_median": median([v["tasks_changed"] for v in values]),
            "requests_total_median": median([v["requests"]["total"] for v in values]),
            "discovery_median": median([v["requests"]["discovery_and_other"] for v in values]),
            "writes_median": median([v["requests"]["writes"] for v in values]),
            "writes_dry_run_median": median([v["requests"]["writes_dry_run"] for v in values]),
            "writes_real_median": median([v["requests"]["writes_real"] for v in values]),
            "by_verb_median": {
                verb: median([v["requests"]["by_verb"].get(verb, 0) for v in values])
                for verb in sorted({verb for v in values for verb in v["requests"]["by_verb"]})
            },
        }
    ratio = summary["rerun"]["wall_s_median"] / summary["converge"]["wall_s_median"]
    cpu_ratio = summary["rerun"]["cpu_s_median"] / summary["converge"]["cpu_s_median"]
    # Per run, re-run / converge of the same run (same moment's machine load), then the median.
    paired = median([r["rerun"]["wall_s"] / r["converge"]["wall_s"] for r in runs])
    writes = summary["rerun"]["writes_median"]
    real = summary["rerun"]["writes_real_median"]
    return {
        "method": "ansible-playbook playbooks/site.yml -i inventory (no -v), fresh emulator per run "
        "(tests/integration/conftest.py start_emulator, site_extra_vars, site_env); converge then re-run",
        "summary": summary,
        "rerun_over_converge": round(ratio, 3),
        "rerun_over_converge_paired_median": round(paired, 3),
        "rerun_over_converge_cpu": round(cpu_ratio, 3),
        "targets": {
            "rerun_at_most_half_wall_time": {
                "ratio": round(ratio, 3),
                "cpu_ratio": round(cpu_ratio, 3),
                "met": ratio <= 0.5,
            },
            "rerun_at_most_1_write_request": {
                "writes_all": writes,
                "writes_real": real,
                "met_counting_dry_runs": writes <= 1,
                "met_excluding_dry_runs": real <= 1,
            },
        },
        "runs": runs,
    }
