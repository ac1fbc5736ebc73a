# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark callback: when each task starts and when its result reaches the controller.

Writes JSON lines to the file named by BENCH_TIMING_FILE (wall-clock time.time(), so the
benchmark process can compare them with its own timestamps). Enabled only by bench/ through
ANSIBLE_CALLBACK_PLUGINS and ANSIBLE_CALLBACKS_ENABLED; not part of the collection.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timing
type: aggregate
short_description: Task start and result times for bench/
description: Writes task start and result times as JSON lines to $BENCH_TIMING_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("BENCH_TIMING_FILE")

    def _write(self, event, **data):
        if not self._path:
            return
        with open(self._path, "a") as out:
            out.write(json.dumps(dict(event=event, time=time.time(), **data)) + "\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write("task_start", task=task.get_name(), uuid=task._uuid, action=task.action)

    def _result(self, status, result):
        changed = bool(result._result.get("changed", False))
        self._write("task_end", status=status, task=result._task.get_name(), uuid=result._task._uuid, changed=changed)

    def v2_runner_on_ok(self, result):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result)

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        self._write("stats")
