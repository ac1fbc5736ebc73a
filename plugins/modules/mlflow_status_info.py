#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Ansible modules import after DOCUMENTATION/EXAMPLES/RETURN.
# ruff: noqa: E402


DOCUMENTATION = r"""
module: mlflow_status_info

short_description: Read every part of an MLflow deployment in one call and judge each part

version_added: 0.2.0

author:
  - apocrathia (@apocrathia)

description:
  - Reads, in one module run, everything the status of an MLflow deployment made by this
    collection depends on, and judges each part. One row per part, in this order
    C(Secret), C(CNPG Cluster), C(PostgreSQL pods), C(PostgreSQL volumes), C(PVC) (the artifact
    volume, when O(artifacts_pvc_name) is set), C(Helm release), C(MLflow pods),
    C(MLflow /health via Service), C(Blueprint), C(authentik outpost pods), C(HTTPRoute).
  - "The rules: the credentials Secret exists with type O(secret_type) and the keys O(secret_keys);
    the CloudNativePG C(Cluster) is ready by the rules of M(apocrathia.mlflow.cnpg_cluster_wait);
    as many PostgreSQL instance pods are ready, and as many of the Cluster's volumes are C(Bound), as
    the Cluster has instances; the artifact volume is C(Bound); the latest revision of the Helm
    release is C(deployed); as many MLflow pods and outpost pods are ready as their Deployment
    wants (a pod is ready when its C(Ready) condition is C(True)); MLflow answers C(/health) with a
    2xx through the API server's service proxy; the blueprint ConfigMap exists; and the outpost's
    C(HTTPRoute) is C(Accepted) by a Gateway, when a route is expected and the Gateway API is served."
  - The Helm release is read from the Secrets of Helm's default storage driver (labels
    C(owner=helm) and C(name)), so the C(helm) binary is not needed; only its status, revision and
    chart are kept.
  - The credentials Secret is reduced to its type and key names as soon as it is read; no secret
    value is returned.
  - Reads only (C(get) and C(list)). Server errors (5xx, 429) and dropped connections are retried
    five times with backoff; a read that still fails, or is refused (C(403)), is reported in its
    part's row instead of failing the module.
  - Never changes anything; RV(ignore:changed) is always V(false).

options:
  namespace:
    description: Namespace of the Secret, the C(Cluster), the Helm release, the MLflow Deployment and Service, and the blueprint.
    type: str
    required: true
  secret_name:
    description: Name of the database credentials Secret.
    type: str
    required: true
  secret_type:
    description: Type the credentials Secret must have.
    type: str
    default: kubernetes.io/basic-auth
  secret_keys:
    description: Keys the credentials Secret must hold.
    type: list
    elements: str
    default: [username, password]
  cluster_name:
    description: Name of the CloudNativePG C(Cluster).
    type: str
    required: true
  release_name:
    description: Name of the MLflow Helm release.
    type: str
    required: true
  artifacts_pvc_name:
    description:
      - Name of the artifact volume (PersistentVolumeClaim).
      - Empty when artifacts go to object storage; the row is then left out.
    type: str
    default: ""
  service_name:
    description: Name of the MLflow Deployment and Service (the chart's fullname, filter P(apocrathia.mlflow.mlflow_fullname#filter)).
    type: str
    required: true
  service_port:
    description: Port of the MLflow Service, by number or by name. Empty means the Service's only port.
    type: str
    default: ""
  health_path:
    description: Path of MLflow's health check.
    type: str
    default: /health
  blueprint_name:
    description: Name of the ConfigMap that carries the authentik blueprint.
    type: str
    required: true
  outpost_namespace:
    description: Namespace where authentik deploys the outpost.
    type: str
    required: true
  outpost_object_name:
    description:
      - Name authentik gives the outpost's Deployment and HTTPRoute (filter
        P(apocrathia.mlflow.authentik_outpost_object_name#filter)).
    type: str
    required: true
  route_expected:
    description:
      - Whether authentik should have created an HTTPRoute for the outpost (it does when parent refs
        are set). When V(false), or when the cluster does not serve the Gateway API, the route's row
        says it is not expected and is healthy.
    type: bool
    default: true
  request_timeout:
    description: Seconds to wait for each answer.
    type: int
    default: 10

extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options

attributes:
  check_mode:
    support: full
    description: Only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.

requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"

notes:
  - "Permissions: get/list on pods, persistentvolumeclaims, secrets (the credentials Secret and
    Helm's release Secrets), configmaps and deployments in O(namespace) and O(outpost_namespace),
    get on clusters.postgresql.cnpg.io and httproutes.gateway.networking.k8s.io, and get on
    services/proxy in O(namespace)."

seealso:
  - module: apocrathia.mlflow.cnpg_cluster_wait
  - module: apocrathia.mlflow.service_proxy_info
"""

EXAMPLES = r"""
- name: Read and judge every part of MLflow
  apocrathia.mlflow.mlflow_status_info:
    namespace: mlflow
    secret_name: mlflow-secrets
    cluster_name: mlflow-postgres
    release_name: mlflow
    artifacts_pvc_name: mlflow-artifacts-pvc
    service_name: mlflow
    service_port: "80"
    blueprint_name: authentik-blueprint-mlflow
    outpost_namespace: authentik
    outpost_object_name: ak-outpost-mlflow-outpost
  register: mlflow_status

- name: Print the table
  ansible.builtin.debug:
    msg: "{{ mlflow_status.table }}"

- name: Fail when a part is unhealthy
  ansible.builtin.fail:
    msg: "Unhealthy: {{ mlflow_status.unhealthy | join('; ') }}"
  when: not mlflow_status.healthy
"""

RETURN = r"""
parts:
  description: One row per part, in the order of the table.
  returned: always
  type: list
  elements: dict
  contains:
    part:
      description: What the row is about, for example C(Secret mlflow/mlflow-secrets).
      type: str
    ok:
      description: Whether the part is healthy.
      type: bool
    detail:
      description: What was found, in words.
      type: str
  sample:
    - part: CNPG Cluster mlflow/mlflow-postgres
      ok: true
      detail: phase "Cluster in healthy state", 1/1 instances ready
healthy:
  description: Whether every part is healthy.
  returned: always
  type: bool
  sample: false
unhealthy:
  description: "C(<part>: <detail>) of each unhealthy part."
  returned: always
  type: list
  elements: str
  sample: ["HTTPRoute authentik/ak-outpost-mlflow-outpost: not Accepted by any Gateway (parents: none reported)"]
table:
  description: The rows as a table with a header, one line per part (C(ok) or C(FAIL)).
  returned: always
  type: str
  sample: "PART  OK  DETAIL\n..."
requests:
  description: How many requests were sent to the API server (the reads and the health check).
  returned: always
  type: int
  sample: 14
"""

from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    CoreException,
    K8sError,
    auth_argspec,
    connect,
    k8s_module,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.mlflow_status import (
    Reader,
    ask_health,
    judge,
    read_snapshot,
    table,
)

SETTINGS = (
    "namespace",
    "secret_name",
    "secret_type",
    "secret_keys",
    "cluster_name",
    "release_name",
    "artifacts_pvc_name",
    "service_name",
    "service_port",
    "health_path",
    "blueprint_name",
    "outpost_namespace",
    "outpost_object_name",
    "route_expected",
)


def argspec():
    return auth_argspec(
        namespace=dict(type="str", required=True),
        secret_name=dict(type="str", required=True, no_log=False),
        secret_type=dict(type="str", default="kubernetes.io/basic-auth", no_log=False),
        secret_keys=dict(type="list", elements="str", default=["username", "password"], no_log=False),
        cluster_name=dict(type="str", required=True),
        release_name=dict(type="str", required=True),
        artifacts_pvc_name=dict(type="str", default=""),
        service_name=dict(type="str", required=True),
        service_port=dict(type="str", default=""),
        health_path=dict(type="str", default="/health"),
        blueprint_name=dict(type="str", required=True),
        outpost_namespace=dict(type="str", required=True),
        outpost_object_name=dict(type="str", required=True),
        route_expected=dict(type="bool", default=True),
        request_timeout=dict(type="int", default=10),
    )


def run(client, params):
    """The module's result for ``params``, read through ``client``."""
    settings = {key: params[key] for key in SETTINGS}
    reader = Reader(client, params["request_timeout"])
    rows = judge(settings, read_snapshot(reader, settings, ask_health(client, params["request_timeout"])))
    unhealthy = ["{0}: {1}".format(row["part"], row["detail"]) for row in rows if not row["ok"]]
    return dict(
        changed=False,
        parts=rows,
        healthy=not unhealthy,
        unhealthy=unhealthy,
        table=table(rows),
        requests=reader.requests + 1,  # and the health check
    )


def main():
    module = k8s_module(argspec())
    if module.params["request_timeout"] < 1:
        module.fail_json(
            msg="request_timeout must be at least 1 second, got {0}.".format(module.params["request_timeout"])
        )
    try:
        module.exit_json(**run(connect(module), module.params))
    except CoreException as e:
        module.fail_from_exception(e)
    except K8sError as e:
        module.fail_json(msg=str(e))


if __name__ == "__main__":
    main()
