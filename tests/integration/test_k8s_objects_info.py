"""k8s_objects_info in-process with kubernetes.core's real client, against the API emulator.

What the roles rely on: one call answers for many objects and kinds, a missing CRD or object
is an answer, the comparison finds real changes and ignores what the server adds, and it
never sends a write request (not even a dry run).
"""

import copy
from urllib.parse import parse_qs, urlsplit

from ansible_collections.apocrathia.mlflow.plugins.modules import k8s_objects_info

from tests.unit.utils.ansible_module_mock import run_main

NS = "mlflow"

POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "db", "namespace": NS, "labels": {"app.kubernetes.io/name": "mlflow"}},
    "spec": {
        "podSelector": {"matchLabels": {"cnpg.io/cluster": "db"}},
        "ingress": [{"ports": [{"port": 5432}]}],
    },
}
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db-app", "namespace": NS},
    "type": "kubernetes.io/basic-auth",
    "stringData": {"username": "mlflow", "password": "correct-horse-battery"},
}


def run_module(emu, check_mode=False, **args):
    return run_main(k8s_objects_info.main, dict({"kubeconfig": str(emu.kubeconfig)}, **args), check_mode=check_mode)


def write_requests(emu):
    return [r for r in emu.requests if r.verb in ("create", "update", "patch", "delete", "deletecollection")]


def test_new_objects_are_reported_missing_then_in_sync_once_created(kube_emulator):
    emu = kube_emulator
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kind, result = run_module(emu, definitions=[POLICY, SECRET])
    assert kind == "exit", result
    assert [(d["exists"], d["in_sync"], d["differences"]) for d in result["definitions"]] == [
        (False, False, ["."]),
        (False, False, ["."]),
    ]
    assert result["in_sync"] is False and result["changed"] is False

    emu.create(copy.deepcopy(POLICY))
    emu.create(copy.deepcopy(SECRET))
    emu.reset_requests()
    kind, result = run_module(emu, definitions=[POLICY, SECRET], check_mode=True)
    assert kind == "exit", result
    assert [d["in_sync"] for d in result["definitions"]] == [True, True]
    assert result["in_sync"] is True
    assert [d["ref"] for d in result["definitions"]] == [f"NetworkPolicy {NS}/db", f"Secret {NS}/db-app"]
    assert write_requests(emu) == []
    assert {r.verb for r in emu.requests if r.resource in ("networkpolicies", "secrets")} == {"get"}


def test_a_changed_field_and_a_rotated_password_are_found(kube_emulator):
    emu = kube_emulator
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    emu.create(copy.deepcopy(POLICY))
    emu.create(copy.deepcopy(SECRET))
    wanted_policy = copy.deepcopy(POLICY)
    wanted_policy["spec"]["ingress"][0]["ports"][0]["port"] = 5433
    wanted_secret = copy.deepcopy(SECRET)
    wanted_secret["stringData"]["password"] = "rotated-password-value"
    kind, result = run_module(emu, definitions=[wanted_policy, wanted_secret])
    assert kind == "exit", result
    assert result["definitions"][0]["differences"] == ["spec.ingress[0].ports[0].port"]
    assert result["definitions"][1]["differences"] == ["data.password"]
    # Names of fields only, never the values.
    assert "rotated-password-value" not in str(result["definitions"][1]["differences"])


def test_lookups_answer_for_missing_kinds_missing_objects_and_lists(kube_emulator_factory):
    # No prometheus-operator CRDs in this cluster.
    emu = kube_emulator_factory(crd_files=[])
    kind, result = run_module(
        emu,
        lookups=[
            {"api_version": "monitoring.coreos.com/v1", "kind": "PodMonitor", "name": "db", "namespace": NS},
            {"api_version": "v1", "kind": "Secret", "name": "nothing-here", "namespace": NS},
            {"api_version": "storage.k8s.io/v1", "kind": "StorageClass"},
        ],
    )
    assert kind == "exit", result
    podmonitor, secret, classes = result["lookups"]
    assert (podmonitor["api_found"], podmonitor["resources"]) == (False, [])
    assert (secret["api_found"], secret["resources"]) == (True, [])
    assert classes["name"] == "" and sorted(sc["metadata"]["name"] for sc in classes["resources"]) == [
        "longhorn",
        "standard",
    ]
    assert all("managedFields" not in sc["metadata"] for sc in classes["resources"])


def test_metadata_only_tells_existence_without_the_data(kube_emulator):
    emu = kube_emulator
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    emu.create(copy.deepcopy(SECRET))
    lookup = {"api_version": "v1", "kind": "Secret", "name": "db-app", "namespace": NS}
    kind, result = run_module(emu, lookups=[lookup], metadata_only=True)
    assert kind == "exit", result
    (found,) = result["lookups"][0]["resources"]
    assert set(found) == {"apiVersion", "kind", "metadata"} and found["metadata"]["name"] == "db-app"
    assert "correct-horse-battery" not in str(result) and "Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5" not in str(result)
    kind, result = run_module(emu, lookups=[lookup])
    assert "data" in result["lookups"][0]["resources"][0]


def test_a_removed_crd_is_reported_missing_despite_the_discovery_cache(kube_emulator):
    # kubernetes.core caches discovery in a file per API server; the first call fills it.
    emu = kube_emulator
    lookup = {"api_version": "monitoring.coreos.com/v1", "kind": "PodMonitor", "name": "db", "namespace": NS}
    kind, result = run_module(emu, lookups=[lookup])
    assert kind == "exit" and result["lookups"][0]["api_found"] is True, result
    emu.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", "podmonitors.monitoring.coreos.com")
    kind, result = run_module(emu, lookups=[lookup])
    assert kind == "exit", result
    assert result["lookups"][0]["api_found"] is False


def test_server_errors_are_retried_and_forbidden_fails_with_the_reason(kube_emulator):
    emu = kube_emulator
    emu.faults.add(verb="get", resource="secrets", status=503, times=2)
    kind, result = run_module(emu, lookups=[{"api_version": "v1", "kind": "Secret", "name": "x", "namespace": NS}])
    assert kind == "exit", result
    assert len([r for r in emu.requests if r.resource == "secrets"]) == 3

    emu.faults.forbid("get", "secrets")
    kind, result = run_module(emu, lookups=[{"api_version": "v1", "kind": "Secret", "name": "x", "namespace": NS}])
    assert kind == "fail"
    assert "403" in result["msg"]


def test_a_definition_without_a_name_is_refused_before_any_request(kube_emulator):
    emu = kube_emulator
    emu.reset_requests()
    kind, result = run_module(
        emu,
        lookups=[{"api_version": "v1", "kind": "Secret", "name": "x", "namespace": NS}],
        definitions=[POLICY, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}],
    )
    assert kind == "fail"
    assert result["msg"] == "definitions[1] needs apiVersion, kind and metadata.name."
    assert [r for r in emu.requests if r.resource in ("secrets", "networkpolicies", "configmaps")] == []


def test_label_selectors_are_answered_by_the_api_server(kube_emulator):
    """Lookups with label selectors list only the matching objects: equality, inequality, set-based."""
    emu = kube_emulator
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for name, labels in (("db-1", {"cnpg.io/cluster": "db"}), ("db-1-wal", {"cnpg.io/cluster": "db", "role": "wal"}),
                         ("other", {"role": "web"})):  # fmt: skip
        emu.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS, "labels": labels}}
        )

    def names(*selectors):
        lookup = {
            "key": "found",
            "api_version": "v1",
            "kind": "ConfigMap",
            "namespace": NS,
            "label_selectors": list(selectors),
        }
        kind, result = run_module(emu, lookups=[lookup], metadata_only=True)
        assert kind == "exit", result
        return sorted(o["metadata"]["name"] for o in result["found"]["found"])

    assert names("cnpg.io/cluster=db") == ["db-1", "db-1-wal"]
    assert names("cnpg.io/cluster=db", "role!=wal") == ["db-1"]
    assert names("role in (wal,web)") == ["db-1-wal", "other"]
    assert names("!role") == ["db-1"]
    assert names() == ["db-1", "db-1-wal", "other"]
    # One LIST with the ANDed selector: the server selects, not the module.
    sent = [parse_qs(urlsplit(r.path).query).get("labelSelector") for r in emu.requests if r.resource == "configmaps"]
    assert ["cnpg.io/cluster=db,role!=wal"] in sent, sent
