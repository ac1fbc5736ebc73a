"""Helpers of the day-2 suites (status, teardown, faults): clones of a converged cluster, and what
a real cluster adds that the emulator does not run (kubelet pods, the Gateway controller's route
status, an endpoint for the API server's service proxy where no MLflow runs).
"""

import contextlib
import json
from pathlib import Path

from tests.harness.endpoints import StandIn
from tests.integration.conftest import CRDS, INVENTORY, STORAGE_CLASSES, site_env
from tests.kube_emulator import KubeEmulator
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
    """The instance pods CloudNativePG runs, where the emulated cluster has none (the emulator's CNPG
    controller makes them as the Cluster comes up; a clone taken without them has none)."""
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
    """What the Gateway controller (cilium) records once it accepts an HTTPRoute. Gateway API
    conditions carry the generation they describe (the conformance suite's
    ConditionsHaveLatestObservedGeneration, gateway-api v1.6.1), unlike CloudNativePG's."""
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


def mlflow_health_stand_in():
    """STAND-IN for MLflow's pods behind the mlflow Service, where a suite runs no MLflow: answers
    only ``/health``, ``OK`` (200, Flask's text/html for a str) as MLflow's handler does (mlflow
    server/__init__.py ``health``; MLflow's host check exempts /health, server/security_utils.py
    HEALTH_ENDPOINTS, so any Host is answered). It does not follow pod readiness: the suites using
    it have MLflow's pods ready."""
    return StandIn({"/health": lambda: (200, "text/html; charset=utf-8", b"OK")})


@contextlib.contextmanager
def mlflow_endpoint(emulator, namespace="mlflow", name="mlflow"):
    """While active, ``mlflow_health_stand_in`` is the registered endpoint of Service
    ``namespace/name`` for ``emulator``'s Service proxy subresource (tests/kube_emulator/service_proxy.py),
    which answers everything else as the API server would (404 without the Service, 503 without an
    endpoint). Yields the stand-in (its ``requests``)."""
    stand_in = mlflow_health_stand_in().start()
    emulator.service_proxy.register(namespace, name, stand_in.address)
    try:
        yield stand_in
    finally:
        emulator.service_proxy.unregister(namespace, name)
        stand_in.stop()


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
    return [
        r
        for r in emulator.requests
        if r.verb in WRITE_VERBS and "dryRun=All" not in r.path and r.status < 400 and r.wrote
    ]
