# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test callback: every task's outcome as a JSON line, so tests assert on structured results.

Writes to the file named by TASK_RESULTS_FILE: the task's name, role, action, status (ok,
changed, skipped, failed) and, for apocrathia.mlflow.k8s_objects, each object's ref, kind,
action and operation; for apocrathia.mlflow.helm_release, its action and the helm subcommands run. Never a value: no live objects, diffs or lookups (they may hold Secrets).
Enabled by tests/support/ansible_run.py; not part of the collection.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_results
type: aggregate
short_description: Task outcomes as JSON lines for the tests
description: Writes each task's outcome as a JSON line to $TASK_RESULTS_FILE.
"""

_OBJECT_KEYS = ("ref", "kind", "name", "namespace", "action", "operation")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("TASK_RESULTS_FILE")

    def _write(self, result, status):
        if not self._path:
            return
        task = result._task
        outcome = result._result or {}
        entry = {
            "task": task.get_name(),
            "name": task.name or "",
            "role": task._role.get_name(include_role_fqcn=False) if task._role else "",
            "action": task.resolved_action or task.action,
            "status": "changed" if status == "ok" and outcome.get("changed") else status,
        }
        items = outcome.get("results") if isinstance(outcome.get("results"), list) else [outcome]
        objects = [
            {key: obj.get(key) for key in _OBJECT_KEYS}
            for item in items
            if isinstance(item, dict)
            for obj in (item.get("objects") or [])
            if isinstance(obj, dict)
        ]
        if objects:
            entry["objects"] = objects
        lookups = [
            {key: found.get(key) for key in ("kind", "name", "namespace", "api_found", "exists")}
            for item in items
            if isinstance(item, dict)
            for found in (item.get("lookups") or [])
            if isinstance(found, dict)
        ]
        if lookups:
            entry["lookups"] = lookups
        if isinstance(outcome.get("commands"), list) and "action" in outcome:
            # apocrathia.mlflow.helm_release: what it decided and which helm commands it ran
            entry["helm"] = {
                "action": outcome.get("action"),
                "commands": [c[1] for c in outcome["commands"] if isinstance(c, list) and len(c) > 1],
            }
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")
