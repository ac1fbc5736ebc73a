# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run apocrathia.mlflow.onepassword_item and hide its successful result from every callback.

A module cannot mark its own result as no_log, and a task that forgets ``no_log: true`` would
print the secret values it returns. This action plugin marks every successful result as
no_log, so the values reach registered variables but never the output. Failures stay
visible: their messages name what is wrong and never contain a value or the token.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result.update(
            self._execute_module(
                module_name="apocrathia.mlflow.onepassword_item",
                module_args=self._task.args,
                task_vars=task_vars,
            )
        )
        if not result.get("failed"):
            result["_ansible_no_log"] = True
        return result
