# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""GET through the Kubernetes API server's service proxy (service_proxy_info, model_version_info)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urllib import quote


def proxy_path(namespace, name, port, scheme, path):
    """The API server path that proxies `path` to the Service (scheme:name:port, as kubectl builds it)."""
    target = ":".join([scheme, name, port]) if port else "{0}:{1}:".format(scheme, name)
    return "/api/v1/namespaces/{0}/services/{1}/proxy/{2}".format(
        quote(namespace, safe=""), quote(target, safe=":"), quote(path.lstrip("/"), safe="/?=&")
    )


def api_message(body):
    """The message of a Kubernetes Status object, or ''."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return ""
    if isinstance(data, dict) and data.get("kind") == "Status":
        return str(data.get("message") or data.get("reason") or "")
    return ""


def get(dynamic_client, url, timeout, headers=None):
    """(status, body) of a GET; HTTP errors are answers too. Other errors raise."""
    extra = {"header_params": dict(headers)} if headers else {}
    try:
        response = dynamic_client.request("GET", url, serialize=False, _request_timeout=timeout, **extra)
    except Exception as e:  # noqa: BLE001 - the client's ApiException and DynamicApiError both carry status/body
        status = getattr(e, "status", None)
        if not isinstance(status, int) or status == 0:
            raise
        return status, getattr(e, "body", None)
    return response.status, response.data
