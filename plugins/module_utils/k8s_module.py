# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Former home of the modules' kubernetes.core wiring, now in module_utils/k8s_client.py (re-exported here)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (  # noqa: F401 - re-exported
    CoreException,
    auth_argspec,
    k8s_module,
)
