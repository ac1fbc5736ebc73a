"""Running ansible-playbook for the benchmarks: tests.support.ansible_run plus task timings."""

import json
import threading
import time
from pathlib import Path

from bench.common import CALLBACK_DIR
from tests.support.ansible_run import run_playbook


def timing_env(timing_file):
    """Environment that enables bench/callback_plugins/bench_timing, writing to ``timing_file``."""
    return {
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_timing",
        "BENCH_TIMING_FILE": str(timing_file),
    }


def read_timings(timing_file):
    path = Path(timing_file)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def task_durations(events):
    """[(task name, seconds from its start to its last result, status)] in playbook order."""
    starts, out = {}, {}
    for event in events:
        if event["event"] == "task_start":
            starts[event["uuid"]] = (event["task"], event["time"])
        elif event["event"] == "task_end" and event["uuid"] in starts:
            name, start = starts[event["uuid"]]
            out[event["uuid"]] = (name, event["time"] - start, event["status"])
    return list(out.values())


def time_by_action(events):
    """{action: {"tasks": n, "s": seconds}} for tasks that ran (not skipped), biggest first.

    Time is from a task's start to its last result; the tasks run one after another (one host).
    """
    starts, spans = {}, {}
    for event in events:
        if event["event"] == "task_start":
            starts[event["uuid"]] = (event.get("action") or "?", event["time"])
        elif event["event"] == "task_end" and event["uuid"] in starts and event["status"] != "skipped":
            action, start = starts[event["uuid"]]
            spans[event["uuid"]] = (action, event["time"] - start)
    out = {}
    for action, seconds in spans.values():
        entry = out.setdefault(action, {"tasks": 0, "s": 0.0})
        entry["tasks"] += 1
        entry["s"] = round(entry["s"] + seconds, 2)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["s"]))


class BackgroundPlaybook(threading.Thread):
    """run_playbook on a thread, so the benchmark can act on the cluster while a task waits."""

    def __init__(self, playbook, **kwargs):
        super().__init__(daemon=True)
        self.playbook, self.kwargs = playbook, kwargs
        self.run_result = self.error = None
        self.started_at = self.ended_at = None

    def run(self):
        self.started_at = time.time()
        try:
            self.run_result = run_playbook(self.playbook, **self.kwargs)
        except BaseException as error:  # noqa: BLE001 - reported by finish()
            self.error = error
        self.ended_at = time.time()

    def finish(self, timeout):
        self.join(timeout)
        if self.is_alive():
            raise RuntimeError(f"ansible-playbook {self.playbook} did not finish within {timeout}s")
        if self.error:
            raise self.error
        return self.run_result
