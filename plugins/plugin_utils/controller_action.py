# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The base of the collection's action plugins that do their work in the controller.

They start no module and use no connection: k8s_objects, cnpg_cluster_wait, helm_release and
preflight_checks (docs/development.md says why each runs there).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# What the Kubernetes actions need on the controller (their optional imports).
NEEDS_KUBERNETES = "the Python kubernetes library and the kubernetes.core collection"


class ControllerAction(ActionBase):
    """An action plugin that runs in the controller: no connection, no files, no module."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def _arguments(self, argument_spec, import_error, needs):
        """The task's arguments, checked against ``argument_spec()``; first, the failure of the
        plugin's optional imports (``import_error``), naming what it ``needs`` on the controller."""
        if import_error is not None:
            action = self._task.resolved_action or self._task.action
            raise AnsibleActionFail(
                "{0} needs {1} on the controller: {2}".format(action, needs, import_error)
            ) from import_error
        return self.validate_argument_spec(argument_spec=argument_spec())[1]
