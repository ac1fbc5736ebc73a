#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# ruff: noqa: E402

DOCUMENTATION = r"""
module: k8s_objects

short_description: Apply a role's manifests, remove its switched-off objects and read others, in one call

version_added: 0.2.0

author:
  - apocrathia (@apocrathia)

description:
  - The object engine of the collection's roles. One call reads the objects in O(lookups), applies
    every manifest of O(definitions) with server-side apply, and deletes the objects of O(absent)
    that exist.
  - "Every manifest is applied under the field manager C(apocrathia.mlflow), with conflicts forced:
    the API server merges it into the live object and removes the fields this manager set before
    and the manifest no longer sets (a removed label, annotation or PostgreSQL parameter goes from
    the cluster too). Fields only other managers set (defaults, C(status), labels other
    controllers add) stay. A field a role sends that someone changed by hand is set back, as
    C(kubectl apply --server-side --force-conflicts) would."
  - "RV(objects[].action) is the API server's answer: V(unchanged) when the apply left the object's
    C(resourceVersion) as it was (quantities such as V(1000m) are stored as V(1), so they compare
    as the server stores them), V(updated) or V(created) otherwise. A manifest that sets nothing
    but its name (a bare C(Namespace)) is not applied to an object that exists."
  - Objects written by earlier versions of this collection (with create and patch requests) have
    their fields moved to the C(apocrathia.mlflow) manager before the first apply, as
    C(kubectl) moves client-side apply fields (one JSON patch of C(metadata.managedFields)), so a
    field a role stopped sending is removed on the first run after an upgrade too.
  - Objects of O(absent) are deleted with C(propagationPolicy=Orphan), so what they own stays (a
    C(ScheduledBackup)'s C(Backups), their volume snapshots).
  - A run with nothing to change sends reads and one apply per manifest, which the API server
    carries out as no-ops (no C(resourceVersion) moves).
  - Requests answered with 429 or a 5xx, and dropped connections, are retried with backoff, five
    times in a row at most; a 403, 422 or any other answer fails the task at once. Do not add
    C(retries) to the task.
  - "This is an action plugin: it runs in the controller, with the Python kubernetes library of
    the controller, and talks to the cluster from there (the roles run on C(localhost) anyway).
    The task's C(environment) keyword does not reach it: set C(K8S_AUTH_*) in the environment of
    C(ansible-playbook), or the options below (module_defaults C(group/apocrathia.mlflow.kubernetes))."

options:
  definitions:
    description:
      - Manifests to apply, each a complete object with C(apiVersion), C(kind) and C(metadata.name)
        (and C(metadata.namespace) for namespaced kinds). Namespaces are applied first.
      - Returned in RV(objects) in the same order.
    type: list
    elements: dict
    default: []
  absent:
    description:
      - Objects the role has switched off; those that exist are deleted (C(propagationPolicy=Orphan)).
      - Returned in RV(objects) after the definitions, in the same order.
    type: list
    elements: dict
    default: []
    suboptions:
      api_version:
        description: API version of the kind.
        type: str
        required: true
      kind:
        description: Kind of the object.
        type: str
        required: true
      name:
        description: Name of the object.
        type: str
        required: true
      namespace:
        description: Namespace of the object; leave out for cluster-scoped kinds.
        type: str
  lookups:
    description:
      - Objects to read before anything is written, returned in RV(lookups) in the same order and,
        with O(lookups[].key), in RV(found).
      - Without O(lookups[].name), every object of the kind (in O(lookups[].namespace), if given) is listed.
      - A kind the API server does not serve (its CRD not installed) gives RV(lookups[].api_found=false), not an error.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: Name of the answer in RV(found).
        type: str
      api_version:
        description: API version of the kind.
        type: str
        required: true
      kind:
        description: Kind of the object.
        type: str
        required: true
      name:
        description: Name of the object; leave out to list the kind.
        type: str
      namespace:
        description: Namespace of the object; leave out for cluster-scoped kinds.
        type: str
      label_selector:
        description: Without O(lookups[].name), list only the objects with these labels (for example V(owner=helm,name=mlflow)).
        type: str
      digest:
        description:
          - Return RV(lookups[].digest), the sha256 of the object's C(data) as sorted JSON (for a pod
            annotation that restarts pods when a Secret changes), and the objects without their data.
        type: bool
        default: false
      metadata_only:
        description: Return only C(apiVersion), C(kind) and C(metadata) of the objects.
        type: bool
        default: false
      helm_release:
        description:
          - The objects are a Helm release's Secrets (label selector C(owner=helm,name=<release>)).
            Return RV(lookups[].release), the newest revision's status, chart and values, and the
            Secrets without their data.
          - The records also hold the rendered manifests and hooks, with whatever the chart
            generates (Secrets included); this way none of it reaches the task's result.
        type: bool
        default: false
  namespace:
    description: A namespace to create first when it is missing (with O(namespace_labels)).
    type: str
  namespace_labels:
    description: Labels of the namespace created for O(namespace).
    type: dict
    default:
      app.kubernetes.io/name: mlflow
  return_live:
    description:
      - Return each object of O(definitions) as the API server holds it after this call (in check
        mode, as the dry run answered) in RV(objects[].live). Secret values are hidden.
    type: bool
    default: false
  skip_unserved:
    description:
      - A manifest whose kind the API server does not serve (its CRD not installed) is reported
        with RV(objects[].action=skipped) instead of failing the task.
    type: bool
    default: false

extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - apocrathia.mlflow.controller_action

attributes:
  check_mode:
    support: full
    description:
      - Every apply and delete is sent as a server-side dry run (C(dryRun=All)), so the answers are
        the API server's; an object is planned when what the server would store differs from the live one. Objects in a namespace this run would create are reported as planned
        without a request (the API server refuses a dry run there).
  diff_mode:
    support: full
    description:
      - One diff per object written or deleted, headed by its RV(objects[].ref); a Secret's values are
        shown as C(<hidden>) or C(<hidden, changed>).

requirements:
  - "python >= 3.9 on the controller"
  - "kubernetes >= 24.2.0 on the controller"

notes:
  - Returns the live objects of O(lookups), Secrets included (unless O(lookups[].digest),
    O(lookups[].metadata_only) or O(lookups[].helm_release)), so use C(no_log) on tasks that read or
    write Secrets.
  - Fields a manifest leaves out are not compared, so a field removed from a manifest is not
    reported; a merge patch would not remove it either.

seealso:
  - module: apocrathia.mlflow.k8s_objects_info
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
- name: Apply the Cluster and its NetworkPolicy, remove a switched-off ScheduledBackup
  apocrathia.mlflow.k8s_objects:
    namespace: mlflow
    definitions:
      - "{{ lookup('ansible.builtin.template', 'cluster.yml.j2') | from_yaml }}"
      - "{{ lookup('ansible.builtin.template', 'networkpolicy.yml.j2') | from_yaml }}"
    absent:
      - api_version: postgresql.cnpg.io/v1
        kind: ScheduledBackup
        name: mlflow-postgres
        namespace: mlflow
    return_live: true
  register: applied

- name: Read whether CloudNativePG is installed and the storage classes
  apocrathia.mlflow.k8s_objects:
    lookups:
      - key: cluster
        api_version: postgresql.cnpg.io/v1
        kind: Cluster
        name: mlflow-postgres
        namespace: mlflow
      - key: storage_classes
        api_version: storage.k8s.io/v1
        kind: StorageClass
  register: found

- name: Fail without CloudNativePG
  ansible.builtin.fail:
    msg: CloudNativePG is not installed.
  when: not found.found.cluster.api_found
"""

RETURN = r"""
objects:
  description: One entry per O(namespace), O(definitions) and O(absent) entry, in that order.
  returned: always
  type: list
  elements: dict
  contains:
    ref:
      description: C(<kind> <namespace>/<name>), or C(<kind> <name>) for cluster-scoped kinds.
      type: str
    api_version:
      description: API version of the object.
      type: str
    kind:
      description: Kind of the object.
      type: str
    name:
      description: Name of the object.
      type: str
    namespace:
      description: Namespace of the object, empty for cluster-scoped kinds.
      type: str
    api_found:
      description: Whether the API server serves the kind.
      type: bool
    action:
      description:
        - What happened; V(unchanged) (in sync, or already absent), V(created), V(updated),
          V(deleted), V(planned) (check mode; see RV(objects[].operation)) or V(skipped) (see O(skip_unserved)).
      type: str
    operation:
      description: V(create), V(update) or V(delete) for an object written, deleted or planned; empty otherwise.
      type: str
    differences:
      description:
        - Dotted paths where the object the API server stored (in check mode, would store) differs from
          the live object before the call, a removed field included (V(.) for a missing object).
      type: list
      elements: str
    live:
      description: The object after this call (O(return_live) only); Secret values hidden.
      type: dict
      returned: when O(return_live=true)
  sample:
    - ref: NetworkPolicy mlflow/mlflow-postgres
      api_version: networking.k8s.io/v1
      kind: NetworkPolicy
      name: mlflow-postgres
      namespace: mlflow
      api_found: true
      action: updated
      operation: update
      differences: ["spec.ingress[0].from[0].podSelector.matchLabels"]
lookups:
  description: One entry per O(lookups) entry, in order.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: O(lookups[].key), empty when not given.
      type: str
    api_version:
      description: O(lookups[].api_version).
      type: str
    kind:
      description: O(lookups[].kind).
      type: str
    name:
      description: O(lookups[].name), empty for a list.
      type: str
    namespace:
      description: O(lookups[].namespace), empty for cluster-scoped kinds.
      type: str
    api_found:
      description: Whether the API server serves the kind.
      type: bool
    exists:
      description: Whether any object was found.
      type: bool
    digest:
      description: sha256 of the first object's C(data) as sorted JSON, empty when none (O(lookups[].digest) only).
      type: str
      returned: when O(lookups[].digest=true)
    release:
      description:
        - The newest revision of the release, as the P(apocrathia.mlflow.helm_release#filter) filter
          reads it - C(name), C(namespace), C(revision), C(status), C(updated), C(chart), C(app_version)
          and C(values); empty when there is no release (O(lookups[].helm_release) only).
      type: dict
      returned: when O(lookups[].helm_release=true)
    resources:
      description: The objects found, without C(metadata.managedFields).
      type: list
      elements: dict
found:
  description: The entries of RV(lookups) that have a O(lookups[].key), by key.
  returned: always
  type: dict
  sample:
    cluster:
      key: cluster
      api_version: postgresql.cnpg.io/v1
      kind: Cluster
      name: mlflow-postgres
      namespace: mlflow
      api_found: true
      exists: false
      resources: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_engine_args import argument_spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="apocrathia.mlflow.k8s_objects runs as an action plugin; its module file only documents it.")


if __name__ == "__main__":
    main()
