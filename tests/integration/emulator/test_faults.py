"""Fault injection, the request log, and the /_emulator control API."""

import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.integration.emulator.conftest import raw


def _cm(name):
    return {"metadata": {"name": name}, "data": {"a": "b"}}


def test_status_on_nth_matching_request(core, kube_emulator):
    kube_emulator.faults.add(verb="create", resource="configmaps", nth=2, status=500, times=1)
    core.create_namespaced_config_map("default", _cm("one"))
    core.create_namespaced_secret("default", {"metadata": {"name": "s"}})  # other resource: not counted
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", _cm("two"))
    assert err.value.status == 500 and err.value.reason == "Internal Server Error"
    core.create_namespaced_config_map("default", _cm("three"))  # times=1: back to normal
    assert kube_emulator.get("v1", "ConfigMap", "two", "default") is None


def test_forbid_is_a_real_403_status(core, kube_emulator):
    kube_emulator.faults.forbid("list", "secrets")
    core.list_namespaced_config_map("default")
    status, body, _ = raw(kube_emulator, "GET", "/api/v1/namespaces/default/secrets")
    assert status == 403 and body["reason"] == "Forbidden" and body["kind"] == "Status"
    assert 'cannot list resource "secrets"' in body["message"]
    status, _, _ = raw(kube_emulator, "GET", "/api/v1/namespaces/default/secrets")
    assert status == 403, "forbid applies to every request"


def test_latency(core, kube_emulator):
    kube_emulator.faults.latency(0.6, verb="get", resource="namespaces")
    started = time.monotonic()
    core.read_namespace("default")
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    core.list_namespace()  # another verb: not delayed
    assert time.monotonic() - started < 0.5


def test_watch_closed_after_n_events(core, kube_emulator):
    for name in ("a", "b", "c", "d"):
        core.create_namespaced_config_map("default", _cm(name))
    kube_emulator.faults.close_watch_after(2, resource="configmaps")
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=10))
    assert [e["object"].metadata.name for e in events] == ["a", "b"]
    assert time.monotonic() - started < 5, "the server closed the stream, not the timeout"


def test_refuse_connections_for_a_window(kube_emulator):
    kube_emulator.faults.refuse_connections(1.5)
    started = time.monotonic()
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(kube_emulator.url + "/version", timeout=2)  # noqa: S310
    assert isinstance(err.value.reason, ConnectionRefusedError)
    time.sleep(max(0.0, 1.8 - (time.monotonic() - started)))
    status, body, _ = raw(kube_emulator, "GET", "/version")
    assert status == 200 and body["major"] == "1"


def test_request_log_and_counters(api, kube_emulator):
    core = client.CoreV1Api(api)
    kube_emulator.reset_requests()
    core.create_namespaced_config_map("default", _cm("x"))
    core.read_namespaced_config_map("x", "default")
    core.patch_namespaced_config_map("x", "default", {"data": {"a": "c"}})
    core.list_namespaced_config_map("default")
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("missing", "default")
    core.delete_namespaced_config_map("x", "default")
    counts = kube_emulator.request_counts()
    assert counts == {"create": 1, "get": 2, "patch": 1, "list": 1, "delete": 1}
    assert kube_emulator.request_counts(writes_only=True) == {"create": 1, "patch": 1, "delete": 1}
    missing = [r for r in kube_emulator.requests if r.name == "missing"][0]
    assert (missing.verb, missing.status, missing.resource, missing.namespace) == ("get", 404, "configmaps", "default")
    assert missing.path == "/api/v1/namespaces/default/configmaps/missing" and missing.duration >= 0


def test_control_api_over_http(core, kube_emulator):
    assert raw(kube_emulator, "GET", "/_emulator/healthz")[1]["ok"] is True
    raw(kube_emulator, "POST", "/_emulator/reset-requests", {})
    core.list_namespace()
    log = raw(kube_emulator, "GET", "/_emulator/requests")[1]
    assert log["counts"] == {"list": 1} and log["requests"][0]["path"] == "/api/v1/namespaces"
    status, _, _ = raw(
        kube_emulator, "POST", "/_emulator/faults", {"verb": "get", "resource": "namespaces", "status": 503}
    )
    assert status == 200
    with pytest.raises(ApiException) as err:
        core.read_namespace("default")
    assert err.value.status == 503
    raw(kube_emulator, "POST", "/_emulator/faults", {"type": "forbid", "verb": "delete", "resource": "namespaces"})
    with pytest.raises(ApiException) as err:
        core.delete_namespace("kube-public")
    assert err.value.status == 403
    raw(kube_emulator, "POST", "/_emulator/controllers", {"name": "cnpg", "enabled": False})
    assert kube_emulator.controllers.cnpg.enabled is False
    raw(
        kube_emulator,
        "POST",
        "/_emulator/controllers",
        {"name": "cnpg", "enabled": True, "fail_with": {"phase": "Failing over", "reason": "x"}},
    )
    assert kube_emulator.controllers.cnpg.enabled and kube_emulator.controllers.cnpg._failure[:2] == (
        "Failing over",
        "x",
    )
    assert raw(kube_emulator, "POST", "/_emulator/controllers", {"name": "nope"})[0] == 400
