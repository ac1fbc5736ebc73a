# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""apocrathia.mlflow.k8s_objects: the object engine, run in the controller.

An action plugin, not a module: it runs in the Ansible process that runs the play, so a call
costs no module start (about a second on a small machine: a Python interpreter, the kubernetes
library and kubernetes.core imported anew for every task). The roles talk to the cluster from
the controller anyway (hosts: localhost). The work is done by module_utils/k8s_engine.py, which
the unit tests exercise without Ansible; the documentation is plugins/modules/k8s_objects.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_engine_args import argument_spec, auth_options
from ansible_collections.apocrathia.mlflow.plugins.plugin_utils.controller_action import (
    NEEDS_KUBERNETES,
    ControllerAction,
)

# Imported when the plugin is loaded, not per task: Ansible's linear strategy loads the plugin's
# class in the main process (to read BYPASS_HOST_LOOP) before it forks a worker per task, so the
# kubernetes library (about a second to import on a small machine) is imported once per play run
# and every worker inherits it.
try:
    from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
        CoreException,
        K8sError,
        call,
    )
    from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_engine import Engine
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

    IMPORT_ERROR = None
except ImportError as e:  # reported when a task runs
    IMPORT_ERROR = e


def _plain(value):
    """Plain Python values: templated arguments come as Ansible's tagged str, dict and list
    subclasses, which the comparison (strict about types, so 1 is not "1") must not see."""
    return json.loads(json.dumps(value))


class ActionModule(ControllerAction):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._arguments(argument_spec, IMPORT_ERROR, NEEDS_KUBERNETES)
        try:
            auth = auth_options(args)
            client = call(lambda: get_api_client(**auth), "discover", "the API")
            engine = Engine(client, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff))
            outcome = engine.run(
                definitions=_plain(args["definitions"]),
                absent=_plain(args["absent"]),
                lookups=_plain(args["lookups"]),
                namespace=_plain(args["namespace"]),
                namespace_labels=_plain(args["namespace_labels"]),
                return_live=args["return_live"],
                skip_unserved=args["skip_unserved"],
            )
        except (K8sError, CoreException) as e:
            result.update(failed=True, msg=str(e))
            return result
        result.update(outcome)
        diffs = [entry.pop("diff") for entry in outcome["objects"] if "diff" in entry]
        if diffs:
            result["diff"] = diffs
        return result
