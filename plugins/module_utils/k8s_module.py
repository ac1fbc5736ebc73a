# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the collection's Kubernetes modules take from kubernetes.core, in one place."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.ansiblemodule import (
    AnsibleModule,
)
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
    AUTH_ARG_SPEC,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import (  # noqa: F401 - for the modules
    CoreException,
)


def auth_argspec(**options):
    """kubernetes.core's connection options (kubeconfig, context, host, api_key, ...) plus ``options``."""
    args = copy.deepcopy(AUTH_ARG_SPEC)
    args.update(options)
    return args


def k8s_module(argument_spec):
    """An AnsibleK8SModule (checks the kubernetes library) that supports check mode."""
    return AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argument_spec, supports_check_mode=True)
