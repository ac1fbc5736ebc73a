"""model_version_info in-process: the service-proxy request (path, Host) and the failure message.

kubernetes.core's get_api_client is replaced by a stub whose dynamic client answers from the
scripted registry of test_mlflow_registry; the real MLflow answers in tests/integration.
"""

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils import k8s_client
from ansible_collections.apocrathia.mlflow.plugins.modules import model_version_info
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import api_exception

from tests.unit.plugins.module_utils.test_mlflow_registry import MODELS, ScriptedRegistry
from tests.unit.utils.ansible_module_mock import (
    AnsibleExitJson,
    AnsibleFailJson,
    patched_exit_fail,
    set_module_args,
)

PROXY = "/api/v1/namespaces/mlflow/services/http:mlflow:80/proxy"


class Response:
    def __init__(self, status, data):
        self.status, self.data = status, data


class Dynamic:
    def __init__(self, registry):
        self.registry, self.calls = registry, []

    def request(self, method, path, **kwargs):
        self.calls.append((method, path, kwargs))
        parts = urlsplit(path)
        assert parts.path.startswith(PROXY)
        status, body = self.registry.get(parts.path[len(PROXY) :], dict(parse_qsl(parts.query)))
        if status != 200:
            raise api_exception(ApiException(status=status, reason="Reason", body=body.encode()))
        return Response(status, body.encode())


def run(monkeypatch, **args):
    dynamic = Dynamic(ScriptedRegistry(MODELS))
    monkeypatch.setattr(k8s_client, "get_api_client", lambda module: type("C", (), {"client": dynamic})())
    with set_module_args(args), patched_exit_fail():
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as raised:
            model_version_info.main()
    return raised.value.args[0], dynamic.calls


def test_resolves_through_the_service_proxy_with_the_host_mlflow_allows(monkeypatch):
    result, calls = run(monkeypatch, uris=["models:/MyModel@champion", "models:/MyModel/2"])
    assert result["changed"] is False
    assert [v["pinned_uri"] for v in result["versions"]] == ["models:/MyModel/3", "models:/MyModel/2"]
    assert all(c[0] == "GET" for c in calls)
    assert {c[2]["header_params"]["Host"] for c in calls} == {"mlflow.mlflow.svc.cluster.local:80"}
    assert calls[0][1] == f"{PROXY}/api/2.0/mlflow/registered-models/get?name=MyModel"


def test_host_header_follows_the_service_and_domain(monkeypatch):
    # Another namespace and domain: the proxy path and the Host both change.
    dynamic_paths = []

    class Recorder(Dynamic):
        def request(self, method, path, **kwargs):
            dynamic_paths.append((path, kwargs["header_params"]["Host"]))
            return Response(
                200, json.dumps({"registered_model": {"name": "X"}, "model_version": {"version": "1"}}).encode()
            )

    recorder = Recorder(None)
    monkeypatch.setattr(k8s_client, "get_api_client", lambda module: type("C", (), {"client": recorder})())
    with set_module_args({"uris": ["models:/X/1"], "service_namespace": "ml", "service_name": "tracking",
                          "service_port": "5000", "cluster_domain": "k8s.internal"}), patched_exit_fail():  # fmt: skip
        with pytest.raises(AnsibleExitJson):
            model_version_info.main()
    assert dynamic_paths[0] == (
        "/api/v1/namespaces/ml/services/http:tracking:5000/proxy/api/2.0/mlflow/registered-models/get?name=X",
        "tracking.ml.svc.k8s.internal:5000",
    )


def test_fails_naming_every_uri_and_what_the_registry_holds(monkeypatch):
    result, _ = run(monkeypatch, uris=["models:/MyModel/2", "models:/Gone@x", "models:/MyModel@gold"])
    assert result["failed"] is True
    assert result["msg"].startswith(
        "The model registry at the Service mlflow/mlflow (through the API server) cannot serve:"
    )
    assert (
        "registered model 'Gone' (models:/Gone@x) does not exist; the registry holds: MyModel, Other" in result["msg"]
    )
    assert "has no alias 'gold'" in result["msg"] and len(result["problems"]) == 2


def test_a_refusal_by_mlflow_is_a_registry_error(monkeypatch):
    class Refusing(Dynamic):
        def request(self, method, path, **kwargs):
            raise api_exception(
                ApiException(
                    status=403, reason="Forbidden", body=b"Invalid Host header - possible DNS rebinding attack detected"
                )
            )

    refusing = Refusing(None)
    monkeypatch.setattr(k8s_client, "get_api_client", lambda module: type("C", (), {"client": refusing})())
    with set_module_args({"uris": ["models:/X/1"]}), patched_exit_fail():
        with pytest.raises(AnsibleFailJson) as raised:
            model_version_info.main()
    assert "Could not read the MLflow model registry" in raised.value.args[0]["msg"]
    assert "403: Invalid Host header" in raised.value.args[0]["msg"]
