# -*- coding: utf-8 -*-
# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The modules whose work an action plugin does in the controller
    # (plugins/plugin_utils/controller_action.py): k8s_objects, cnpg_cluster_wait, helm_release, preflight_checks.
    DOCUMENTATION = r"""
attributes:
  action:
    support: full
    description: The work is done by the action plugin, in the controller.
"""
