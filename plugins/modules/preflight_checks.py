#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# ruff: noqa: E402

DOCUMENTATION = r"""
module: preflight_checks

short_description: Check a role's variables, or what the cluster has, before anything changes

version_added: 0.2.0

author:
  - apocrathia (@apocrathia)

description:
  - The preflight of the roles M(apocrathia.mlflow.mlflow_secrets), M(apocrathia.mlflow.cnpg_cluster)
    and M(apocrathia.mlflow.authentik_proxy) in one task each. It reads the role's variables by name
    (templated, as the role sees them) and fails with one message per problem, each naming the
    variable to change and the value found. Nothing is read from or written to the cluster.
  - With O(found), the C(cnpg_cluster) checks are those of what the cluster has - the CloudNativePG
    CRD, the storage class, the C(VolumeSnapshotClass) of volume snapshot backups - and of the changes
    to a running C(Cluster) that cannot be undone - a PostgreSQL major version change, or a smaller
    volume, unless C(cnpg_cluster_allow_major_upgrade) or C(cnpg_cluster_allow_storage_shrink) allows
    it (a major version downgrade is always refused). An allowed smaller volume gets a notice.
  - Credentials are not read (C(mlflow_secrets_password), the 1Password tokens); the roles check
    those in C(no_log) tasks.
  - "This is an action plugin: it runs in the controller."

options:
  role:
    description: The role whose variables are checked.
    type: str
    required: true
    choices: [mlflow_secrets, cnpg_cluster, mlflow_helm, authentik_proxy]
  found:
    description:
      - Check what the cluster has instead of the variables - the
        RV(apocrathia.mlflow.k8s_objects#module:found) of the role's preflight read.
      - For C(cnpg_cluster) - the C(Cluster) (key C(cluster)), the storage classes
        (C(storage_classes)) and, with volume snapshot backups, the C(VolumeSnapshotClass)
        (C(snapshot_class)).
      - For C(mlflow_helm) - the storage classes (C(storage_classes)), the ServiceMonitor API
        (C(service_monitor)) and the ServiceMonitor's namespace (C(service_monitor_namespace)).
    type: dict

extends_documentation_fragment:
  - apocrathia.mlflow.controller_action

attributes:
  check_mode:
    support: full
    description: It changes nothing, in check mode or not.
  diff_mode:
    support: none
    description: It has nothing to diff.

requirements:
  - "python >= 3.9 on the controller"
"""

EXAMPLES = r"""
- name: Check the cnpg_cluster variables
  apocrathia.mlflow.preflight_checks:
    role: cnpg_cluster

- name: Check what the cluster has
  apocrathia.mlflow.preflight_checks:
    role: cnpg_cluster
    found: "{{ __cnpg_cluster_preflight.found }}"
"""

RETURN = r"""
msg:
  description:
    - On failure, the problems as plain text, one a line.
    - Otherwise, the notices (an allowed smaller PostgreSQL volume), one a line; absent when there are none.
  returned: on failure, or when there are notices
  type: str
  sample: cnpg_cluster_storage_size must be a Kubernetes quantity such as 20Gi; got '20GB'.
problems:
  description: On failure, the problems, one message each.
  returned: on failure
  type: list
  elements: str
  sample:
    - cnpg_cluster_storage_size must be a Kubernetes quantity such as 20Gi; got '20GB'.
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            role=dict(
                type="str", required=True, choices=["mlflow_secrets", "cnpg_cluster", "mlflow_helm", "authentik_proxy"]
            ),
            found=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    module.fail_json(
        msg="apocrathia.mlflow.preflight_checks runs as an action plugin; its module file only documents it."
    )


if __name__ == "__main__":
    main()
