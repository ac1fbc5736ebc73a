#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Ansible modules import after DOCUMENTATION/EXAMPLES/RETURN.
# ruff: noqa: E402


DOCUMENTATION = r"""
module: k8s_objects_info

short_description: Read many Kubernetes objects and compare manifests with them, in one call

version_added: 0.1.0

author:
  - apocrathia (@apocrathia)

description:
  - Reads several objects, of any kinds, in one module run, and tells for each manifest in
    O(definitions) whether the cluster already holds it. A role uses it to find what it has to
    write, so a run that has nothing to change sends no write request at all, not even a
    server-side dry run, and pays for one module start instead of one per object.
  - "A manifest is in sync when every field it sets has that value in the live object. Fields
    that only the live object has (defaults the API server adds, C(status), labels other
    controllers set) do not count. Lists must match element by element. A Secret's C(stringData)
    is compared, base64-encoded, with its C(data). Quantities are compared by value, so V(1024Mi)
    in a manifest matches the V(1Gi) the API server stores."
  - The comparison is made on the client; the API server is only read (C(get) and C(list)).
  - Server errors (5xx, 429) and dropped connections are retried five times with backoff.
  - Never changes anything; RV(ignore:changed) is always V(false).

options:
  lookups:
    description:
      - Objects to read, returned in RV(lookups) in the same order and, with O(lookups[].key), in RV(found).
      - Without O(lookups[].name), every object of the kind (in O(lookups[].namespace), if given)
        is listed, or those that match O(lookups[].label_selectors).
      - A kind the API server does not serve (its CRD not installed) gives RV(lookups[].api_found=false),
        not an error.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description:
          - Name of the answer in RV(found). Lookups with the same key add their objects to the same list.
        type: str
      api_version:
        description: API version of the kind, for example V(v1) or V(postgresql.cnpg.io/v1).
        type: str
        required: true
      kind:
        description: Kind of the object, for example V(Secret).
        type: str
        required: true
      name:
        description: Name of the object.
        type: str
      namespace:
        description: Namespace of the object; leave out for cluster-scoped kinds.
        type: str
      label_selectors:
        description:
          - Without O(lookups[].name), list only the objects whose labels match every selector, as
            O(kubernetes.core.k8s_info#module:label_selectors) does - V(key=value), V(key!=value),
            V(key in (a,b)), V(key) (the label is set), V(!key) (it is not).
          - The selectors are sent to the API server, joined into one.
        type: list
        elements: str
        default: []
  metadata_only:
    description:
      - Return only C(apiVersion), C(kind) and C(metadata) of the objects in RV(lookups[].resources), for
        example to learn whether Secrets exist without their data reaching the result.
    type: bool
    default: false
  definitions:
    description:
      - Manifests to compare with the cluster, each a complete object with C(apiVersion), C(kind)
        and C(metadata.name) (and C(metadata.namespace) for namespaced kinds).
      - Returned in RV(definitions) in the same order.
    type: list
    elements: dict
    default: []

extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options

attributes:
  check_mode:
    support: full
    description: Only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed; RV(definitions[].differences) names what would.

requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
  - "PyYAML >= 3.11"

notes:
  - "Returns the live objects of O(lookups), Secrets included: use C(no_log) on tasks that read Secrets.
    The live objects of O(definitions) are not returned, only whether each is in sync and the
    paths that differ."
  - The manifests of O(definitions) are returned as given; use C(no_log) when they carry secret values.
  - Fields a manifest leaves out are not compared, so a field removed from a manifest is not
    reported; a merge patch would not remove it either.

seealso:
  - module: kubernetes.core.k8s_info
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
- name: Find which manifests need writing
  apocrathia.mlflow.k8s_objects_info:
    definitions:
      - "{{ lookup('ansible.builtin.template', 'cluster.yml.j2') | from_yaml }}"
      - "{{ lookup('ansible.builtin.template', 'networkpolicy.yml.j2') | from_yaml }}"
  register: compared

- name: Write only those that differ
  kubernetes.core.k8s:
    state: present
    definition: "{{ compared.definitions | rejectattr('in_sync') | map(attribute='definition') | list }}"
  when: not compared.in_sync

- name: Read an API's presence, the storage classes and a Secret at once
  apocrathia.mlflow.k8s_objects_info:
    lookups:
      - api_version: postgresql.cnpg.io/v1
        kind: Cluster
        name: mlflow-postgres
        namespace: mlflow
      - api_version: storage.k8s.io/v1
        kind: StorageClass
      - api_version: v1
        kind: Secret
        name: mlflow-db
        namespace: mlflow
  register: found
  no_log: true
"""

RETURN = r"""
lookups:
  description: One entry per O(lookups) entry, in order.
  returned: always
  type: list
  elements: dict
  contains:
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
    resources:
      description: The objects found (none when the object does not exist), without C(metadata.managedFields).
      type: list
      elements: dict
  sample:
    - api_version: postgresql.cnpg.io/v1
      kind: Cluster
      name: mlflow-postgres
      namespace: mlflow
      api_found: true
      resources: []
found:
  description:
    - For each O(lookups[].key), the objects found by the lookups with that key (an empty list when
      none exists); lookups without a key are left out.
  returned: always
  type: dict
  sample:
    cluster: []
    volumes:
      - apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: mlflow-postgres-1
definitions:
  description: One entry per O(definitions) entry, in order.
  returned: always
  type: list
  elements: dict
  contains:
    api_version:
      description: C(apiVersion) of the manifest.
      type: str
    kind:
      description: C(kind) of the manifest.
      type: str
    name:
      description: C(metadata.name) of the manifest.
      type: str
    namespace:
      description: C(metadata.namespace) of the manifest, empty for cluster-scoped kinds.
      type: str
    api_found:
      description: Whether the API server serves the kind.
      type: bool
    exists:
      description: Whether the object exists.
      type: bool
    ref:
      description: C(<kind> <namespace>/<name>), or C(<kind> <name>) for cluster-scoped kinds, to name the object in messages and facts.
      type: str
    in_sync:
      description: Whether the live object already holds every field of the manifest.
      type: bool
    differences:
      description: Dotted paths of the manifest's fields the live object does not hold (V(.) when it does not exist).
      type: list
      elements: str
    definition:
      description: The manifest as given, to pass on to M(kubernetes.core.k8s).
      type: dict
  sample:
    - api_version: networking.k8s.io/v1
      kind: NetworkPolicy
      name: mlflow-postgres
      namespace: mlflow
      api_found: true
      exists: true
      ref: NetworkPolicy mlflow/mlflow-postgres
      in_sync: false
      differences: ["spec.ingress[0].from[0].podSelector.matchLabels"]
      definition: {}
in_sync:
  description: Whether every manifest of O(definitions) is in sync (V(true) when there are none).
  returned: always
  type: bool
  sample: true
"""

from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    CoreException,
    K8sError,
    auth_argspec,
    connect,
    k8s_module,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_engine import (
    ObjectReader,
    check_definition,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_objects import (
    comparable,
    differences,
    object_ref,
)


def argspec():
    return auth_argspec(
        lookups=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                key=dict(type="str", no_log=False),
                api_version=dict(type="str", required=True),
                kind=dict(type="str", required=True),
                name=dict(type="str"),
                namespace=dict(type="str"),
                label_selectors=dict(type="list", elements="str", default=[]),
            ),
        ),
        metadata_only=dict(type="bool", default=False),
        definitions=dict(type="list", elements="dict", default=[]),
    )


def run(module, reader):
    params = module.params
    # Every manifest is checked before the first read, so a bad one fails the call at once.
    refs = [check_definition(index, definition) for index, definition in enumerate(params["definitions"])]
    lookups = []
    found = {}
    for entry in params["lookups"]:
        # Selectors go to the API server, ANDed in one selector, as kubernetes.core.k8s_info sends them.
        selector = ",".join(entry["label_selectors"]) or None
        api_found, objects = reader.read(
            entry["api_version"], entry["kind"], entry["name"], entry["namespace"], selector
        )
        if params["metadata_only"]:
            objects = [{key: obj.get(key) for key in ("apiVersion", "kind", "metadata")} for obj in objects]
        lookups.append(
            dict(
                api_version=entry["api_version"],
                kind=entry["kind"],
                name=entry["name"] or "",
                namespace=entry["namespace"] or "",
                api_found=api_found,
                resources=objects,
            )
        )
        if entry["key"]:
            found.setdefault(entry["key"], []).extend(objects)

    compared = []
    for definition, (api_version, kind, name, namespace) in zip(params["definitions"], refs):  # noqa: B905 - same list
        api_found, objects = reader.read(api_version, kind, name, namespace)
        differing = differences(comparable(definition), objects[0]) if objects else ["."]
        compared.append(
            dict(
                api_version=api_version,
                kind=kind,
                name=name,
                namespace=namespace,
                api_found=api_found,
                exists=bool(objects),
                ref=object_ref(kind, name, namespace),
                in_sync=not differing,
                differences=differing,
                definition=definition,
            )
        )
    return dict(
        changed=False,
        lookups=lookups,
        found=found,
        definitions=compared,
        in_sync=all(entry["in_sync"] for entry in compared),
    )


def main():
    module = k8s_module(argspec())
    try:
        client = connect(module)
        module.exit_json(**run(module, ObjectReader(client)))
    except CoreException as e:
        module.fail_from_exception(e)
    except K8sError as e:
        module.fail_json(msg=str(e))


if __name__ == "__main__":
    main()
