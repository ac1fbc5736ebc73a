#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Ansible modules import after DOCUMENTATION/EXAMPLES/RETURN.
# ruff: noqa: E402


DOCUMENTATION = r"""
module: service_proxy_info

short_description: GET a path of a Service through the Kubernetes API server's service proxy

version_added: 0.1.0

author:
  - apocrathia (@apocrathia)

description:
  - Sends one C(GET) to C(/api/v1/namespaces/<namespace>/services/<scheme>:<name>:<port>/proxy/<path>),
    so the API server forwards it to one of the Service's ready endpoints. The request reaches the
    application inside the cluster from wherever the play runs, with the same credentials as the
    other C(kubernetes.core) modules, without a port-forward or network access to the Service.
  - The answer is returned, not judged. An HTTP error from the application or from the API server
    (for example C(503) when the Service has no ready endpoints, or C(404) when it does not exist)
    is returned in RV(status) and RV(body) and the module does not fail; the caller decides.
  - A dropped or refused connection and a C(429) (the API server throttling) are retried five
    times with backoff, as in the collection's other Kubernetes modules. The module fails only
    when the API server cannot be reached or the client cannot be built.
  - Never changes anything; RV(ignore:changed) is always V(false).
  - The credentials need the C(get) verb on C(services/proxy) in O(namespace).

options:
  name:
    description:
      - Name of the C(Service).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the C(Service).
    type: str
    required: true
  port:
    description:
      - Port of the C(Service), by number or by name. Empty means the Service's only port.
    type: str
    default: ""
  scheme:
    description:
      - Scheme the API server uses towards the endpoint.
    type: str
    choices: [http, https]
    default: http
  path:
    description:
      - Path to request, relative to the Service's root.
    type: str
    default: /health
  request_timeout:
    description:
      - Seconds to wait for the answer.
    type: int
    default: 10
  max_body:
    description:
      - At most this many characters of the body are returned.
    type: int
    default: 1024

extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options

attributes:
  check_mode:
    support: full
    description: The request is read-only, so it is also sent in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to compare.

requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"

seealso:
  - module: kubernetes.core.k8s_info
  - name: Manually constructing API server proxy URLs
    description: The service proxy path format.
    link: https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls
"""

EXAMPLES = r"""
- name: Ask MLflow whether it is healthy, through its Service
  apocrathia.mlflow.service_proxy_info:
    name: mlflow
    namespace: mlflow
    port: "80"
    path: /health
  register: mlflow_health

- name: Fail unless MLflow answered OK
  ansible.builtin.assert:
    that:
      - mlflow_health.status == 200
    fail_msg: "MLflow /health answered {{ mlflow_health.status }}: {{ mlflow_health.body }}"
"""

RETURN = r"""
status:
  description: HTTP status of the answer (from the application, or from the API server when it could not proxy).
  returned: always
  type: int
  sample: 200
ok:
  description: Whether RV(status) is a 2xx status.
  returned: always
  type: bool
  sample: true
body:
  description: The answer's body, decoded as UTF-8, at most O(max_body) characters.
  returned: always
  type: str
  sample: OK
message:
  description:
    - The API server's own message when it answered instead of the application (a C(Status)
      object, for example C(no endpoints available for service "mlflow")); empty otherwise.
  returned: always
  type: str
  sample: no endpoints available for service "mlflow"
url:
  description: The API server path the request was sent to.
  returned: always
  type: str
  sample: /api/v1/namespaces/mlflow/services/http:mlflow:80/proxy/health
"""

from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    CoreException,
    K8sError,
    auth_argspec,
    connect,
    k8s_module,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.service_proxy import (
    probe,
    proxy_path,
)


def argspec():
    return auth_argspec(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        port=dict(type="str", default=""),
        scheme=dict(type="str", choices=["http", "https"], default="http"),
        path=dict(type="str", default="/health"),
        request_timeout=dict(type="int", default=10),
        max_body=dict(type="int", default=1024),
    )


def main():
    module = k8s_module(argspec())
    params = module.params
    if params["request_timeout"] < 1:
        module.fail_json(msg="request_timeout must be at least 1 second, got {0}.".format(params["request_timeout"]))
    url = proxy_path(params["namespace"], params["name"], params["port"], params["scheme"], params["path"])
    try:
        answer = probe(
            connect(module),
            params["namespace"],
            params["name"],
            params["port"],
            params["scheme"],
            params["path"],
            params["request_timeout"],
            params["max_body"],
        )
    except CoreException as e:
        module.fail_from_exception(e)
    except K8sError as e:
        module.fail_json(msg="Failed to GET {0} through the API server: {1}".format(url, e), url=url)
    module.exit_json(changed=False, **answer)


if __name__ == "__main__":
    main()
