"""The API surface, through the official Python client and raw HTTP."""

import json
import threading
import time
import urllib.request

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.integration.emulator.conftest import raw
from tests.kube_emulator import protobuf
from tests.kube_emulator.version import KUBERNETES_VERSION


def _cm(name, namespace="default", labels=None, data=None):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "data": data or {"k": "v"},
    }


def _deployment(name, image="nginx:1.27", env=None, namespace="default"):
    container = {"name": "app", "image": image, "env": env or []}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def test_discovery_and_version(api, kube_emulator):
    assert client.VersionApi(api).get_code().git_version == KUBERNETES_VERSION
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["postgresql.cnpg.io"].preferred_version.version == "v1"
    assert groups["gateway.networking.k8s.io"].preferred_version.version == "v1"
    status, body, _ = raw(kube_emulator, "GET", "/apis/apps/v1")
    deployments = next(r for r in body["resources"] if r["name"] == "deployments")
    assert status == 200 and deployments["namespaced"] and deployments["kind"] == "Deployment"
    assert "watch" in deployments["verbs"] and deployments["shortNames"] == ["deploy"]
    assert any(r["name"] == "deployments/status" for r in body["resources"])
    _, index, _ = raw(kube_emulator, "GET", "/openapi/v3")
    _, doc, _ = raw(kube_emulator, "GET", index["paths"]["apis/postgresql.cnpg.io/v1"]["serverRelativeURL"])
    patch_op = doc["paths"]["/apis/postgresql.cnpg.io/v1/namespaces/{namespace}/clusters/{name}"]["patch"]
    assert {p["name"] for p in patch_op["parameters"]} >= {"fieldValidation", "dryRun", "fieldManager"}


def test_metadata_generation_and_stale_update(api, kube_emulator):
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment("default", _deployment("web"))
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and meta.generation == 1
    first_rv = int(meta.resource_version)
    labelled = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1, "metadata changes do not bump generation"
    assert int(labelled.metadata.resource_version) > first_rv
    scaled = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2
    stale = created.to_dict()
    body = apps.api_client.sanitize_for_serialization(created)
    body["spec"]["replicas"] = 5
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("web", "default", body)
    assert err.value.status == 409 and "the object has been modified" in err.value.body
    assert stale["metadata"]["resource_version"] == str(first_rv)
    # status is a separate subresource: a spec write does not change it and vice versa
    kube_emulator.patch_status("apps/v1", "Deployment", "web", "default", {"replicas": 7})
    status_rv = kube_emulator.get("apps/v1", "Deployment", "web", "default")["metadata"]["resourceVersion"]
    body = kube_emulator.get("apps/v1", "Deployment", "web", "default")
    body["status"] = {"replicas": 99}
    body["spec"]["replicas"] = 4
    apps.replace_namespaced_deployment("web", "default", body)
    now = kube_emulator.get("apps/v1", "Deployment", "web", "default")
    assert now["spec"]["replicas"] == 4 and now["status"]["replicas"] != 99
    assert int(now["metadata"]["resourceVersion"]) > int(status_rv)


def test_no_op_update_keeps_resource_version(core):
    created = core.create_namespaced_config_map("default", _cm("same"))
    again = core.patch_namespaced_config_map("same", "default", {"data": {"k": "v"}})
    assert again.metadata.resource_version == created.metadata.resource_version


def test_namespaces_missing_and_cascading_delete(core, kube_emulator):
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("nowhere", _cm("x", "nowhere"))
    assert err.value.status == 404 and json.loads(err.value.body)["message"] == 'namespaces "nowhere" not found'
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", _cm("x", "doomed"))
    core.create_namespaced_secret("doomed", {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    assert kube_emulator.get("v1", "Secret", "s", "doomed")["data"] == {"a": "Yg=="}
    core.delete_namespace("doomed")
    assert kube_emulator.list("v1", "ConfigMap", "doomed") == []
    assert kube_emulator.get("v1", "Secret", "s", "doomed") is None
    assert kube_emulator.get("v1", "Namespace", "doomed") is None


def test_label_and_field_selectors(core):
    core.create_namespace({"metadata": {"name": "other"}})
    core.create_namespaced_config_map("default", _cm("a", labels={"tier": "web", "env": "prod"}))
    core.create_namespaced_config_map("default", _cm("b", labels={"tier": "db", "env": "prod"}))
    core.create_namespaced_config_map("default", _cm("c", labels={"tier": "web"}))
    core.create_namespaced_config_map("other", _cm("a", "other", labels={"tier": "cache"}))

    def names(**kwargs):
        return sorted(
            f"{i.metadata.namespace}/{i.metadata.name}" for i in core.list_config_map_for_all_namespaces(**kwargs).items
        )

    assert names(label_selector="tier=web") == ["default/a", "default/c"]
    assert names(label_selector="tier!=web") == ["default/b", "other/a"]
    assert names(label_selector="tier in (db, cache)") == ["default/b", "other/a"]
    assert names(label_selector="tier notin (web),env") == ["default/b"]
    assert names(label_selector="!env") == ["default/c", "other/a"]
    assert names(field_selector="metadata.name=a") == ["default/a", "other/a"]
    assert names(field_selector="metadata.namespace=other") == ["other/a"]
    assert names(field_selector="metadata.name!=a,metadata.namespace=default") == ["default/b", "default/c"]
    with pytest.raises(ApiException) as err:
        core.list_config_map_for_all_namespaces(field_selector="data.k=v")
    assert err.value.status == 400


def test_watch_events_resume_and_gone(core, kube_emulator):
    start_rv = core.list_namespaced_config_map("default").metadata.resource_version

    def change():
        time.sleep(0.2)
        core.create_namespaced_config_map("default", _cm("w"))
        core.patch_namespaced_config_map("w", "default", {"data": {"k": "v2"}})
        core.delete_namespaced_config_map("w", "default")

    threading.Thread(target=change).start()
    seen = []
    stream = watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=start_rv, timeout_seconds=5
    )
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            break
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    # resuming from the list's resourceVersion replays the same history
    replay = [
        e["type"]
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=start_rv, timeout_seconds=1
        )
    ]
    assert replay == ["ADDED", "MODIFIED", "DELETED"]
    kube_emulator.compact()
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=start_rv, timeout_seconds=1
            )
        )
    assert err.value.status == 410


def test_selective_watch_sees_objects_enter_and_leave(core, kube_emulator):
    start_rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("m", labels={"team": "b"}))
    core.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"team": "a"}}})
    core.patch_namespaced_config_map("m", "default", {"data": {"k": "2"}})
    core.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"team": "b"}}})
    events = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="team=a",
        resource_version=start_rv,
        timeout_seconds=1,
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_timeout_and_bookmarks(kube_emulator):
    kube_emulator.bookmark_interval = 0.2
    started = time.monotonic()
    request = f"/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion={kube_emulator.store.rv}"
    with urllib.request.urlopen(kube_emulator.url + request, timeout=10) as response:  # noqa: S310
        events = [json.loads(line) for line in response]
    assert 0.9 < time.monotonic() - started < 5
    assert events and all(e["type"] == "BOOKMARK" for e in events)
    assert events[-1]["object"]["metadata"]["resourceVersion"] == str(kube_emulator.store.rv)


def test_patch_flavours(api, kube_emulator):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", _deployment("p", env=[{"name": "A", "value": "1"}]))
    # strategic merge: containers and env merge by name
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}}
    apps.patch_namespaced_deployment("p", "default", patch)
    container = kube_emulator.get("apps/v1", "Deployment", "p", "default")["spec"]["template"]["spec"]["containers"]
    assert [e["name"] for e in container[0]["env"]] == ["A", "B"] and container[0]["image"] == "nginx:1.27"
    # JSON merge patch replaces lists
    status, body, _ = raw(
        kube_emulator,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/p",
        patch,
        "application/merge-patch+json",
    )
    assert status == 200
    container = body["spec"]["template"]["spec"]["containers"]
    assert [e["name"] for e in container[0]["env"]] == ["B"] and "image" not in container[0]
    # JSON patch
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels", "value": {"j": "p"}},
    ]
    status, body, _ = raw(
        kube_emulator, "PATCH", "/apis/apps/v1/namespaces/default/deployments/p", ops, "application/json-patch+json"
    )
    assert status == 200 and body["spec"]["replicas"] == 4 and body["metadata"]["labels"] == {"j": "p"}
    status, body, _ = raw(
        kube_emulator,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/p",
        [{"op": "test", "path": "/spec/replicas", "value": 1}],
        "application/json-patch+json",
    )
    assert status == 422


def test_server_side_apply_managers_and_conflicts(kube_emulator):
    path = "/apis/apps/v1/namespaces/default/deployments/ssa"
    body = _deployment("ssa")
    body["spec"]["replicas"] = 2
    status, created, _ = raw(kube_emulator, "PATCH", path + "?fieldManager=alice", body, "application/apply-patch+yaml")
    assert status == 201 and created["spec"]["replicas"] == 2
    assert [m["manager"] for m in created["metadata"]["managedFields"]] == ["alice"]
    body["spec"]["replicas"] = 3
    status, conflict, _ = raw(kube_emulator, "PATCH", path + "?fieldManager=bob", body, "application/apply-patch+yaml")
    assert status == 409 and conflict["reason"] == "Conflict"
    assert 'conflict with "alice"' in conflict["message"] and ".spec.replicas" in conflict["message"]
    status, forced, _ = raw(
        kube_emulator, "PATCH", path + "?fieldManager=bob&force=true", body, "application/apply-patch+yaml"
    )
    assert status == 200 and forced["spec"]["replicas"] == 3
    # alice drops a label she owned: the field goes away
    labelled = dict(body, metadata={"name": "ssa", "labels": {"owner": "alice"}})
    raw(kube_emulator, "PATCH", path + "?fieldManager=alice&force=true", labelled, "application/apply-patch+yaml")
    assert kube_emulator.get("apps/v1", "Deployment", "ssa", "default")["metadata"]["labels"] == {"owner": "alice"}
    raw(kube_emulator, "PATCH", path + "?fieldManager=alice&force=true", body, "application/apply-patch+yaml")
    assert not kube_emulator.get("apps/v1", "Deployment", "ssa", "default")["metadata"].get("labels")


def test_server_side_apply_removes_list_items_the_manager_no_longer_applies(kube_emulator):
    """Helm's upgrade applies the Deployment without volumes it had: they go away whole, with
    no half-removed item left (keys removed before the item could not find it any more)."""
    path = "/apis/apps/v1/namespaces/default/deployments/vols"
    body = _deployment("vols")
    spec = body["spec"]["template"]["spec"]
    names = [f"v{i}" for i in range(8)]
    spec["volumes"] = [{"name": n, "persistentVolumeClaim": {"claimName": n}} for n in names]
    spec["containers"][0]["volumeMounts"] = [{"name": n, "mountPath": f"/{n}", "readOnly": True} for n in names]
    raw(kube_emulator, "PATCH", path + "?fieldManager=helm", body, "application/apply-patch+yaml")
    spec["volumes"], spec["containers"][0]["volumeMounts"] = (
        spec["volumes"][:1],
        spec["containers"][0]["volumeMounts"][:1],
    )
    status, applied, _ = raw(kube_emulator, "PATCH", path + "?fieldManager=helm", body, "application/apply-patch+yaml")
    assert status == 200, applied
    live = kube_emulator.get("apps/v1", "Deployment", "vols", "default")["spec"]["template"]["spec"]
    assert live["volumes"] == [{"name": "v0", "persistentVolumeClaim": {"claimName": "v0"}}]
    assert live["containers"][0]["volumeMounts"] == [{"name": "v0", "mountPath": "/v0", "readOnly": True}]


def test_dry_run_writes_nothing(core, kube_emulator):
    rv = kube_emulator.store.rv
    created = core.create_namespaced_config_map("default", _cm("dry"), dry_run="All")
    assert created.metadata.name == "dry" and kube_emulator.get("v1", "ConfigMap", "dry", "default") is None
    core.create_namespaced_config_map("default", _cm("real"))
    rv = kube_emulator.store.rv
    core.patch_namespaced_config_map("real", "default", {"data": {"k": "changed"}}, dry_run="All")
    core.delete_namespaced_config_map("real", "default", dry_run="All")
    assert kube_emulator.get("v1", "ConfigMap", "real", "default")["data"] == {"k": "v"}
    assert kube_emulator.store.rv == rv


def test_field_validation_on_core_types(kube_emulator):
    body = _cm("fv")
    body["dataa"] = {"typo": "x"}
    path = "/api/v1/namespaces/default/configmaps"
    status, error, _ = raw(kube_emulator, "POST", path + "?fieldValidation=Strict", body)
    assert status == 400 and 'unknown field "dataa"' in error["message"] and error["kind"] == "Status"
    status, created, headers = raw(kube_emulator, "POST", path + "?fieldValidation=Warn", body)
    assert status == 201 and "dataa" not in created
    assert 'unknown field \\"dataa\\"' in headers.get("Warning", "")
    body["metadata"]["name"] = "fv2"
    status, created, headers = raw(kube_emulator, "POST", path + "?fieldValidation=Ignore", body)
    assert status == 201 and "dataa" not in created and headers.get("Warning") is None
    bad = _deployment("Bad_Name")
    del bad["spec"]["template"]["spec"]["containers"][0]["name"]
    status, error, _ = raw(kube_emulator, "POST", "/apis/apps/v1/namespaces/default/deployments", bad)
    assert status == 422 and error["reason"] == "Invalid"
    fields = {c["field"] for c in error["details"]["causes"]}
    assert fields == {"metadata.name", "spec.template.spec.containers[0].name"}


def test_finalizers_and_owner_propagation(core, kube_emulator):
    owner = core.create_namespaced_config_map("default", _cm("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for name in ("child", "orphan-me"):
        body = _cm(name)
        body["metadata"]["ownerReferences"] = [ref]
        core.create_namespaced_config_map("default", body)
    held = _cm("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    core.create_namespaced_config_map("default", held)
    core.delete_namespaced_config_map("held", "default")
    pending = kube_emulator.get("v1", "ConfigMap", "held", "default")
    assert pending["metadata"]["deletionTimestamp"]
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    assert kube_emulator.get("v1", "ConfigMap", "held", "default") is None
    core.delete_namespaced_config_map("owner", "default")  # background propagation
    assert kube_emulator.get("v1", "ConfigMap", "child", "default") is None
    assert kube_emulator.get("v1", "ConfigMap", "orphan-me", "default") is None
    owner = core.create_namespaced_config_map("default", _cm("owner2"))
    body = _cm("kept")
    body["metadata"]["ownerReferences"] = [dict(ref, name="owner2", uid=owner.metadata.uid)]
    core.create_namespaced_config_map("default", body)
    core.delete_namespaced_config_map("owner2", "default", propagation_policy="Orphan")
    kept = kube_emulator.get("v1", "ConfigMap", "kept", "default")
    assert kept is not None and not kept["metadata"].get("ownerReferences")


def test_protobuf_bodies(kube_emulator):
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pb", "labels": {"owner": "helm"}},
        "type": "helm.sh/release.v1",
        "data": {"release": "aGVsbG8="},
    }
    path = "/api/v1/namespaces/default/secrets"
    status, body, _ = raw(kube_emulator, "POST", path, protobuf.encode(secret), protobuf.CONTENT_TYPE)
    assert status == 201 and body["data"] == {"release": "aGVsbG8="} and body["metadata"]["labels"] == {"owner": "helm"}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pbcm"}, "data": {"a": "b"}}
    status, body, _ = raw(
        kube_emulator,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        protobuf.encode(config_map),
        protobuf.CONTENT_TYPE,
    )
    assert status == 201 and body["data"] == {"a": "b"}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pbns"}}
    status, body, _ = raw(
        kube_emulator, "POST", "/api/v1/namespaces", protobuf.encode(namespace), protobuf.CONTENT_TYPE
    )
    assert status == 201 and body["status"]["phase"] == "Active"
    # a kind without a message definition here: 415, not a guess (same length, so the envelope stays valid)
    unknown = protobuf.encode(namespace).replace(b"\x12\tNamespace", b"\x12\tDaemonSet")
    status, body, _ = raw(
        kube_emulator, "POST", "/apis/apps/v1/namespaces/default/daemonsets", unknown, protobuf.CONTENT_TYPE
    )
    assert status == 415 and "DaemonSet are not emulated" in body["message"]
    options = {"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "dryRun": ["All"]}
    status, _, _ = raw(kube_emulator, "DELETE", path + "/pb", protobuf.encode(options), protobuf.CONTENT_TYPE)
    assert status == 200 and kube_emulator.get("v1", "Secret", "pb", "default") is not None


def test_yaml_bodies_and_status_errors(kube_emulator):
    manifest = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n"
    status, body, _ = raw(kube_emulator, "POST", "/api/v1/namespaces/default/configmaps", manifest, "application/yaml")
    assert status == 201 and body["data"] == {"a": "b"}
    status, body, _ = raw(kube_emulator, "POST", "/api/v1/namespaces/default/configmaps", manifest, "application/yaml")
    assert status == 409 and body["reason"] == "AlreadyExists" and body["details"]["name"] == "from-yaml"
    status, body, _ = raw(kube_emulator, "GET", "/api/v1/namespaces/default/configmaps/nope")
    assert (status, body["kind"], body["reason"], body["code"]) == (404, "Status", "NotFound", 404)
    status, body, _ = raw(kube_emulator, "POST", "/api/v1/namespaces/default/configmaps", b"{not json")
    assert status == 400 and body["reason"] == "BadRequest"
    status, body, _ = raw(kube_emulator, "GET", "/apis/example.com/v1/widgets")
    assert status == 404


def test_namespace_terminates_after_finalizers(core, kube_emulator):
    core.create_namespace({"metadata": {"name": "slow"}})
    held = _cm("held", "slow")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    core.create_namespaced_config_map("slow", held)
    core.create_namespaced_config_map("slow", _cm("free", "slow"))
    core.delete_namespace("slow")
    namespace = kube_emulator.get("v1", "Namespace", "slow")
    assert namespace["status"]["phase"] == "Terminating"
    assert kube_emulator.get("v1", "ConfigMap", "free", "slow") is None
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("slow", _cm("late", "slow"))
    assert err.value.status == 403 and "being terminated" in json.loads(err.value.body)["message"]
    core.patch_namespaced_config_map("held", "slow", {"metadata": {"finalizers": None}})
    assert kube_emulator.get("v1", "Namespace", "slow") is None


def test_tls_with_the_kubeconfig_ca(kube_emulator_factory):
    emu = kube_emulator_factory(crd_files=[], tls=True)
    assert emu.url.startswith("https://")
    api = config.new_client_from_config(config_file=str(emu.kubeconfig))
    try:
        assert "default" in {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
    finally:
        api.close()
