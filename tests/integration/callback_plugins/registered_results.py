# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test callback: the full result of chosen modules' tasks as JSON lines, for structured assertions.

Writes ``{action, status, result}`` to the file named by REGISTERED_RESULTS_FILE for each task
whose action is listed in REGISTERED_RESULTS_ACTIONS (comma-separated FQCNs), so a test reads
what a task returned (what ``register`` would hold) instead of printed text. Results of no_log
tasks arrive censored, as they do for every callback. Enabled by
tests/integration/registered_results.py; not part of the collection.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: registered_results
type: aggregate
short_description: Chosen modules' task results as JSON lines for the tests
description: Writes the results of the tasks of $REGISTERED_RESULTS_ACTIONS to $REGISTERED_RESULTS_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "registered_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("REGISTERED_RESULTS_FILE")
        self._actions = set(filter(None, os.environ.get("REGISTERED_RESULTS_ACTIONS", "").split(",")))

    def _write(self, result, status):
        action = result.task.resolved_action or result.task.action
        if not self._path or action not in self._actions:
            return
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"action": action, "status": status, "result": result.result}, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "failed")
