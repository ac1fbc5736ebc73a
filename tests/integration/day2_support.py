"""Helpers of the day-2 suites (status, teardown, faults): clones of a converged cluster, and what
a real cluster adds that the emulator does not run (kubelet pods, the Gateway controller's route
status, the API server's service proxy).
"""

import contextlib
import json
from pathlib import Path

from aiohttp import web

from tests.integration.conftest import CRDS, INVENTORY, STORAGE_CLASSES, site_env
from tests.kube_emulator import KubeEmulator
from tests.kube_emulator import server as emulator_server
from tests.kube_emulator.errors import ApiError
from tests.kube_emulator.faults import WRITE_VERBS
from tests.kube_emulator.store import Selector
from tests.support import paths
from tests.support.ansible_run import run_playbook

PLAYBOOKS = paths.REPO_ROOT / "playbooks"
SKIP_KINDS = {"CustomResourceDefinition", "StorageClass"}


# -- clones -------------------------------------------------------------------------------------
def clone_cluster(source):
    """A new emulator holding a copy of every object of `source` (statuses included).

    Copying the converged state takes milliseconds, where a converge takes a minute: suites that
    change or delete things work on their own copy and leave the shared converge untouched.
    Owner references are rewritten to the copies' uids, so garbage collection works as in the
    source. Controllers are off while copying, then switched on.
    """
    target = KubeEmulator(
        crd_files=CRDS,
        storage_classes=STORAGE_CLASSES,
        controllers=(),
        cnpg_delay=0.1,
        workload_delay=0.05,
    ).start()
    store = source.store
    with store.lock:
        objects = []
        for rt in store._storage_types():
            if rt.kind in SKIP_KINDS:
                continue
            objects += store.list(rt, Selector(None))[0]
    existing = {ns["metadata"]["name"] for ns in target.list("v1", "Namespace")}
    uids = {}
    pending = [o for o in objects if not (o["kind"] == "Namespace" and o["metadata"]["name"] in existing)]
    while pending:
        left = []
        for obj in pending:
            owners = obj["metadata"].get("ownerReferences") or []
            if any(ref["uid"] not in uids for ref in owners):
                left.append(obj)
                continue
            copy = json.loads(json.dumps(obj))
            for ref in copy["metadata"].get("ownerReferences") or []:
                ref["uid"] = uids[ref["uid"]]
            created = target.create(copy, keep_managed_fields=True)  # helm 4 applies server-side
            uids[obj["metadata"]["uid"]] = created["metadata"]["uid"]
        if len(left) == len(pending):
            raise RuntimeError(f"objects with missing owners: {[o['metadata']['name'] for o in left]}")
        pending = left
    for name in ("cnpg", "workloads", "pvc", "authentik"):
        target.controllers.set_enabled(name, True)
    return target


class Site:
    """Run the collection's playbooks against one emulated cluster, as converged_site does."""

    def __init__(self, emulator, workdir, extra_vars, secrets):
        self.emulator = emulator
        self.workdir = Path(workdir)
        self.kubeconfig = emulator.write_kubeconfig(self.workdir / "kubeconfig")
        self.env = site_env(self.workdir, self.kubeconfig)
        self.extra_vars = dict(extra_vars)
        self.secrets = secrets

    def run(self, playbook, *, extra_vars=None, **kwargs):
        return run_playbook(
            PLAYBOOKS / playbook,
            inventory=INVENTORY,
            extra_vars={**self.extra_vars, **(extra_vars or {})},
            env={**self.env, **kwargs.pop("env", {})},
            **kwargs,
        )


# -- what a real cluster adds -------------------------------------------------------------------
def _ready_pod(name, namespace, labels, owner=None):
    meta = {"name": name, "namespace": namespace, "labels": labels}
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
             "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        ]  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "image": "stand-in"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def run_pods(emulator, namespace="mlflow", cluster="mlflow-postgres"):
    """The instance pods CloudNativePG would run (the emulator's CNPG controller makes none)."""
    pg = emulator.get("postgresql.cnpg.io/v1", "Cluster", cluster, namespace)
    existing = {p["metadata"]["name"] for p in emulator.list("v1", "Pod", namespace)}
    created = []
    for i in range(1, (pg["spec"].get("instances", 1) if pg else 0) + 1):
        name = f"{cluster}-{i}"
        if name not in existing:
            labels = {"cnpg.io/cluster": cluster, "cnpg.io/podRole": "instance", "cnpg.io/instanceName": name}
            created.append(emulator.create(_ready_pod(name, namespace, labels, pg)))
    return created


def accept_routes(emulator, namespace="authentik", gateway="main-gateway"):
    """What the Gateway controller (cilium) records once it accepts an HTTPRoute."""
    for route in emulator.list("gateway.networking.k8s.io/v1", "HTTPRoute", namespace):
        parents = [
            {
                "parentRef": ref,
                "controllerName": "io.cilium/gateway-controller",
                "conditions": [
                    {
                        "type": "Accepted",
                        "status": "True",
                        "reason": "Accepted",
                        "message": "Accepted HTTPRoute",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "observedGeneration": route["metadata"]["generation"],
                    }
                ],
            }  # fmt: skip
            for ref in route["spec"].get("parentRefs") or []
            if ref.get("name") == gateway
        ]
        emulator.patch_status(
            "gateway.networking.k8s.io/v1", "HTTPRoute", route["metadata"]["name"], namespace, {"parents": parents}
        )


def _service_proxy(emu, route):
    """GET services/<[scheme:]name[:port]>/proxy/<path>, as the API server answers it: 503 without
    a ready endpoint, else what MLflow's /health answers (the only path the suites ask for)."""
    parts = route.name.split(":")
    name = parts[1] if len(parts) == 3 or (len(parts) == 2 and parts[0] in ("http", "https")) else parts[0]
    port = parts[-1] if len(parts) == 3 else (parts[1] if len(parts) == 2 and parts[0] not in ("http", "https") else "")
    service = emu.get("v1", "Service", name, route.namespace)
    if service is None:
        raise ApiError(404, f'services "{name}" not found', "NotFound")
    ports = service["spec"].get("ports") or []
    if port and not any(str(p.get("port")) == port or p.get("name") == port for p in ports):
        raise ApiError(503, f'no endpoints available for service "{name}"', "ServiceUnavailable")
    selector = service["spec"].get("selector") or {}
    ready = [
        pod for pod in emu.list("v1", "Pod", route.namespace)
        if selector and all((pod["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        and any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])
        and not pod["metadata"].get("deletionTimestamp")
    ]  # fmt: skip
    if not ready:
        raise ApiError(503, f'no endpoints available for service "{name}"', "ServiceUnavailable")
    return web.Response(text="OK", content_type="text/plain")


_ORIGINAL_RESOURCE = emulator_server.Server.resource


async def _resource_with_proxy(self, request, route):
    if route.rt.plural == "services" and route.subresource == "proxy" and route.verb == "get" and route.name:
        return _service_proxy(self.emu, route)
    return await _ORIGINAL_RESOURCE(self, request, route)


@contextlib.contextmanager
def service_proxy():
    """Teach the emulators in this process the service proxy subresource (404 without it), for
    the duration of the block: the stand-in for what the API server and MLflow do (docs/faults.md)."""
    emulator_server.Server.resource = _resource_with_proxy
    try:
        yield
    finally:
        emulator_server.Server.resource = _ORIGINAL_RESOURCE


# -- observation ----------------------------------------------------------------------------------
def object_keys(emulator):
    """(kind, namespace, name) of every stored object but CRDs and StorageClasses."""
    store = emulator.store
    keys = set()
    with store.lock:
        for rt in store._storage_types():
            if rt.kind in SKIP_KINDS:
                continue
            keys |= {
                (rt.kind, o["metadata"].get("namespace"), o["metadata"]["name"])
                for o in store.list(rt, Selector(None))[0]
            }
    return keys


def deletes(emulator):
    """Delete requests that were carried out (dry runs excluded)."""
    return [
        r for r in emulator.requests
        if r.verb in ("delete", "deletecollection") and "dryRun=All" not in r.path and r.status < 400
    ]  # fmt: skip


def writes(emulator):
    return [r for r in emulator.requests if r.verb in WRITE_VERBS and "dryRun=All" not in r.path and r.status < 400]
