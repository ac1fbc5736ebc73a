"""Markdown tables from bench/results/*.json (what docs/performance.md shows): `bench/run report`."""

import json
from pathlib import Path

from bench.common import RESULTS_DIR


def _load(results_dir, part):
    path = Path(results_dir) / f"{part}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _yes(met):
    return "**met**" if met else "**missed**"


def _fmt(value, unit="", digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:.0f}" if value.is_integer() else f"{value:.{digits}f}"
    return f"{value}{unit}"


def machine(result):
    m, load = result["machine"], result["load"]
    return (
        f"{m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM; Python {m['python']}, "
        f"ansible-core {m['ansible_core']}, kubernetes.core {m['kubernetes_core']}, mlflow {m['mlflow']}, "
        f"{m['helm']}, {m['postgres']}. Load while it ran: 1-min load average median {load['loadavg_1m_median']} "
        f"(max {load['loadavg_1m_max']}), CPU busy median {_fmt(100 * (load['cpu_busy_median'] or 0), '%', 0)}. "
        f"Started {result['started_utc']}, took {result['duration_s']:.0f} s, runs={result['options']['runs']}"
        f"{' (--quick)' if result['options']['quick'] else ''}."
    )


def _recap(r, step):
    recap = r["runs"][-1][step]["recap"]
    return f"{recap.get('ok', 0)} / {recap.get('skipped', 0)}"


def converge_section(r):
    s, t = r["summary"], r["targets"]
    c, q, f = s["converge"], s["rerun"], s["floor"]
    verbs = sorted(set(c["by_verb_median"]) | set(q["by_verb_median"]))

    def walls(step):
        return f"{step['wall_s_median']:.1f} s ({', '.join(f'{v:.1f}' for v in step['wall_s_all'])})"

    lines = [
        "| site.yml on the emulator | first converge | idempotent re-run | target |",
        "|---|---|---|---|",
        f"| wall time, median (all runs) | {walls(c)} | {walls(q)} "
        f"| re-run ≤ 4 s: {_yes(t['rerun_at_most_4s_wall']['met'])} |",
        f"| the raw-tool floor in the same runs (converge / re-check) | {walls(f['converge'])} | {walls(f['recheck'])} "
        f"| converge ≤ 5× floor: {r['converge_over_floor']:.1f}×, {_yes(t['converge_within_5x_floor']['met'])} |",
        f"| CPU time of ansible-playbook and its children, median | {c['cpu_s_median']:.1f} s | {q['cpu_s_median']:.1f} s | |",
        f"| module starts, median | {_fmt(c['module_starts_median'])} | {_fmt(q['module_starts_median'])} "
        f"| re-run ≤ 2: {_yes(t['rerun_at_most_2_module_starts']['met'])} |",
        f"| tasks changed (PLAY RECAP) | {_fmt(c['tasks_changed_median'])} | {_fmt(q['tasks_changed_median'])} | |",
        f"| tasks ok / skipped (PLAY RECAP, last run) | {_recap(r, 'converge')} | {_recap(r, 'rerun')} | |",
        f"| API requests (excluding discovery) | {_fmt(c['requests_total_median'])} | {_fmt(q['requests_total_median'])} | |",
        f"| discovery requests (`/api`, `/apis`, OpenAPI) | {_fmt(c['discovery_median'])} | {_fmt(q['discovery_median'])} | |",
    ]
    for verb in verbs:
        lines.append(
            f"| &nbsp;&nbsp;{verb} | {_fmt(c['by_verb_median'].get(verb, 0))} | {_fmt(q['by_verb_median'].get(verb, 0))} | |"
        )
    lines.append(
        f"| write requests (create/update/patch/delete, dry runs included) | {_fmt(c['writes_median'])} "
        f"| {_fmt(q['writes_median'])} | |"
    )
    lines.append(
        f"| writes that changed an object (a no-op server-side apply does not) | {_fmt(c['writes_real_median'])} "
        f"| {_fmt(q['writes_real_median'])} | re-run: none, {_yes(t['rerun_changes_no_object']['met'])} |"
    )
    return "\n".join(lines)


def slowest_tasks(r, step="rerun", limit=6):
    run = r["runs"][-1][step]
    return "\n".join(f"- {t['task']}: {t['s']:.1f} s" for t in run["slowest_tasks"][:limit])


def time_by_action(r, limit=8):
    """Where the time goes, by module, in the first run's converge and re-run (tasks that ran)."""
    runs = r["runs"][-1]
    if "?" in runs["converge"].get("time_by_action", {"?": 0}):
        return ""
    actions = list(runs["rerun"]["time_by_action"])[:limit]
    for action in runs["converge"]["time_by_action"]:
        if action not in actions and len(actions) < limit + 2:
            actions.append(action)
    lines = ["| module (tasks that ran) | converge: tasks, s | re-run: tasks, s |", "|---|---|---|"]
    for action in actions:
        c = runs["converge"]["time_by_action"].get(action, {"tasks": 0, "s": 0})
        q = runs["rerun"]["time_by_action"].get(action, {"tasks": 0, "s": 0})
        lines.append(f"| `{action}` | {c['tasks']}, {c['s']:.1f} | {q['tasks']}, {q['s']:.1f} |")
    return "\n".join(lines)


def readiness_section(r):
    s, t = r["summary"], r["targets"]
    a, b = s["cnpg_cluster_wait"], s["k8s_info_wait"]
    return "\n".join(
        [
            "| readiness latency, status change → task result | `apocrathia.mlflow.cnpg_cluster_wait` | "
            "`kubernetes.core.k8s_info` wait (wait_sleep 5) | target |",
            "|---|---|---|---|",
            f"| median ({a['runs']} runs each) | **{a['median_s']:.3f} s** | **{b['median_s']:.3f} s** "
            f"| ≤ 1 s: {_yes(t['median_at_most_1s']['met'])} |",
            f"| ratio (baseline / ours, medians) | {r['ratio_baseline_over_ours']:.1f}× | | ≥ 3×: {_yes(t['at_least_3x_faster']['met'])} |",
            f"| p90 | {a['p90_s']:.3f} s | {b['p90_s']:.3f} s | |",
            f"| min - max | {a['min_s']:.3f} - {a['max_s']:.3f} s | {b['min_s']:.3f} - {b['max_s']:.3f} s | |",
            f"| API requests on the Cluster per wait, median | {_fmt(a['median_requests'])} | {_fmt(b['median_requests'])} | |",
        ]
    )


def server_section(r):
    s, t = r["summary"], r["targets"]
    a, b = s["shipped"], s["chart"]

    def settings(x):
        st = x["settings"]
        workers = st["workers"] or "4 (default)"
        pool = f"{st['pool_size']} + {st['max_overflow']}" if st["pool_size"] else "SQLAlchemy default (5 + 10)"
        jobs = (
            "off"
            if st["job_execution"] == "false"
            else ("on (default)" if st["job_execution"] is None else st["job_execution"])
        )
        return workers, pool, jobs

    sa, sb = settings(a), settings(b)
    limit = t["within_memory_limit"]["limit_mib"]
    nt = t["not_slower_than_chart"]
    return "\n".join(
        [
            "| real MLflow + PostgreSQL | shipped defaults (role) | chart defaults | target |",
            "|---|---|---|---|",
            f"| workers | {sa[0]} | {sb[0]} | |",
            f"| DB pool per worker (size + overflow) | {sa[1]} | {sb[1]} | |",
            f"| job execution | {sa[2]} | {sb[2]} | |",
            f"| `log_batch` calls/s, 4 threads (median of rounds) | **{a['calls_per_s']:.1f}** | **{b['calls_per_s']:.1f}** "
            f"| not slower: {nt['throughput_ratio'] * 100:.0f}% of the chart's (median of per-round ratios), {_yes(nt['met'])} |",
            f"| latency p50 | {a['p50_ms']:.0f} ms | {b['p50_ms']:.0f} ms | |",
            f"| latency p95 | {a['p95_ms']:.0f} ms | {b['p95_ms']:.0f} ms | |",
            f"| server CPU per call (PostgreSQL CPU per call) | {_fmt(a['server_cpu_ms_per_call'])} ms ({_fmt(a['postgres_cpu_ms_per_call'])} ms) "
            f"| {_fmt(b['server_cpu_ms_per_call'])} ms ({_fmt(b['postgres_cpu_ms_per_call'])} ms) | |",
            f"| failed calls | {_fmt(a['errors'])} | {_fmt(b['errors'])} | |",
            f"| server memory idle, RSS | {_fmt(a['idle_rss_mib'])} MiB | {_fmt(b['idle_rss_mib'])} MiB | |",
            f"| server memory peak, RSS (sum over processes) | {_fmt(a['peak_rss_mib'])} MiB | {_fmt(b['peak_rss_mib'])} MiB "
            f"| < {limit} MiB limit: {_yes(t['within_memory_limit']['met'])} |",
            f"| server memory peak, PSS (shared pages once) | {_fmt(a['peak_pss_mib'])} MiB | {_fmt(b['peak_pss_mib'])} MiB "
            f"| {'chart over the limit' if b['peak_pss_mib'] > limit else ''} |",
            f"| peak PostgreSQL client connections | {_fmt(a['peak_db_connections'])} | {_fmt(b['peak_db_connections'])} | |",
            f"| start: /health answers after | {a['server_ready_s']:.0f} s | {b['server_ready_s']:.0f} s | |",
            f"| then until the processes are idle | {a['settle_after_ready_s']:.0f} s | {b['settle_after_ready_s']:.0f} s | |",
        ]
    )


def server_rounds(r):
    lines = [
        "| round | variant | calls/s | p50 ms | p95 ms | server CPU ms/call | peak RSS MiB | peak PSS MiB | peak DB conns |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, rnd in enumerate(r["rounds"], 1):
        for name, m in rnd.items():
            lines.append(
                f"| {i} | {name} | {m['load']['calls_per_s']:.1f} | {m['load']['p50_ms']:.0f} | {m['load']['p95_ms']:.0f} "
                f"| {_fmt(m['load'].get('server_cpu_ms_per_call'))} "
                f"| {m['memory']['peak_rss_mib']} | {m['memory']['peak_pss_mib']} | {m['db_connections']['peak_total']} |"
            )
    return "\n".join(lines)


def render(results_dir=RESULTS_DIR):
    out = []
    for part, sections in (
        ("converge", (converge_section,)),
        ("readiness", (readiness_section,)),
        ("server", (server_section, server_rounds)),
    ):
        result = _load(results_dir, part)
        if not result:
            out.append(f"## {part}\n\n(no results in {results_dir})\n")
            continue
        try:
            out.append(f"## {part}\n\n" + "\n\n".join(f(result) for f in sections) + f"\n\n{machine(result)}\n")
        except KeyError as missing:
            out.append(f"## {part}\n\n(results from an older bench version, no {missing}: run it again)\n")
            continue
        if part == "converge":
            out.append("Slowest tasks of the last re-run:\n\n" + slowest_tasks(result) + "\n")
            by_action = time_by_action(result)
            if by_action:
                out.append(
                    "Time by module (task start to its result, tasks that ran), last run:\n\n" + by_action + "\n"
                )
    return "\n".join(out)


def main(results_dir=RESULTS_DIR):
    print(render(results_dir))
    return 0
