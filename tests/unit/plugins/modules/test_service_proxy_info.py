"""The service_proxy_info module in-process: the proxy path, answers and failures.

kubernetes.core's get_api_client is replaced by a stub whose dynamic client answers as scripted;
the real client against the emulator's service proxy stand-in runs in tests/integration.
"""

import json

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils import k8s_client
from ansible_collections.apocrathia.mlflow.plugins.modules import service_proxy_info
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import api_exception

from tests.unit.utils.ansible_module_mock import (
    AnsibleExitJson,
    AnsibleFailJson,
    patched_exit_fail,
    set_module_args,
)


class Response:
    def __init__(self, status, data):
        self.status, self.data = status, data


def HttpError(status, body):  # noqa: N802 - reads like the exception it builds
    """What kubernetes' dynamic client raises for an HTTP error status."""
    return api_exception(ApiException(status=status, reason="Reason", body=body))


class Dynamic:
    """Answers each request with the next scripted answer; the last one repeats."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def request(self, method, path, **kwargs):
        self.calls.append((method, path, kwargs))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def run(monkeypatch, answer, *more, **args):
    dynamic = Dynamic(answer, *more)
    monkeypatch.setattr(k8s_client, "get_api_client", lambda module: type("C", (), {"client": dynamic})())
    monkeypatch.setattr(k8s_client.time, "sleep", lambda seconds: None)
    with set_module_args({"name": "mlflow", "namespace": "mlflow", **args}), patched_exit_fail():
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as raised:
            service_proxy_info.main()
    return raised.value.args[0], dynamic.calls


@pytest.mark.parametrize(
    ("port", "scheme", "path", "url"),
    [
        ("80", "http", "/health", "/api/v1/namespaces/mlflow/services/http:mlflow:80/proxy/health"),
        ("mlflow", "https", "health", "/api/v1/namespaces/mlflow/services/https:mlflow:mlflow/proxy/health"),
        ("", "http", "/api/2.0/x?a=1", "/api/v1/namespaces/mlflow/services/http:mlflow:/proxy/api/2.0/x?a=1"),
    ],
)
def test_proxy_path(port, scheme, path, url):
    assert service_proxy_info.proxy_path("mlflow", "mlflow", port, scheme, path) == url


def test_a_healthy_answer(monkeypatch):
    result, calls = run(monkeypatch, Response(200, b"OK"), port="80")
    assert result == {
        "changed": False,
        "status": 200,
        "ok": True,
        "body": "OK",
        "message": "",
        "url": "/api/v1/namespaces/mlflow/services/http:mlflow:80/proxy/health",
    }
    assert calls[0][:2] == ("GET", result["url"]) and calls[0][2]["serialize"] is False


def test_an_api_server_refusal_is_an_answer_not_a_failure(monkeypatch):
    status = {
        "kind": "Status",
        "status": "Failure",
        "message": 'no endpoints available for service "mlflow"',
        "code": 503,
    }
    result, _ = run(monkeypatch, HttpError(503, json.dumps(status)), port="80")
    assert "failed" not in result
    assert (result["status"], result["ok"], result["message"]) == (503, False, status["message"])


def test_the_body_is_cut_at_max_body(monkeypatch):
    result, _ = run(monkeypatch, Response(500, b"x" * 50), max_body=10)
    assert (result["body"], result["ok"]) == ("x" * 10, False)


def test_connection_errors_fail_with_the_url(monkeypatch):
    result, _ = run(monkeypatch, ConnectionError("connection refused"), port="80")
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to GET /api/v1/namespaces/mlflow/services/http:mlflow:80/proxy/health")
    assert "connection refused" in result["msg"]


def test_request_timeout_must_be_positive(monkeypatch):
    result, _ = run(monkeypatch, Response(200, b"OK"), request_timeout=0)
    assert result["failed"] is True and "request_timeout" in result["msg"]


def test_dropped_connections_and_throttling_are_retried(monkeypatch):
    result, calls = run(
        monkeypatch, ConnectionResetError("reset"), HttpError(429, "{}"), Response(200, b"OK"), port="80"
    )
    assert (result["status"], result["body"]) == (200, "OK")
    assert len(calls) == 3


def test_connection_errors_are_retried_then_reported(monkeypatch):
    result, calls = run(monkeypatch, ConnectionError("connection refused"), port="80")
    assert result["failed"] is True
    assert len(calls) == k8s_client.DEFAULT_MAX_RETRIES + 1
