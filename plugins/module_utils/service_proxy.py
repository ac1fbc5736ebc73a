# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""GET a path of a Service through the API server's service proxy (service_proxy_info, mlflow_status_info,
model_version_info)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    ApiError,
    call,
    request,
)

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


def text(data, limit=None):
    """``data`` (bytes or str, or None) as text, at most ``limit`` characters."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data if limit is None else data[:limit]


def get(client, url, timeout, headers=None):
    """(status, body) of one GET through the service proxy; ``headers`` go with it (e.g. ``Host``).

    An HTTP status is an answer (the caller judges it), except 429: the API server throttled the
    request, which is retried like a dropped connection, by the collection's retry policy.
    Raises ``k8s_client.K8sError`` when the API server cannot be reached.
    """

    def attempt():
        try:
            extra = {"header_params": dict(headers)} if headers else {}
            response = request(client, "GET", url, "get", _request_timeout=timeout, **extra)
        except ApiError as e:
            if e.status is None or e.status == 429:
                raise
            return e.status, e.body
        return response.status, response.data

    return call(attempt, "get", url)


def probe(client, namespace, name, port="", scheme="http", path="/health", timeout=10, max_body=1024):
    """GET ``path`` of Service ``namespace/name``: ``{status, ok, body, message, url}``.

    ``message`` is the API server's own message when it answered instead of the application.
    """
    url = proxy_path(namespace, name, port, scheme, path)
    status, body = get(client, url, timeout)
    body = text(body)
    return dict(status=status, ok=200 <= status < 300, body=body[:max_body], message=api_message(body), url=url)
