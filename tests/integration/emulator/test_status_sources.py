"""The guard: every field a simulated controller writes has an upstream source in status_sources.py.

Each test drives one controller through its paths (create, become ready, spec change, failure)
while recording what it sends to the store (the bodies of its creates and patches, as its
`<name>-controller` field manager), then checks every written field against SOURCES, and that
every entry of SOURCES was written (a table that lists fields the emulator never writes would
document the wrong emulator).
"""

import base64
import time
from collections import defaultdict

import pytest

from tests.kube_emulator import status_sources
from tests.kube_emulator.status_sources import field_paths
from tests.support.polling import until

CNPG = "postgresql.cnpg.io/v1"
GW = "gateway.networking.k8s.io/v1"
HEALTHY = "Cluster in healthy state"
NS = "default"


class Writes:
    """What the controllers sent to the store: {controller: {(apiVersion, kind): {field paths}}}."""

    def __init__(self, emulator):
        self.paths = defaultdict(lambda: defaultdict(set))
        store = emulator.store
        create, patch = store.create, store.patch

        def recording_create(rt, obj, *args, **kwargs):
            self._record(args[1] if len(args) > 1 else kwargs.get("options"), rt, obj)
            return create(rt, obj, *args, **kwargs)

        def recording_patch(rt, namespace, name, patch_type, body, options=None, subresource=None):
            if patch_type == "json":  # add/replace operations: their values, under their paths
                for op in body:
                    if op["op"] in ("add", "replace"):
                        value = op["value"]
                        for key in reversed(op["path"].strip("/").split("/")):
                            value = {key: value}
                        self._record(options, rt, value)
            else:
                self._record(options, rt, body)
            return patch(rt, namespace, name, patch_type, body, options, subresource)

        store.create, store.patch = recording_create, recording_patch

    def _record(self, options, rt, body):
        manager = getattr(options, "field_manager", "") or ""
        if manager.endswith("-controller"):
            self.paths[manager.removesuffix("-controller")][(rt.api_version, rt.kind)] |= field_paths(body)

    def check(self, controller, complete=False):
        """Fail on written fields with no source; with `complete`, also on sources never written."""
        written = self.paths[controller]
        problems = []
        for (api_version, kind), paths in sorted(written.items()):
            for path in status_sources.uncited(controller, api_version, kind, paths):
                problems.append(f"{controller} writes {kind}.{path} ({api_version}): no upstream source")
        if complete:
            for api_version, kind in status_sources.SOURCES[controller]:
                for entry in status_sources.unused(controller, api_version, kind, written.get((api_version, kind), ())):
                    problems.append(f"{controller} never wrote {kind}.{entry} ({api_version}), listed in SOURCES")
        assert not problems, "\n".join(problems)


@pytest.fixture
def writes(kube_emulator):
    return Writes(kube_emulator)


def wait(predicate, what, timeout=20.0):
    return until(predicate, what, timeout)


def secret(name, **data):
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "data": encoded}


def cluster(name, **spec):
    body = {"instances": 1, "storage": {"size": "1Gi"}, **spec}
    return {"apiVersion": CNPG, "kind": "Cluster", "metadata": {"name": name, "namespace": NS}, "spec": body}


class Phases:
    """The phases a Cluster goes through, seen through the store's events."""

    def __init__(self, emulator):
        self.seen = defaultdict(list)
        emulator.store.listeners.append(self._event)

    def _event(self, etype, rt, obj):
        if rt.kind == "Cluster" and etype != "DELETED":
            phase = (obj.get("status") or {}).get("phase")
            history = self.seen[obj["metadata"]["name"]]
            if phase and (not history or history[-1] != phase):
                history.append(phase)


def status(emu, name):
    return (emu.get(CNPG, "Cluster", name, NS) or {}).get("status") or {}


def healthy(emu, name, instances):
    current = status(emu, name)
    return current.get("phase") == HEALTHY and current.get("readyInstances") == instances


def patch_spec(emu, name, spec):
    rt = emu.store.find_kind(CNPG, "Cluster")
    emu.store.patch(rt, NS, name, "merge", {"spec": spec})


def test_cnpg_writes_only_cited_fields(kube_emulator, writes):
    emu, phases = kube_emulator, Phases(kube_emulator)
    emu.create(secret("role-pass", username="mlflow", password="one"))
    roles = [
        {"name": "mlflow", "ensure": "present", "login": True, "passwordSecret": {"name": "role-pass"}},
        {"name": "ghost", "ensure": "present", "login": True, "passwordSecret": {"name": "missing"}},
    ]
    emu.create(cluster("pg", instances=2, managed={"roles": roles}))
    wait(lambda: healthy(emu, "pg", 2), "pg healthy")
    writes.check("cnpg")  # create -> healthy

    wait(lambda: (status(emu, "pg").get("managedRolesStatus") or {}).get("cannotReconcile"), "role status")
    rt = emu.store.find_kind("v1", "Secret")
    emu.store.patch(rt, NS, "role-pass", "merge", {"stringData": {"password": "two"}})
    rotated = emu.get("v1", "Secret", "role-pass", NS)["metadata"]["resourceVersion"]
    wait(
        lambda: status(emu, "pg")["managedRolesStatus"]["passwordStatus"]["mlflow"]["resourceVersion"] == rotated,
        "the rotated password applied",
    )

    patch_spec(emu, "pg", {"resources": {"requests": {"memory": "512Mi"}}})  # a rollout
    wait(lambda: "Upgrading cluster" in phases.seen["pg"] and healthy(emu, "pg", 2), "the rollout")
    patch_spec(emu, "pg", {"instances": 3})  # a new replica
    wait(lambda: healthy(emu, "pg", 3), "pg scaled up")
    patch_spec(emu, "pg", {"instances": 2})
    wait(lambda: status(emu, "pg").get("instances") == 2 and healthy(emu, "pg", 2), "pg scaled down")

    emu.create(cluster("old", imageName="ghcr.io/cloudnative-pg/postgresql:17.5"))
    wait(lambda: healthy(emu, "old", 1), "old healthy")
    patch_spec(emu, "old", {"imageName": "ghcr.io/cloudnative-pg/postgresql:18.1"})  # a major upgrade
    wait(
        lambda: (
            "Upgrading Postgres major version" in phases.seen["old"]
            and healthy(emu, "old", 1)
            and status(emu, "old")["pgDataImageInfo"]["majorVersion"] == 18
        ),
        "the major upgrade",
    )

    emu.controllers.cnpg.fail_with("Unable to create required cluster objects", "quota exceeded", times=1)
    emu.create(cluster("bad"))
    wait(lambda: status(emu, "bad").get("phase") == "Unable to create required cluster objects", "the failure")
    patch_spec(emu, "bad", {"description": "retry"})  # a spec change: the operator tries again
    wait(lambda: healthy(emu, "bad", 1), "bad healthy after the change")

    initdb = {"initdb": {"database": "mlflow", "owner": "mlflow", "secret": {"name": "owner"}}}
    emu.create(cluster("boot", bootstrap=initdb, storage={"size": "1Gi", "storageClass": "fast"}))
    wait(lambda: status(emu, "boot").get("phase") == "Setting up primary", "boot waiting for its secret")
    emu.create(secret("owner", username="mlflow", password="s3cret"))
    time.sleep(0.5)  # the initdb job still cannot run: its volume has no StorageClass
    assert status(emu, "boot")["phase"] == "Setting up primary" and emu.get("v1", "Pod", "boot-1", NS) is None
    storage_class = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"}}
    emu.create(dict(storage_class, provisioner="x"))
    wait(lambda: healthy(emu, "boot", 1), "boot healthy")
    writes.check("cnpg", complete=True)


def deployment(name, annotation):
    template = {
        "metadata": {"labels": {"app": name}, "annotations": {"checksum/config": annotation}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }
    spec = {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def test_workloads_write_only_cited_fields(kube_emulator_factory):
    emu = kube_emulator_factory(storage_classes={"longhorn": False})  # no default class: claims wait
    writes = Writes(emu)
    emu.create(deployment("web", "a"))
    wait(lambda: (emu.get("apps/v1", "Deployment", "web", NS).get("status") or {}).get("availableReplicas") == 2, "web")
    rt = emu.store.find_kind("apps/v1", "Deployment")
    emu.store.patch(
        rt, NS, "web", "merge", {"spec": {"template": {"metadata": {"annotations": {"checksum/config": "b"}}}}}
    )
    wait(lambda: emu.get("apps/v1", "Deployment", "web", NS)["status"]["observedGeneration"] == 2, "the rollout")
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    sts_spec = {
        "serviceName": "db",
        "replicas": 1,
        "selector": {"matchLabels": {"app": "db"}},
        "template": {
            "metadata": {"labels": {"app": "db"}},
            "spec": {"containers": [{"name": "db", "image": "postgres:17"}]},
        },
        "volumeClaimTemplates": [claim],
    }
    emu.create(
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": NS}, "spec": sts_spec}
    )
    wait(lambda: (emu.get("v1", "Pod", "db-0", NS) or {}).get("status", {}).get("phase") == "Pending", "db-0 pending")
    default = {"storageclass.kubernetes.io/is-default-class": "true"}
    emu.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "standard", "annotations": default},
            "provisioner": "x",
        }
    )
    wait(lambda: emu.get("apps/v1", "StatefulSet", "db", NS)["status"].get("readyReplicas") == 1, "db ready")
    writes.check("workloads", complete=True)
    writes.check("pvc", complete=True)


BLUEPRINT = """\
version: 1
entries:
  - model: authentik_providers_proxy.proxyprovider
    identifiers: {name: mlflow}
    attrs: {external_host: "https://mlflow.example.com", mode: proxy}
  - model: authentik_providers_proxy.proxyprovider
    identifiers: {name: forward}
    attrs: {external_host: "https://forward.example.com", mode: forward_single}
  - model: authentik_outposts.outpost
    identifiers: {name: MLflow Outpost}
    attrs:
      name: MLflow Outpost
      type: proxy
      config:
        kubernetes_namespace: default
        kubernetes_httproute_parent_refs:
          - {name: gateway, namespace: default, sectionName: https, port: 443}
"""


def test_authentik_writes_only_cited_fields(kube_emulator, writes):
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bp", "namespace": NS}}
    kube_emulator.create(dict(configmap, data={"bp.yaml": BLUEPRINT}))
    wait(lambda: kube_emulator.get(GW, "HTTPRoute", "ak-outpost-mlflow-outpost", NS), "the outpost's route")
    writes.check("authentik", complete=True)


def test_gateway_writes_only_cited_fields(kube_emulator, writes):
    emu = kube_emulator
    emu.create(
        {
            "apiVersion": GW,
            "kind": "GatewayClass",
            "metadata": {"name": "cilium"},
            "spec": {"controllerName": "io.cilium/gateway-controller"},
        }
    )
    listeners = [
        {
            "name": "https",
            "port": 443,
            "protocol": "HTTPS",
            "hostname": "*.example.com",
            "allowedRoutes": {"namespaces": {"from": "All"}},
        },
        {"name": "http", "port": 80, "protocol": "HTTP"},
    ]
    emu.create(
        {
            "apiVersion": GW,
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": NS},
            "spec": {"gatewayClassName": "cilium", "listeners": listeners},
        }
    )
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"ports": [{"port": 80}]},
        }
    )
    routes = {
        "ok": {
            "parentRefs": [{"name": "gw", "namespace": NS, "sectionName": "https"}],
            "hostnames": ["a.example.com"],
            "backend": "web",
        },
        "port": {"parentRefs": [{"name": "gw", "port": 443}], "hostnames": ["other.org"], "backend": "missing"},
    }
    for name, route in routes.items():
        rules = [{"backendRefs": [{"name": route["backend"], "port": 80}]}]
        spec = {"parentRefs": route["parentRefs"], "hostnames": route["hostnames"], "rules": rules}
        emu.create({"apiVersion": GW, "kind": "HTTPRoute", "metadata": {"name": name, "namespace": NS}, "spec": spec})
    wait(
        lambda: all((emu.get(GW, "HTTPRoute", n, NS).get("status") or {}).get("parents") for n in routes),
        "route status",
    )
    writes.check("gateway", complete=True)
