"""The mlflow_status_info module in-process: one client, every part in the result, table and failures.

kubernetes.core's get_api_client is replaced by a stub whose dynamic client answers from a dict
of paths; the real client against the emulator runs in tests/integration/test_status_playbook.py.
"""

from ansible_collections.apocrathia.mlflow.plugins.module_utils import k8s_client
from ansible_collections.apocrathia.mlflow.plugins.modules import mlflow_status_info

from tests.support.reference import STATUS_PARTS
from tests.unit.plugins.module_utils.test_mlflow_status import SETTINGS, Dynamic
from tests.unit.utils.ansible_module_mock import run_main


def run(monkeypatch, answers, **args):
    dynamic = Dynamic(answers)
    connects = []

    def factory(module):
        connects.append(module)
        return type("K8SClient", (), {"client": dynamic})()

    monkeypatch.setattr(k8s_client, "get_api_client", factory)
    params = {k: v for k, v in SETTINGS.items() if k not in ("secret_type", "secret_keys", "health_path")}
    kind, result = run_main(mlflow_status_info.main, dict(params, **args))
    return kind, result, dynamic, connects


def test_an_empty_cluster_reports_every_part_unhealthy_with_one_client(monkeypatch):
    """An API server that serves nothing: no CloudNativePG, no Gateway API, no objects."""
    kind, result, dynamic, connects = run(monkeypatch, {})
    assert kind == "exit" and result["changed"] is False
    assert [row["part"] for row in result["parts"]] == STATUS_PARTS
    # Without the Gateway API no HTTPRoute is expected; every other part is unhealthy.
    assert [row["part"] for row in result["parts"] if row["ok"]] == [STATUS_PARTS[-1]]
    assert result["healthy"] is False and len(result["unhealthy"]) == len(STATUS_PARTS) - 1
    assert result["unhealthy"][0] == "Secret mlflow/mlflow-secrets: missing"
    assert result["table"].splitlines()[0].split() == ["PART", "OK", "DETAIL"]
    assert len(connects) == 1
    # every request is a GET, the health check included, and counted
    assert {method for method, _, _ in dynamic.calls} == {"GET"}
    assert result["requests"] == len(dynamic.calls)


def test_request_timeout_must_be_positive(monkeypatch):
    kind, result, _, connects = run(monkeypatch, {}, request_timeout=0)
    assert kind == "fail" and "request_timeout" in result["msg"] and connects == []
