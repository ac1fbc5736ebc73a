"""module_utils/k8s_client.py: the retry policy, error translation and the connection, with real client errors."""

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils import k8s_client
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    ApiError,
    K8sError,
    Unavailable,
    backoff,
    call,
    connect,
    request,
    retryable,
    translate_error,
)
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import api_exception
from urllib3.exceptions import MaxRetryError, ProtocolError


def dynamic_error(status, body=b'{"kind": "Status", "message": "the message"}'):
    """The exception kubernetes' dynamic client raises for an HTTP error status."""
    return api_exception(ApiException(status=status, reason="Reason", body=body))


class Clock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Script:
    """A callable that raises or returns the scripted items in turn."""

    def __init__(self, *items):
        self.items = list(items)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


@pytest.mark.parametrize(
    ("status", "verb", "retried"),
    [
        (None, "read", True),
        (429, "read", True),
        (500, "patch", True),
        (503, "list", True),
        (504, "create", True),
        (409, "create", True),
        (409, "patch", False),
        (400, "create", False),
        (401, "read", False),
        (403, "read", False),
        (403, "create", False),
        (404, "read", False),
        (422, "create", False),
        (422, "patch", False),
    ],
)
def test_retry_policy(status, verb, retried):
    assert retryable(ApiError(status, "r", "m", verb)) is retried
    assert ApiError(status, "r", "m", verb).retryable is retried


def test_other_exceptions_are_not_retryable():
    assert retryable(ValueError("x")) is False


def test_backoff_doubles_up_to_the_cap():
    assert [backoff(n) for n in range(1, 8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert [backoff(n, base=1.0, cap=30.0) for n in (1, 5, 6)] == [1.0, 16.0, 30.0]


def test_translate_dynamic_api_errors_keeps_status_reason_and_message():
    error = translate_error(dynamic_error(422), "create")
    assert isinstance(error, ApiError)
    assert (error.status, error.reason, error.message, error.verb) == (422, "Reason", "the message", "create")
    assert "422" in str(error) and "the message" in str(error)


@pytest.mark.parametrize(
    "raised",
    [
        ConnectionRefusedError("connection refused"),
        ProtocolError("Connection aborted.", ConnectionResetError()),
        MaxRetryError(None, "/api", "boom"),
    ],
)
def test_connection_errors_become_status_none(raised):
    error = translate_error(raised, "read")
    assert error.status is None and error.retryable
    assert str(error).startswith("connection error")


def test_other_exceptions_pass_through():
    raised = KeyError("x")
    assert translate_error(raised, "read") is raised


def test_a_body_that_is_not_json_is_the_message():
    assert (
        translate_error(dynamic_error(502, b"<html>bad gateway</html>"), "read").message == "<html>bad gateway</html>"
    )


def test_call_retries_5xx_and_dropped_connections_with_backoff():
    clock = Clock()
    func = Script(dynamic_error(503), ProtocolError("reset"), dynamic_error(429), "answer")
    assert call(func, "read", sleep=clock.sleep, clock=clock) == "answer"
    assert func.calls == 4
    assert clock.sleeps == [0.1, 0.2, 0.4]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_call_does_not_retry_client_errors(status):
    clock = Clock()
    func = Script(dynamic_error(status), "never")
    with pytest.raises(ApiError) as raised:
        call(func, "patch", sleep=clock.sleep, clock=clock)
    assert raised.value.status == status and raised.value.verb == "patch"
    assert func.calls == 1 and clock.sleeps == []


def test_a_create_lost_to_a_409_is_called_again():
    clock = Clock()
    func = Script(dynamic_error(409), "updated instead")
    assert call(func, "create", sleep=clock.sleep, clock=clock) == "updated instead"
    assert func.calls == 2


def test_a_409_on_an_update_is_not_retried():
    func = Script(dynamic_error(409), "never")
    with pytest.raises(ApiError):
        call(func, "patch", sleep=lambda s: None)
    assert func.calls == 1


def test_call_gives_up_after_max_retries():
    clock = Clock()
    func = Script(*[dynamic_error(500, b'{"message": "etcd down"}')] * 10)
    with pytest.raises(Unavailable) as raised:
        call(func, "list", "Secret ns/x", sleep=clock.sleep, clock=clock)
    assert func.calls == k8s_client.DEFAULT_MAX_RETRIES + 1
    assert "failed 6 times in a row (list Secret ns/x)" in str(raised.value) and "etcd down" in str(raised.value)
    assert isinstance(raised.value.__cause__, ApiError) and raised.value.__cause__.status == 500
    assert isinstance(raised.value, K8sError)


def test_call_stops_at_the_deadline():
    clock = Clock()
    func = Script(*[dynamic_error(503)] * 10)
    with pytest.raises(Unavailable):
        call(func, "read", sleep=clock.sleep, clock=clock, deadline=clock.now + 0.25)
    # 0.1 then what is left of the deadline (0.15), then the deadline has passed.
    assert clock.sleeps == pytest.approx([0.1, 0.15])
    assert func.calls == 3


def test_call_does_not_hide_programming_errors():
    with pytest.raises(KeyError):
        call(Script(KeyError("x")), "read", sleep=lambda s: None)


class Dynamic:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def request(self, method, path, **params):
        self.calls.append((method, path, params))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def test_request_is_raw_and_translates_errors():
    dynamic = Dynamic("response")
    # kubernetes.core's K8SClient carries the dynamic client as .client
    assert request(type("K8SClient", (), {"client": dynamic})(), "GET", "/api", _request_timeout=3) == "response"
    assert dynamic.calls == [("GET", "/api", {"serialize": False, "_request_timeout": 3})]
    with pytest.raises(ApiError) as raised:
        request(Dynamic(dynamic_error(403)), "GET", "/api", verb="get")
    assert (raised.value.status, raised.value.verb) == (403, "get")


def test_connect_retries_discovery_then_names_the_reason(monkeypatch):
    attempts = []

    def factory(module):
        attempts.append(module)
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(k8s_client, "get_api_client", factory)
    with pytest.raises(K8sError) as raised:
        connect("module", sleep=lambda s: None)
    assert len(attempts) == k8s_client.DEFAULT_MAX_RETRIES + 1
    assert str(raised.value).startswith("Could not connect to the Kubernetes API after 6 attempts")
    assert "connection refused" in str(raised.value)


def test_connect_returns_the_client_once_the_api_answers(monkeypatch):
    answers = Script(dynamic_error(503), "client")
    monkeypatch.setattr(k8s_client, "get_api_client", lambda module: answers())
    assert connect("module", sleep=lambda s: None) == "client"


def test_connect_does_not_retry_bad_credentials(monkeypatch):
    answers = Script(dynamic_error(401, b'{"message": "Unauthorized"}'))
    monkeypatch.setattr(k8s_client, "get_api_client", lambda module: answers())
    with pytest.raises(K8sError) as raised:
        connect("module", sleep=lambda s: None)
    assert answers.calls == 1 and "401" in str(raised.value)


def test_auth_argspec_adds_options_to_kubernetes_core_connection_options():
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

    spec = k8s_client.auth_argspec(name=dict(type="str"))
    assert set(spec) == set(AUTH_ARG_SPEC) | {"name"}
    assert "name" not in AUTH_ARG_SPEC
