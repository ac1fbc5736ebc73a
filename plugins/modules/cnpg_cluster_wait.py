#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Ansible modules import after DOCUMENTATION/EXAMPLES/RETURN.
# ruff: noqa: E402


DOCUMENTATION = r"""
module: cnpg_cluster_wait

short_description: Wait until a CloudNativePG Cluster is really ready

version_added: 0.1.0

author:
  - apocrathia (@apocrathia)

description:
  - Watches a CloudNativePG (CNPG) C(Cluster) and returns when it is ready, fails as soon as it
    reaches a phase the operator cannot leave on its own, or fails at the timeout with the last
    state and the phases seen.
  - "Ready means all of: condition C(Ready) is C(True) B(and) its C(observedGeneration) equals
    C(metadata.generation); C(status.readyInstances) equals C(spec.instances); C(status.phase) is
    C(Cluster in healthy state)."
  - A C(Ready) condition left over from before a spec change (older C(observedGeneration)) does not
    count; O(kubernetes.core.k8s_info#module:wait_condition) would accept it.
  - Uses a watch, not polling, so readiness is seen as soon as the operator records it. Dropped
    watches are resumed from the last C(resourceVersion), C(410 Gone) leads to a fresh list, and
    server errors (5xx, 429) and connection errors are retried five times in a row with backoff
    before the module gives up.
  - "Terminal phases (fail fast): C(Invalid cluster definition), C(Cluster is unrecoverable and needs
    manual intervention), C(Unable to create required cluster objects), C(Cluster cannot proceed to
    reconciliation due to an unknown plugin being required), C(Cluster cannot proceed to
    reconciliation due to an error while interacting with plugins), C(Cluster has incomplete or
    invalid image catalog). A terminal phase whose C(Ready) condition predates the current
    C(metadata.generation) is left for the operator to clear."
  - Never changes anything; RV(ignore:changed) is always V(false).
  - The credentials need the C(list) and C(watch) verbs on C(clusters.postgresql.cnpg.io) in
    O(namespace).

options:
  name:
    description:
      - Name of the C(Cluster).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the C(Cluster).
    type: str
    required: true
  timeout:
    description:
      - How many seconds to wait for the C(Cluster) to be ready.
      - Ignored in check mode.
    type: int
    default: 600
  wait_for_creation:
    description:
      - When V(true), a C(Cluster) that does not exist yet (or is deleted while waiting) is waited
        for until O(timeout).
      - When V(false), a missing C(Cluster) is an error.
    type: bool
    default: false
  expected_instances:
    description:
      - Number of ready instances required, instead of C(spec.instances).
    type: int

extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options

attributes:
  check_mode:
    support: full
    description: Reports the current state of the C(Cluster) (one read) and does not wait.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to compare.

requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
  - "PyYAML >= 3.11"

notes:
  - In check mode a missing CRD or C(Cluster) is reported with RV(exists=false) and a warning
    instead of failing, because the tasks that would create them did not run either.

seealso:
  - module: kubernetes.core.k8s_info
  - name: CloudNativePG Cluster status
    description: Phases and conditions of a CloudNativePG Cluster.
    link: https://cloudnative-pg.io/documentation/current/cloudnative-pg.v1/#postgresql-cnpg-io-v1-ClusterStatus
"""

EXAMPLES = r"""
- name: Wait for the MLflow database cluster to be ready
  apocrathia.mlflow.cnpg_cluster_wait:
    name: mlflow-db
    namespace: mlflow
    timeout: 900
  register: mlflow_db

- name: Show where to connect
  ansible.builtin.debug:
    msg: "Primary {{ mlflow_db.current_primary }}, writes go to {{ mlflow_db.write_service }}"

- name: Wait for a Cluster that another controller is about to create
  apocrathia.mlflow.cnpg_cluster_wait:
    name: mlflow-db
    namespace: mlflow
    wait_for_creation: true
    timeout: 1200

- name: Wait with an explicit kubeconfig and context
  apocrathia.mlflow.cnpg_cluster_wait:
    name: mlflow-db
    namespace: mlflow
    kubeconfig: ~/.kube/staging
    context: staging-admin
"""

RETURN = r"""
ready:
  description: Whether the C(Cluster) met every readiness rule when the module returned.
  returned: always
  type: bool
  sample: true
exists:
  description: Whether the C(Cluster) existed when the module returned.
  returned: always
  type: bool
  sample: true
phase:
  description: C(status.phase), the last one seen.
  returned: always
  type: str
  sample: Cluster in healthy state
phase_reason:
  description: C(status.phaseReason), the last one seen.
  returned: always
  type: str
  sample: ""
instances:
  description: Instances required for readiness, C(spec.instances) or O(expected_instances).
  returned: always
  type: int
  sample: 3
ready_instances:
  description: C(status.readyInstances), the last one seen.
  returned: always
  type: int
  sample: 3
current_primary:
  description: C(status.currentPrimary), the pod name of the primary.
  returned: always
  type: str
  sample: mlflow-db-1
write_service:
  description: Read-write service, C(status.writeService) or C(<name>-rw).
  returned: always
  type: str
  sample: mlflow-db-rw
read_service:
  description: Read service, C(status.readService) or C(<name>-r).
  returned: always
  type: str
  sample: mlflow-db-r
conditions:
  description: C(status.conditions) as the API returned them.
  returned: always
  type: list
  elements: dict
  sample:
    - type: Ready
      status: "True"
      reason: ClusterIsReady
      message: Cluster is Ready
      observedGeneration: 2
      lastTransitionTime: "2026-01-01T00:00:00Z"
generation:
  description: C(metadata.generation) of the C(Cluster).
  returned: always
  type: int
  sample: 2
observed_generation:
  description: C(observedGeneration) of the C(Ready) condition.
  returned: always
  type: int
  sample: 2
unmet:
  description: The readiness rules not met, empty when RV(ready) is V(true).
  returned: always
  type: list
  elements: str
  sample: ["readyInstances 2/3", "phase is 'Creating a new replica', not 'Cluster in healthy state'"]
elapsed:
  description: Seconds spent, from the first request to the return.
  returned: always
  type: float
  sample: 42.317
timeline:
  description: Each phase change seen, in order, starting with the state found first.
  returned: always
  type: list
  elements: dict
  contains:
    exists:
      description: Whether the C(Cluster) existed.
      type: bool
    phase:
      description: C(status.phase).
      type: str
    phase_reason:
      description: C(status.phaseReason).
      type: str
    ready_instances:
      description: C(status.readyInstances).
      type: int
    elapsed:
      description: Seconds since the module started.
      type: float
    at:
      description: UTC time, ISO 8601.
      type: str
  sample:
    - exists: true
      phase: Setting up primary
      phase_reason: ""
      ready_instances: 0
      elapsed: 0.012
      at: "2026-01-01T00:00:00.012+00:00"
    - exists: true
      phase: Cluster in healthy state
      phase_reason: ""
      ready_instances: 3
      elapsed: 41.9
      at: "2026-01-01T00:00:41.900+00:00"
"""

from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import describe_state
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg_wait import (
    ClusterApi,
    ClusterNotFound,
    ClusterWaiter,
    OperatorNotInstalled,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    CoreException,
    K8sError,
    auth_argspec,
    connect,
    k8s_module,
)


def argspec():
    return auth_argspec(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        timeout=dict(type="int", default=600),
        wait_for_creation=dict(type="bool", default=False),
        expected_instances=dict(type="int"),
    )


def run(module, waiter):
    params = module.params
    where = "'{0}/{1}'".format(params["namespace"], params["name"])
    if module.check_mode:
        try:
            cluster = waiter.snapshot()
        except (OperatorNotInstalled, ClusterNotFound) as e:
            # Check mode: the tasks that would install the operator did not run either.
            module.warn(str(e))
            module.exit_json(changed=False, msg="Check mode: " + str(e), **waiter.result())
        except K8sError as e:
            module.fail_json(msg=str(e), **waiter.result())
        if cluster is None:
            module.warn("Cluster {0} does not exist (yet).".format(where))
        result = waiter.result()
        module.exit_json(
            changed=False,
            msg="Check mode: Cluster {0} is {1}ready: {2}.".format(
                where, "" if result["ready"] else "not ", describe_state(cluster, params["expected_instances"])
            ),
            **result,
        )

    try:
        waiter.wait()
    except K8sError as e:
        module.fail_json(msg=str(e), **waiter.result())
    result = waiter.result()
    module.exit_json(
        changed=False,
        msg="Cluster {0} is ready after {1}s: {2}.".format(
            where, result["elapsed"], describe_state(waiter.cluster, params["expected_instances"])
        ),
        **result,
    )


def main():
    module = k8s_module(argspec())
    params = module.params
    if params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1 second, got {0}.".format(params["timeout"]))
    if params["expected_instances"] is not None and params["expected_instances"] < 1:
        module.fail_json(msg="expected_instances must be at least 1, got {0}.".format(params["expected_instances"]))

    try:
        client = connect(module)
    except CoreException as e:
        module.fail_from_exception(e)
    except K8sError as e:
        module.fail_json(msg=str(e))

    waiter = ClusterWaiter(
        ClusterApi(client.client),
        params["namespace"],
        params["name"],
        params["timeout"],
        wait_for_creation=params["wait_for_creation"],
        expected_instances=params["expected_instances"],
    )
    run(module, waiter)


if __name__ == "__main__":
    main()
