#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Ansible modules import after DOCUMENTATION/EXAMPLES/RETURN.
# ruff: noqa: E402


DOCUMENTATION = r"""
module: model_version_info

short_description: Resolve MLflow registered model URIs to the version each stands for now

version_added: 0.2.0

author:
  - apocrathia (@apocrathia)

description:
  - For each URI in O(uris) (C(models:/Name/3), C(models:/Name@alias), C(models:/Name/Production)
    or C(models:/Name/latest)), asks the MLflow model registry which version it means, through the
    REST API C(registered-models/get), C(registered-models/alias), C(model-versions/get) and
    C(registered-models/get-latest-versions).
  - By default the requests go through the Kubernetes API server's service proxy to the MLflow
    Service (as M(apocrathia.mlflow.service_proxy_info) does), so no network access to the cluster
    and no MLflow credentials are needed, only C(get) on C(services/proxy). With O(registry_url)
    they go to that URL instead, with O(registry_username) and O(registry_password) or
    O(registry_token) (for example through the authentik outpost).
  - "Through the service proxy, the requests carry C(Host) set to O(host_header). The API server
    passes the client's C(Host) header on to the Service (it does not set C(UseLocationHost) for
    services, kubernetes C(pkg/registry/core/service/proxy.go)), and MLflow answers only the host
    names it allows (C(--allowed-hosts)); the API server itself routes by path."
  - Fails, before the caller changes anything, when a URI is malformed, or a model, version,
    alias or stage does not exist, or a version is not C(READY). The message names every such URI
    and lists what the registry holds (models, aliases, versions or stages).
  - Never changes anything.

options:
  uris:
    description:
      - Registered model URIs to resolve.
    type: list
    elements: str
    required: true
  registry_url:
    description:
      - Base URL of the MLflow server (the tracking URI). Empty means the service proxy (O(service_name)).
    type: str
    default: ""
  registry_username:
    description:
      - User name for HTTP Basic authentication at O(registry_url).
    type: str
    default: ""
  registry_password:
    description:
      - Password for HTTP Basic authentication at O(registry_url).
    type: str
    default: ""
  registry_token:
    description:
      - Bearer token for O(registry_url) (instead of user name and password).
    type: str
    default: ""
  registry_validate_certs:
    description:
      - Verify the TLS certificate of O(registry_url).
    type: bool
    default: true
  service_name:
    description:
      - Name of the MLflow C(Service), for the service proxy.
    type: str
    default: mlflow
  service_namespace:
    description:
      - Namespace of the MLflow C(Service).
    type: str
    default: mlflow
  service_port:
    description:
      - Port of the MLflow C(Service).
    type: str
    default: "80"
  host_header:
    description:
      - C(Host) header sent through the service proxy. Empty means
        C(<service_name>.<service_namespace>.svc.<cluster_domain>:<service_port>).
    type: str
    default: ""
  cluster_domain:
    description:
      - The cluster's DNS domain, for the default O(host_header).
    type: str
    default: cluster.local
  request_timeout:
    description:
      - Seconds to wait for each answer.
    type: int
    default: 15

extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options

attributes:
  check_mode:
    support: full
    description: Read-only, so it runs in check mode too.
  diff_mode:
    support: none
    description: Nothing is changed.

requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"

seealso:
  - module: apocrathia.mlflow.service_proxy_info
  - name: MLflow model registry REST API
    description: The endpoints this module reads.
    link: https://mlflow.org/docs/latest/api_reference/rest-api.html
"""

EXAMPLES = r"""
- name: Resolve the served models through the API server
  apocrathia.mlflow.model_version_info:
    uris:
      - models:/MyModel@champion
      - models:/MyModel/Production
    service_name: mlflow
    service_namespace: mlflow
    service_port: "80"
  register: served

- name: Resolve through the outpost with an app password
  apocrathia.mlflow.model_version_info:
    uris: [models:/MyModel/3]
    registry_url: https://mlflow.example.com
    registry_username: alice
    registry_password: "{{ app_password }}"
  no_log: true
"""

RETURN = r"""
versions:
  description: One entry per URI of O(uris), in order.
  returned: success
  type: list
  elements: dict
  contains:
    uri:
      description: The URI as given.
      type: str
      sample: models:/MyModel@champion
    name:
      description: The registered model's name.
      type: str
      sample: MyModel
    kind:
      description: What the URI names, C(version), C(alias), C(stage) or C(latest).
      type: str
      sample: alias
    ref:
      description: The version number, alias or stage the URI holds (stages in MLflow's spelling).
      type: str
      sample: champion
    version:
      description: The version the URI stands for now.
      type: str
      sample: "2"
    pinned_uri:
      description: C(models:/<name>/<version>), the URI of exactly that version.
      type: str
      sample: models:/MyModel/2
    source:
      description: Where the version's artifacts are, as the registry records it.
      type: str
      sample: models:/m-0b2a3c
    run_id:
      description: The run that logged the version, when known.
      type: str
    current_stage:
      description: The version's stage.
      type: str
      sample: None
    aliases:
      description: The model's aliases that point at this version.
      type: list
      elements: str
      sample: [champion]
problems:
  description: What could not be resolved (also in the failure message).
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.urls import open_url
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    CoreException,
    K8sError,
    auth_argspec,
    connect,
    k8s_module,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.mlflow_registry import (
    Registry,
    RegistryError,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.service_proxy import (
    get as proxy_get,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.service_proxy import (
    proxy_path,
)

try:
    from urllib.error import HTTPError
    from urllib.parse import urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urllib import urlencode

    from urllib2 import HTTPError


def argspec():
    return auth_argspec(
        uris=dict(type="list", elements="str", required=True),
        registry_url=dict(type="str", default=""),
        registry_username=dict(type="str", default=""),
        registry_password=dict(type="str", default="", no_log=True),
        registry_token=dict(type="str", default="", no_log=True),
        registry_validate_certs=dict(type="bool", default=True),
        service_name=dict(type="str", default="mlflow"),
        service_namespace=dict(type="str", default="mlflow"),
        service_port=dict(type="str", default="80"),
        host_header=dict(type="str", default=""),
        cluster_domain=dict(type="str", default="cluster.local"),
        request_timeout=dict(type="int", default=15),
    )


def query_path(path, params):
    return "{0}?{1}".format(path, urlencode(sorted(params.items()))) if params else path


def url_transport(params):
    """get(path, params) against registry_url; HTTP errors are answers."""
    base = params["registry_url"].rstrip("/")
    headers = {"Accept": "application/json"}
    if params["registry_token"]:
        headers["Authorization"] = "Bearer {0}".format(params["registry_token"])

    def get(path, query):
        url = base + query_path(path, query)
        try:
            response = open_url(
                url,
                method="GET",
                headers=headers,
                url_username=params["registry_username"] or None,
                url_password=params["registry_password"] or None,
                force_basic_auth=bool(params["registry_username"]),
                validate_certs=params["registry_validate_certs"],
                timeout=params["request_timeout"],
                follow_redirects="none",
            )
            return response.getcode(), response.read().decode("utf-8", "replace")
        except HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    return get


def service_proxy_transport(module, params):
    """get(path, params) through the API server's service proxy, with the Host MLflow allows."""
    client = connect(module)
    host = params["host_header"] or "{0}.{1}.svc.{2}:{3}".format(
        params["service_name"], params["service_namespace"], params["cluster_domain"], params["service_port"]
    )

    def get(path, query):
        url = proxy_path(params["service_namespace"], params["service_name"], params["service_port"], "http", "")
        url = url.rstrip("/") + query_path(path, query)
        status, body = proxy_get(client, url, params["request_timeout"], headers={"Host": host})
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        return status, body

    return get


def main():
    module = k8s_module(argspec())
    params = module.params
    where = params["registry_url"] or "the Service {0}/{1} (through the API server)".format(
        params["service_namespace"], params["service_name"]
    )
    try:
        transport = url_transport(params) if params["registry_url"] else service_proxy_transport(module, params)
        results, problems = Registry(transport).resolve_all(params["uris"])
    except CoreException as e:
        module.fail_from_exception(e)
    except K8sError as e:
        module.fail_json(msg="Could not reach the MLflow model registry at {0}: {1}".format(where, e))
    except RegistryError as e:
        module.fail_json(msg="Could not read the MLflow model registry at {0}: {1}".format(where, e))
    except Exception as e:  # noqa: BLE001 - connection errors: report where and why
        module.fail_json(msg="Could not reach the MLflow model registry at {0}: {1}".format(where, e))
    if problems:
        module.fail_json(
            msg="The model registry at {0} cannot serve: {1}".format(where, "; ".join(problems)),
            problems=problems,
        )
    module.exit_json(changed=False, versions=results)


if __name__ == "__main__":
    main()
