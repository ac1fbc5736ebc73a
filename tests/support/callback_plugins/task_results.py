# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: every task result as one JSON line in $TASK_RESULTS_FILE.

Lets the integration tests assert on what a task returned (the registered result) rather than
on printed text. Results of no_log tasks arrive censored, as they do for every callback.
Enabled by tests/support/ansible_run.py; not part of the collection.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_results
type: aggregate
short_description: Every task result as JSON lines, for the tests
description: Appends {task, action, host, status, result} per task result to $TASK_RESULTS_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_results"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, status):
        path = os.environ.get("TASK_RESULTS_FILE")
        if not path:
            return
        line = {
            "task": result.task.get_name(),
            "action": result.task.action,
            "host": result.host.get_name(),
            "status": status,
            "result": result.result,
        }
        with open(path, "a") as handle:
            handle.write(json.dumps(line, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")
