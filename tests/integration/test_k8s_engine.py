"""The object engine (module_utils/k8s_engine.py, behind the k8s_objects action plugin) in-process,
with kubernetes.core's real client over HTTP to the API emulator.

What the roles rely on: it applies each manifest server-side under the collection's field manager
(a re-run changes no object: the server finds nothing to do; a field the manifest no longer sets
is removed), deletes switched-off objects without cascading, answers in check mode with the
server's dry run and writes nothing, returns one structured result per object, and retries
transient failures once, inside, but never a 403 or 422.
"""

import base64
import copy
import gzip
import json

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils import k8s_client
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_engine import Engine
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

NS = "mlflow"
POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "db", "namespace": NS, "labels": {"app.kubernetes.io/name": "mlflow"}},
    "spec": {"podSelector": {"matchLabels": {"cnpg.io/cluster": "db"}}, "ingress": [{"ports": [{"port": 5432}]}]},
}
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db-app", "namespace": NS},
    "type": "kubernetes.io/basic-auth",
    "stringData": {"username": "mlflow", "password": "correct-horse-battery"},
}
SCHEDULE = {
    "apiVersion": "postgresql.cnpg.io/v1",
    "kind": "ScheduledBackup",
    "metadata": {"name": "db", "namespace": NS},
    "spec": {"cluster": {"name": "db"}, "schedule": "0 0 3 * * *", "method": "volumeSnapshot"},
}
SCHEDULE_REF = {"api_version": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup", "name": "db", "namespace": NS}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(k8s_client.time, "sleep", lambda _seconds: None)


def engine(emu, **kwargs):
    return Engine(get_api_client(kubeconfig=str(emu.kubeconfig)), **kwargs)


def writes(emu):
    """The write requests that changed an object (an apply the server found nothing to do for did not)."""
    return [
        (r.verb, r.resource, r.name)
        for r in emu.requests
        if r.verb in ("create", "update", "patch", "delete") and r.wrote and "dryRun=All" not in r.path
    ]


def actions(outcome):
    return [(o["ref"], o["action"]) for o in outcome["objects"]]


def test_applies_then_a_rerun_changes_nothing(kube_emulator):
    emu = kube_emulator
    out = engine(emu).run(definitions=[POLICY, SECRET], namespace=NS)
    assert actions(out) == [
        (f"Namespace {NS}", "created"),
        (f"NetworkPolicy {NS}/db", "created"),
        (f"Secret {NS}/db-app", "created"),
    ]
    assert out["changed"] is True
    assert emu.get("networking.k8s.io/v1", "NetworkPolicy", "db", NS)["spec"]["ingress"] == [
        {"ports": [{"port": 5432}]}
    ]

    emu.reset_requests()
    out = engine(emu).run(definitions=[POLICY, SECRET], namespace=NS)
    assert out["changed"] is False
    assert {o["action"] for o in out["objects"]} == {"unchanged"}
    assert writes(emu) == []
    # Each object was applied (the bare Namespace needs no apply), and the server kept each as it was.
    applies = [r for r in emu.requests if r.content_type == "application/apply-patch+yaml"]
    assert sorted(r.resource for r in applies) == ["networkpolicies", "secrets"]
    assert all("fieldManager=apocrathia.mlflow" in r.path and "force=true" in r.path for r in applies)


def test_updates_only_what_differs_and_reports_the_paths(kube_emulator):
    emu = kube_emulator
    engine(emu).run(definitions=[POLICY, SECRET], namespace=NS)
    changed = copy.deepcopy(POLICY)
    changed["spec"]["ingress"][0]["ports"][0]["port"] = 5433
    emu.reset_requests()
    out = engine(emu, diff=True).run(definitions=[changed, SECRET], return_live=True)
    policy, secret = out["objects"]
    assert (policy["action"], policy["operation"], policy["differences"]) == (
        "updated",
        "update",
        ["spec.ingress[0].ports[0].port"],
    )
    assert policy["live"]["spec"]["ingress"][0]["ports"][0]["port"] == 5433
    assert policy["diff"]["before"]["spec"]["ingress"][0]["ports"][0]["port"] == 5432
    assert secret["action"] == "unchanged" and "diff" not in secret
    assert secret["live"]["data"] == {"username": "<hidden>", "password": "<hidden>"}
    assert writes(emu) == [("patch", "networkpolicies", "db")]


def test_custom_resources_are_applied_and_a_dropped_field_is_removed(kube_emulator):
    emu = kube_emulator
    labelled = copy.deepcopy(SCHEDULE)
    labelled["metadata"]["labels"] = {"team": "ml"}
    labelled["spec"]["immediate"] = True
    engine(emu).run(definitions=[labelled], namespace=NS)
    changed = copy.deepcopy(SCHEDULE)
    changed["spec"]["schedule"] = "0 0 4 * * *"
    emu.reset_requests()
    out = engine(emu).run(definitions=[changed])
    assert actions(out) == [(f"ScheduledBackup {NS}/db", "updated")]
    assert out["objects"][0]["differences"] == ["metadata.labels.team", "spec.immediate", "spec.schedule"]
    live = emu.get("postgresql.cnpg.io/v1", "ScheduledBackup", "db", NS)
    assert live["spec"]["schedule"] == "0 0 4 * * *"
    # What the manifest stopped setting is gone from the live object.
    assert "immediate" not in live["spec"] and "team" not in (live["metadata"].get("labels") or {})


def test_switched_off_objects_are_deleted_without_what_they_own(kube_emulator):
    emu = kube_emulator
    engine(emu).run(definitions=[SCHEDULE], namespace=NS)
    owner = emu.get("postgresql.cnpg.io/v1", "ScheduledBackup", "db", NS)
    emu.create(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Backup",
            "metadata": {
                "name": "db-1",
                "namespace": NS,
                "ownerReferences": [
                    {
                        "apiVersion": "postgresql.cnpg.io/v1",
                        "kind": "ScheduledBackup",
                        "name": "db",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"cluster": {"name": "db"}, "method": "volumeSnapshot"},
        }
    )
    out = engine(emu).run(absent=[SCHEDULE_REF])
    assert actions(out) == [(f"ScheduledBackup {NS}/db", "deleted")]
    assert emu.get("postgresql.cnpg.io/v1", "ScheduledBackup", "db", NS) is None
    assert emu.get("postgresql.cnpg.io/v1", "Backup", "db-1", NS) is not None

    emu.reset_requests()
    out = engine(emu).run(absent=[SCHEDULE_REF])
    assert actions(out) == [(f"ScheduledBackup {NS}/db", "unchanged")]
    assert writes(emu) == []


def test_check_mode_plans_with_dry_runs_and_changes_nothing(kube_emulator):
    emu = kube_emulator
    # On an empty cluster the namespace is planned; the objects in it are reported without a request.
    out = engine(emu, check_mode=True, diff=True).run(definitions=[POLICY, SECRET], namespace=NS)
    assert [(o["action"], o["operation"]) for o in out["objects"]] == [("planned", "create")] * 3
    assert emu.get("v1", "Namespace", NS) is None
    assert out["objects"][2]["diff"]["after"]["stringData"] == {"username": "<hidden>", "password": "<hidden>"}

    engine(emu).run(definitions=[POLICY, SCHEDULE], namespace=NS)
    changed = copy.deepcopy(POLICY)
    changed["spec"]["ingress"][0]["ports"][0]["port"] = 5433
    emu.reset_requests()
    out = engine(emu, check_mode=True, diff=True).run(definitions=[changed, SECRET], absent=[SCHEDULE_REF])
    assert [(o["kind"], o["action"], o["operation"]) for o in out["objects"]] == [
        ("NetworkPolicy", "planned", "update"),
        ("Secret", "planned", "create"),
        ("ScheduledBackup", "planned", "delete"),
    ]
    # The server answered each dry run: the planned update is what it would store.
    assert out["objects"][0]["diff"]["after"]["spec"]["ingress"][0]["ports"][0]["port"] == 5433
    dry_runs = [(r.verb, r.resource) for r in emu.requests if "dryRun=All" in r.path]
    assert dry_runs == [("patch", "networkpolicies"), ("patch", "secrets"), ("delete", "scheduledbackups")]
    assert writes(emu) == []
    assert emu.get("networking.k8s.io/v1", "NetworkPolicy", "db", NS)["spec"]["ingress"][0]["ports"][0]["port"] == 5432
    assert emu.get("v1", "Secret", "db-app", NS) is None
    assert emu.get("postgresql.cnpg.io/v1", "ScheduledBackup", "db", NS) is not None


def test_lookups_answer_by_key_with_a_digest_instead_of_secret_data(kube_emulator):
    emu = kube_emulator
    engine(emu).run(definitions=[SECRET], namespace=NS)
    out = engine(emu).run(
        lookups=[
            {"key": "secret", "api_version": "v1", "kind": "Secret", "name": "db-app", "namespace": NS, "digest": True},
            {
                "key": "monitor",
                "api_version": "monitoring.coreos.com/v1",
                "kind": "PodMonitor",
                "name": "x",
                "namespace": NS,
            },
            {"key": "classes", "api_version": "storage.k8s.io/v1", "kind": "StorageClass"},
            {"key": "gone", "api_version": "v1", "kind": "ConfigMap", "name": "nope", "namespace": NS},
        ]
    )
    found = out["found"]
    assert len(found["secret"]["digest"]) == 64 and "data" not in found["secret"]["resources"][0]
    assert found["monitor"]["api_found"] is True and found["monitor"]["exists"] is False
    assert sorted(sc["metadata"]["name"] for sc in found["classes"]["resources"]) == ["longhorn", "standard"]
    assert (found["gone"]["api_found"], found["gone"]["exists"]) == (True, False)
    assert [entry["key"] for entry in out["lookups"]] == ["secret", "monitor", "classes", "gone"]


def _release_secret(revision, status, manifest):
    """A Helm release Secret as helm's storage driver writes it (JSON, gzipped, base64; module_utils/helm_release.py)."""
    record = {
        "name": "mlflow",
        "namespace": NS,
        "version": revision,
        "info": {"status": status, "last_deployed": "2026-12-01T00:00:00Z"},
        "chart": {"metadata": {"name": "mlflow", "version": "1.11.5", "appVersion": "3.15.1"}},
        "config": {"replicaCount": 1},
        "manifest": manifest,
        "hooks": [{"manifest": manifest}],
    }
    encoded = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.mlflow.v{revision}",
            "namespace": NS,
            "labels": {"owner": "helm", "name": "mlflow", "version": str(revision), "status": status},
        },
        "data": {"release": base64.b64encode(encoded.encode()).decode()},
    }


def test_helm_release_lookups_answer_the_newest_release_without_its_manifests(kube_emulator):
    emu = kube_emulator
    generated = "flask-key-" + "f00d" * 8
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for revision, status in ((1, "superseded"), (2, "deployed")):
        emu.create(_release_secret(revision, status, f"data:\n  KEY: {generated}\n"))
    lookup = {"api_version": "v1", "kind": "Secret", "namespace": NS, "label_selector": "owner=helm,name=mlflow"}
    out = engine(emu).run(
        lookups=[
            dict(lookup, key="release", helm_release=True),
            dict(lookup, key="none", label_selector="owner=helm,name=other", helm_release=True),
        ]
    )
    release = out["found"]["release"]["release"]
    assert (release["revision"], release["status"], release["chart"]) == ("2", "deployed", "mlflow-1.11.5")
    assert release["values"] == {"replicaCount": 1}
    assert out["found"]["none"]["release"] == {}
    assert [sorted(s) for s in out["found"]["release"]["resources"]] == [["apiVersion", "kind", "metadata"]] * 2
    assert generated not in json.dumps(out)
    raw = json.dumps(engine(emu).run(lookups=[dict(lookup, key="raw")]))
    assert "sh.helm.release.v1.mlflow.v2" in raw and "data" in raw  # without the option: the Secrets as they are


def test_unserved_kinds_fail_or_are_skipped(kube_emulator_factory):
    emu = kube_emulator_factory(crd_files=[])
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "db", "namespace": NS},
        "spec": {},
    }
    with pytest.raises(k8s_client.K8sError, match=r"PodMonitor \(monitoring.coreos.com/v1\) is not served"):
        engine(emu).run(definitions=[monitor], namespace=NS)
    out = engine(emu).run(definitions=[monitor], namespace=NS, skip_unserved=True)
    assert actions(out)[1] == (f"PodMonitor {NS}/db", "skipped")


def test_transient_failures_are_retried_inside_once(kube_emulator):
    emu = kube_emulator
    emu.faults.add(verb="patch", resource="networkpolicies", status=429, times=2)
    emu.faults.add(verb="get", resource="secrets", status=503, times=1)
    out = engine(emu).run(definitions=[POLICY, SECRET], namespace=NS)
    assert [o["action"] for o in out["objects"]] == ["created"] * 3
    assert [r.status for r in emu.requests if r.verb == "patch" and r.resource == "networkpolicies"] == [429, 429, 201]


def test_an_apply_that_loses_a_create_race_is_sent_again(kube_emulator):
    emu = kube_emulator
    engine(emu).run(namespace=NS)
    emu.faults.add(verb="patch", resource="networkpolicies", status=409, times=1)
    emu.reset_requests()
    out = engine(emu).run(definitions=[POLICY])
    assert actions(out) == [(f"NetworkPolicy {NS}/db", "created")]
    assert [(r.verb, r.status) for r in emu.requests if r.resource == "networkpolicies" and r.verb != "get"] == [
        ("patch", 409),
        ("patch", 201),
    ]


@pytest.mark.parametrize("status", [403, 422])
def test_forbidden_and_invalid_are_not_retried(kube_emulator, status):
    emu = kube_emulator
    engine(emu).run(namespace=NS)
    emu.faults.add(verb="patch", resource="networkpolicies", status=status, times=None)
    emu.reset_requests()
    with pytest.raises(k8s_client.ApiError) as failure:
        engine(emu).run(definitions=[POLICY])
    assert failure.value.status == status
    assert [r.verb for r in emu.requests if r.resource == "networkpolicies"].count("patch") == 1


def test_each_group_version_is_discovered_once_per_call(kube_emulator_factory):
    """Discovery costs one request per API group version a call uses, a kind that is not served
    included (kubernetes.core's discoverer re-read /version and /apis for every form of its name)."""
    emu = kube_emulator_factory(crd_files=[])  # no CRDs: monitoring.coreos.com/v1 is not served
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "db", "namespace": NS},
        "spec": {},
    }
    rule = {"api_version": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "name": "r", "namespace": NS}
    for _run in range(2):
        objects = engine(emu)  # the client is built (kubernetes.core's own discovery) before the count
        emu.reset_requests()
        out = objects.run(
            definitions=[POLICY, SECRET, monitor],
            lookups=[rule, {"api_version": "v1", "kind": "ConfigMap", "namespace": NS}],
            namespace=NS,
            skip_unserved=True,
        )
        assert [o["action"] for o in out["objects"]][-1] == "skipped"
        assert out["lookups"][0]["api_found"] is False and out["lookups"][1]["api_found"] is True
        discovery = sorted(r.path for r in emu.requests if not r.resource)
        assert discovery == ["/api/v1", "/apis/monitoring.coreos.com/v1", "/apis/networking.k8s.io/v1"]
