"""Run a playbook and keep the full results of chosen modules' tasks (callback_plugins/registered_results.py).

Tests assert on what a task returned, as ``register`` would hold it, not on printed text.
"""

import json
import os
import tempfile
from pathlib import Path

CALLBACK_DIR = Path(__file__).parent / "callback_plugins"


def run_with_results(site, playbook, actions, **kwargs):
    """``site.run(playbook, **kwargs)`` and ``{action: [result, ...]}`` of the tasks of ``actions`` (FQCNs)."""
    handle, path = tempfile.mkstemp(prefix="registered-results-", suffix=".jsonl")
    os.close(handle)
    env = dict(kwargs.pop("env", {}))
    env["ANSIBLE_CALLBACK_PLUGINS"] = os.pathsep.join(
        filter(None, [env.get("ANSIBLE_CALLBACK_PLUGINS"), str(CALLBACK_DIR)])
    )
    env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join(
        filter(None, [env.get("ANSIBLE_CALLBACKS_ENABLED"), "registered_results"])
    )
    env["REGISTERED_RESULTS_FILE"] = path
    env["REGISTERED_RESULTS_ACTIONS"] = ",".join(actions)
    try:
        run = site.run(playbook, env=env, **kwargs)
        lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    finally:
        os.unlink(path)
    results = {action: [] for action in actions}
    for line in lines:
        results[line["action"]].append(line["result"])
    return run, results
