"""The cnpg_cluster_wait module in-process: arguments, check mode, results and failures.

kubernetes.core's get_api_client is replaced by a stub and the transport by a scripted fake, so
these tests cover the module's own wiring; the real client is exercised in tests/integration.
"""

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils import k8s_client
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import PHASE_HEALTHY
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import ApiError
from ansible_collections.apocrathia.mlflow.plugins.modules import cnpg_cluster_wait
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

from tests.unit.utils.ansible_module_mock import (
    AnsibleFailJson,
    patched_exit_fail,
    run_main,
    set_module_args,
)


def cluster(phase, ready_instances, ready="False", reason=None):
    status = {
        "phase": phase,
        "readyInstances": ready_instances,
        "currentPrimary": "db-1",
        "writeService": "db-rw",
        "readService": "db-r",
        "conditions": [{"type": "Ready", "status": ready}],
    }
    if reason:
        status["phaseReason"] = reason
    return {
        "metadata": {"name": "db", "namespace": "ns", "generation": 1, "resourceVersion": "1"},
        "spec": {"instances": 2},
        "status": status,
    }


class ScriptedApi:
    def __init__(self, lists, watches=(), operator_installed=True):
        self.lists = list(lists)
        self.watches = list(watches)
        self.installed = operator_installed
        self.calls = []

    def list(self, namespace, name):
        self.calls.append("list")
        item = self.lists.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def watch(self, namespace, name, resource_version, timeout):
        self.calls.append("watch")
        return iter(self.watches.pop(0))

    def operator_installed(self):
        return self.installed


@pytest.fixture
def run_module(monkeypatch):
    """Run the module with ``args`` against ``api``; return (kind, result) with kind 'exit' or 'fail'."""

    def run(args, api, check_mode=False):
        monkeypatch.setattr(k8s_client, "get_api_client", lambda module: type("C", (), {"client": None})())
        monkeypatch.setattr(cnpg_cluster_wait, "ClusterApi", lambda client: api)
        return run_main(cnpg_cluster_wait.main, dict({"name": "db", "namespace": "ns"}, **args), check_mode=check_mode)

    return run


def test_connection_options_are_kubernetes_core_auth_options():
    spec = cnpg_cluster_wait.argspec()
    assert set(AUTH_ARG_SPEC) <= set(spec)
    assert spec["api_key"]["no_log"] is True
    assert "k8s_auth_options" in cnpg_cluster_wait.DOCUMENTATION


def test_ready_returns_fields_and_is_never_changed(run_module):
    healthy = cluster(PHASE_HEALTHY, 2, ready="True")
    api = ScriptedApi([(cluster("Creating a new replica", 1), "5")], [[{"type": "MODIFIED", "object": healthy}]])
    kind, result = run_module({"timeout": 30}, api)
    assert kind == "exit", result
    assert result["changed"] is False and result["ready"] is True
    assert result["phase"] == PHASE_HEALTHY
    assert (result["instances"], result["ready_instances"]) == (2, 2)
    assert (result["current_primary"], result["write_service"], result["read_service"]) == ("db-1", "db-rw", "db-r")
    assert result["conditions"][0]["type"] == "Ready"
    assert [t["phase"] for t in result["timeline"]] == ["Creating a new replica", PHASE_HEALTHY]
    assert isinstance(result["elapsed"], float)
    assert api.calls == ["list", "watch"]


def test_check_mode_reports_state_without_waiting(run_module):
    api = ScriptedApi([(cluster("Creating a new replica", 1), "5")])
    kind, result = run_module({}, api, check_mode=True)
    assert kind == "exit" and result["changed"] is False
    assert result["ready"] is False and result["phase"] == "Creating a new replica"
    assert "readyInstances 1/2" in result["msg"]
    assert api.calls == ["list"]


@pytest.mark.parametrize(
    "api, warning",
    [
        (ScriptedApi([(None, "5")]), "does not exist"),
        (
            ScriptedApi([ApiError(404, "Not Found", "", "list")], operator_installed=False),
            "CloudNativePG operator is not installed",
        ),
    ],
    ids=["no-cluster", "no-crd"],
)
def test_check_mode_does_not_fail_on_missing_objects(run_module, api, warning):
    kind, result = run_module({}, api, check_mode=True)
    assert kind == "exit" and result["exists"] is False and result["ready"] is False
    assert warning in result["msg"] or warning in str(result.get("warnings"))


def test_check_mode_still_fails_on_403(run_module):
    api = ScriptedApi([ApiError(403, "Forbidden", "nope", "list")])
    kind, result = run_module({}, api, check_mode=True)
    assert kind == "fail" and "may not list" in result["msg"]


def test_terminal_phase_fails_with_state(run_module):
    bad = cluster("Invalid cluster definition", 0, reason="spec.instances must be positive")
    kind, result = run_module({}, ScriptedApi([(bad, "5")]))
    assert kind == "fail"
    assert "Invalid cluster definition" in result["msg"] and "spec.instances must be positive" in result["msg"]
    assert result["phase_reason"] == "spec.instances must be positive" and result["ready"] is False
    assert result["timeline"][0]["phase"] == "Invalid cluster definition"


def test_missing_cluster_fails(run_module):
    kind, result = run_module({}, ScriptedApi([(None, "5")]))
    assert kind == "fail" and "'ns/db' not found" in result["msg"] and result["exists"] is False


@pytest.mark.parametrize(
    "args, message",
    [({"timeout": 0}, "timeout must be at least 1"), ({"expected_instances": 0}, "expected_instances must be")],
)
def test_argument_checks(run_module, args, message):
    kind, result = run_module(args, ScriptedApi([]))
    assert kind == "fail" and message in result["msg"]


def test_connection_errors_are_retried_then_reported(monkeypatch, run_module):
    attempts = []

    def failing(module):
        attempts.append(1)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(k8s_client.time, "sleep", lambda seconds: None)
    with set_module_args({"name": "db", "namespace": "ns"}), patched_exit_fail():
        monkeypatch.setattr(k8s_client, "get_api_client", failing)
        with pytest.raises(AnsibleFailJson) as err:
            cnpg_cluster_wait.main()
    assert "Could not connect to the Kubernetes API" in err.value.args[0]["msg"]
    assert len(attempts) == 6
