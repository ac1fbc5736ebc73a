# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run apocrathia.mlflow.onepassword_item and hide its successful result from every callback.

It also reports the collection's version to 1Password (``integration_version``), read from
galaxy.yml or MANIFEST.json on the controller, so the version is written in one place.

A module cannot mark its own result as no_log, and a task that forgets ``no_log: true`` would
print the secret values it returns. This action plugin marks every successful result as
no_log, so the values reach registered variables but never the output. Failures stay
visible: their messages name what is wrong and never contain a value or the token.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible_collections.apocrathia.mlflow.plugins.plugin_utils.collection import collection_version


def module_args(args):
    """The task's arguments, with integration_version set to the collection's version unless the task sets it."""
    args = dict(args)
    if args.get("integration_version") is None:
        args["integration_version"] = collection_version()
    return args


class ActionModule(ActionBase):
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result.update(
            self._execute_module(
                module_name="apocrathia.mlflow.onepassword_item",
                module_args=module_args(self._task.args),
                task_vars=task_vars,
            )
        )
        if not result.get("failed"):
            result["_ansible_no_log"] = True
        return result
