# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a role's variables (or what the cluster has) and fail with one message per problem.

The rules are plain Python (plugins/plugin_utils/role_checks.py, unit-tested). They run here,
on the controller, instead of as a filter: Ansible imports an action plugin once, in the
process that runs the play, while every task that uses a collection filter loads the
collection's filter files again in its own worker process; and this reads each variable by
name, so the task templates no mapping of the role's settings.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible_collections.apocrathia.mlflow.plugins.plugin_utils import role_checks
from ansible_collections.apocrathia.mlflow.plugins.plugin_utils.controller_action import ControllerAction


def run_checks(role, settings, found=None):
    """``(problems, notices)`` of ``role``'s checks on ``settings`` (or, given ``found``, on what the cluster has)."""
    if found is not None:
        if role not in role_checks.LIVE_CHECKS:
            raise AnsibleActionFail(
                "found is only read by the checks of {0}, not by {1}'s.".format(
                    " and ".join(sorted(role_checks.LIVE_CHECKS)), role
                )
            )
        result = role_checks.LIVE_CHECKS[role](found, settings)
        return result["problems"], result["notices"]
    return role_checks.CHECKS[role](settings), []


class ActionModule(ControllerAction):
    _VALID_ARGS = frozenset(("role", "found"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        role = self._task.args.get("role")
        if role not in role_checks.VARIABLES:
            raise AnsibleActionFail(
                "role must be one of {0}; got {1!r}.".format(", ".join(sorted(role_checks.VARIABLES)), role)
            )
        found = self._task.args.get("found")
        if found is not None and not isinstance(found, dict):
            raise AnsibleActionFail("found must be the 'found' mapping of apocrathia.mlflow.k8s_objects.")
        # Each variable as the role sees it: templated (role defaults reference the shared settings).
        settings = {
            name: self._templar.template(task_vars[name]) for name in role_checks.VARIABLES[role] if name in task_vars
        }
        problems, notices = run_checks(role, settings, found)
        result["changed"] = False
        # Plain text, one message a line (a list would print as a Python list).
        if problems:
            result["failed"] = True
            result["msg"] = "\n".join(problems)
            result["problems"] = problems
        elif notices:
            result["msg"] = "\n".join(notices)
            # Shown without -v, like a debug task's message.
            result["_ansible_verbose_always"] = True
        return result
