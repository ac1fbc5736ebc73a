# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over CloudNativePG objects, with the same rules as the cnpg_cluster_wait module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import evaluate_readiness


def cnpg_cluster_ready(cluster, expected_instances=None):
    """Whether a Cluster object (as read from the API) meets every readiness rule of cnpg_cluster_wait."""
    return evaluate_readiness(cluster or None, expected_instances)[0]


class FilterModule(object):
    def filters(self):
        return {"cnpg_cluster_ready": cnpg_cluster_ready}
