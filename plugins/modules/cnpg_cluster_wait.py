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
  - "Ready means all of: condition C(Ready) is C(True); C(status.phase) is C(Cluster in healthy
    state); C(status.readyInstances) and C(status.instances) equal C(spec.instances); and, when
    C(spec.imageName) is set, C(status.image) equals it."
  - "Checked against the source of CloudNativePG 1.30.0: the operator sets C(Ready) to C(True) exactly
    when it records the healthy phase, and writes no C(observedGeneration) on a Cluster's conditions
    nor any generation in its status (C(pkg/resources/status/transactions.go), C(SetClusterReadyCondition))."
  - Since the status does not say which spec it describes, a status read right after a spec change
    may predate it. With O(spec_changed=true) the module takes the status as current only once the
    operator has written a different status, or after O(settle_seconds) without one. A change that
    needs work (a rollout, a new replica, a new image) makes the operator leave the healthy phase at
    its next reconcile, so a healthy status left from before the change is not taken as ready.
    O(kubernetes.core.k8s_info#module:wait_condition) would accept it.
  - Uses a watch, not polling, so readiness is seen as soon as the operator records it. Dropped
    watches are resumed from the last C(resourceVersion), C(410 Gone) leads to a fresh list, and
    server errors (5xx, 429) and connection errors are retried five times in a row with backoff
    before the module gives up.
  - "Terminal phases (fail fast): C(Invalid cluster definition), C(Cluster is unrecoverable and needs
    manual intervention), C(Unable to create required cluster objects), C(Cluster cannot proceed to
    reconciliation due to an unknown plugin being required), C(Cluster cannot proceed to
    reconciliation due to an error while interacting with plugins), C(Cluster has incomplete or
    invalid image catalog). With O(spec_changed=true), a terminal phase is acted on only once the
    status is current (see above), so a failure the change may fix is left for the operator to clear."
  - Never changes anything; RV(ignore:changed) is always V(false).
  - The credentials need the C(list) and C(watch) verbs on C(clusters.postgresql.cnpg.io) in
    O(namespace).
  - "This is an action plugin: it runs in the controller, with the Python kubernetes library of
    the controller, and talks to the cluster from there (the roles run on C(localhost) anyway).
    The task's C(environment) keyword does not reach it: set C(K8S_AUTH_*) in the environment of
    C(ansible-playbook), or the options below (module_defaults C(group/apocrathia.mlflow.kubernetes))."

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
  spec_changed:
    description:
      - Set to V(true) when the task before this one changed the C(Cluster)'s spec.
      - The status read first is then taken as current only once the operator has written a
        different one, or after O(settle_seconds) without a change.
    type: bool
    default: false
  settle_seconds:
    description:
      - With O(spec_changed=true), how many seconds a status the operator has not rewritten since the
        first read must stay the same before it counts as describing the new spec.
      - V(0) takes the first status read as current.
    type: int
    default: 5

extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - apocrathia.mlflow.controller_action

attributes:
  check_mode:
    support: full
    description: Reports the current state of the C(Cluster) (one read) and does not wait.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to compare.

requirements:
  - "python >= 3.9 on the controller"
  - "kubernetes >= 24.2.0 on the controller"
  - "PyYAML >= 3.11 on the controller"

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
      lastTransitionTime: "2026-01-01T00:00:00Z"
image:
  description: C(status.image), the PostgreSQL image the operator runs.
  returned: always
  type: str
  sample: ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie
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

from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg_wait import (
    ClusterApi,
    argspec,
    argument_problem,
    new_waiter,
    task_result,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    CoreException,
    K8sError,
    connect,
    k8s_module,
)

# A play runs this task with the action plugin of the same name (plugins/action/cnpg_cluster_wait.py),
# in the controller. This module is what ansible-test checks the documentation against, and it
# still works on its own (a Python interpreter started for the task): both run
# module_utils/cnpg_wait.py's argspec, argument_problem and task_result, so options, results and
# messages are the same.


def run(module, waiter):
    result = task_result(waiter, module.params, module.check_mode)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


def main():
    module = k8s_module(argspec())
    params = module.params
    problem = argument_problem(params)
    if problem:
        module.fail_json(msg=problem)

    try:
        client = connect(module)
    except CoreException as e:
        module.fail_from_exception(e)
    except K8sError as e:
        module.fail_json(msg=str(e))

    run(module, new_waiter(ClusterApi(client.client), params))


if __name__ == "__main__":
    main()
