# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""apocrathia.mlflow.cnpg_cluster_wait, run in the controller.

An action plugin with the module's name takes its place in a play, so the roles' tasks are
unchanged. Like k8s_objects (plugins/action/k8s_objects.py), it costs no module start: a module
starts a Python interpreter and imports the kubernetes library and kubernetes.core anew for the
task (about 0.4 s on a small machine, more than the emulated CloudNativePG needs to become
healthy). The wait itself is module_utils/cnpg_wait.py, the same code the module runs, with the
same options, results and messages; the documentation is plugins/modules/cnpg_cluster_wait.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_engine_args import auth_options
from ansible_collections.apocrathia.mlflow.plugins.plugin_utils.controller_action import (
    NEEDS_KUBERNETES,
    ControllerAction,
)

# Imported when the plugin is loaded, in the main process before the worker of the task forks
# (see plugins/action/k8s_objects.py), so the kubernetes library is imported once per run.
try:
    from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg_wait import (
        ClusterApi,
        argspec,
        argument_problem,
        new_waiter,
        task_result,
    )
    from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
        CoreException,
        K8sError,
        connect,
    )

    IMPORT_ERROR = None
except ImportError as e:  # reported when a task runs
    IMPORT_ERROR = e


class ActionModule(ControllerAction):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        params = self._arguments(lambda: argspec(), IMPORT_ERROR, NEEDS_KUBERNETES)
        problem = argument_problem(params)
        if problem:
            result.update(failed=True, msg=problem)
            return result
        try:
            client = connect(auth=auth_options(params))
        except (K8sError, CoreException) as e:
            result.update(failed=True, msg=str(e))
            return result
        outcome = task_result(new_waiter(ClusterApi(client.client), params), params, bool(self._task.check_mode))
        warnings = outcome.pop("warnings")
        if warnings:
            result["warnings"] = result.get("warnings", []) + warnings
        result.update(outcome)
        return result
