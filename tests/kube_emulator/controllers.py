"""Simulated controllers: CloudNativePG, Deployments/StatefulSets, PVC binding, authentik outposts
(and, in gateway.py, the Gateway API).

They run on the server's event loop, react to store events, and write through the same store API
the HTTP handlers use (so their writes bump resourceVersions and reach watches).
"""

import copy
import hashlib
import json
import re
import secrets
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

import yaml

from .cnpg_webhook import DEFAULT_IMAGE_NAME, default_cluster, image_major_version
from .errors import ApiError
from .store import Selector, WriteOptions, clone, parse_label_selector

CNPG_API = "postgresql.cnpg.io/v1"
HEALTHY = "Cluster in healthy state"
FIRST_PRIMARY = "Setting up primary"
CREATING_REPLICA = "Creating a new replica"
WAITING = "Waiting for the instances to become active"
UPGRADING = "Upgrading cluster"
PRIMARY_RESTART = "Primary instance is being restarted without a switchover"
MAJOR_UPGRADE = "Upgrading Postgres major version"
IMAGE_ERROR = "Cluster has incomplete or invalid image catalog"
PVC_STATUS = "cnpg.io/pvcStatus"
POD_SPEC = "cnpg.io/podSpec"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# authentik_version() at the commit the blueprint schema is pinned to (scripts/fetch_schemas.py)
AUTHENTIK_VERSION = "2026.8.0-rc1"


def _now():
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


def _owner(obj, block=True):
    """A controller owner reference; `block=False` as CloudNativePG's SetAsOwnedBy writes it."""
    ref = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
    }
    return dict(ref, blockOwnerDeletion=True) if block else ref


class Controller:
    name = ""
    watches = ()  # (group, plural) storage keys that trigger a reconcile

    def __init__(self, emulator, enabled=True):
        self.emu = emulator
        self.store = emulator.store
        self.enabled = enabled
        self._timers = {}

    # scheduling: everything runs on the emulator's loop
    def on_event(self, etype, rt, obj):
        if self.enabled and rt.key in self.watches and self.emu.loop is not None:
            self.emu.loop.call_soon_threadsafe(self._safe, self.react, etype, rt, clone(obj))

    def resync(self):
        """React to every existing object, as a controller does when it starts."""
        for rt in {rt.key: rt for rt in self.store.all_types() if rt.key in self.watches}.values():
            for obj in self.store.list(rt)[0]:
                self.on_event("ADDED", rt, obj)

    def _safe(self, fn, *args):
        try:
            fn(*args)
        except ApiError:
            pass  # the object went away or changed under us; the next event brings us back

    def later(self, key, delay, fn):
        if key in self._timers:
            return

        def run():
            self._timers.pop(key, None)
            if self.enabled:
                self._safe(fn)

        self._timers[key] = self.emu.loop.call_later(delay, run)

    def react(self, etype, rt, obj):
        raise NotImplementedError

    def type(self, api_version, kind):
        return self.store.find_kind(api_version, kind)

    def get(self, api_version, kind, namespace, name):
        try:
            return self.store.get(self.type(api_version, kind), namespace, name)
        except ApiError:
            return None

    def ensure(self, obj):
        """Create obj unless it exists (controllers own these objects; they do not fight users)."""
        rt = self.type(obj["apiVersion"], obj["kind"])
        try:
            return self.store.create(rt, obj, options=self._options())
        except ApiError as error:
            if error.code != 409:
                raise
            return self.store.get(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"])

    def set_status(self, obj, status):
        rt = self.type(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        return self.store.patch(
            rt, meta.get("namespace"), meta["name"], "merge", {"status": status}, self._options(), "status"
        )

    def _options(self):
        return WriteOptions(field_manager=f"{self.name}-controller", field_validation="Ignore")


# -- CloudNativePG ------------------------------------------------------------------------------
# Phase strings: api/v1/cluster_types.go (the Phase* constants) of CloudNativePG 1.30.0.
class CnpgController(Controller):
    """CloudNativePG's Cluster reconciler, its instance manager and the kubelet of its instances.

    Like the operator, it reacts to every event of a Cluster (and of Secrets and PVCs) and
    decides from the state of the world, not from anything it wrote into the Cluster: the
    instance PVCs (their ``cnpg.io/pvcStatus`` annotation says whether the job that fills them
    is done), the instance Pods (their ``cnpg.io/podSpec`` annotation says which spec they
    run) and the status fields the operator itself keeps (image, target primary). Each step
    does what one pass of the operator's loop does up to its first requeue, then lets the world
    move one tick (jobs finish, pods start). Field by field sources: status_sources.py.
    """

    name = "cnpg"
    watches = (("postgresql.cnpg.io", "clusters"), ("", "secrets"), ("", "persistentvolumeclaims"))

    def __init__(self, emulator, enabled=True, delay=0.5):
        super().__init__(emulator, enabled)
        self.delay = delay
        self._failure = None  # (phase, reason, remaining or None)
        # The generation a Cluster failed at (fail_with): the operator is not retried until the
        # spec changes. Kept here, in the controller's memory, as an operator keeps its own state.
        self._failed_at = {}
        # The operator's defaulting webhook (cnpg_webhook.py): on while the controller is.
        self.store.mutators.setdefault(("postgresql.cnpg.io", "clusters"), []).append(self.admit)

    def admit(self, obj, old):
        if self.enabled:
            default_cluster(obj)

    def fail_with(self, phase, reason, times=None):
        """Clusters end in `phase` with `reason` instead of becoming healthy (`times` clusters, or all),
        and stay there until their spec changes."""
        self._failure = (phase, reason, times)

    def clear_failure(self):
        self._failure = None

    # -- scheduling -----------------------------------------------------------------------------
    def react(self, etype, rt, obj):
        namespace = obj["metadata"].get("namespace")
        if rt.plural == "clusters":
            key = (namespace, obj["metadata"]["name"])
            if etype == "DELETED":
                self._failed_at.pop(key, None)
                return
            self._image(*key)  # reconcileImage runs first in every pass: the image is copied at once
            self._schedule(*key)
            return
        for cluster in self.store.list(self.type(CNPG_API, "Cluster"), Selector(namespace))[0]:
            self._schedule(namespace, cluster["metadata"]["name"])

    def _schedule(self, namespace, name):
        self.later((namespace, name), self.delay, lambda: self.step(namespace, name))

    def _cluster(self, namespace, name):
        cluster = self.get(CNPG_API, "Cluster", namespace, name)
        if cluster is None or cluster["metadata"].get("deletionTimestamp"):
            return None
        return cluster

    def step(self, namespace, name):
        """One pass of the operator's loop, then one tick of the world; again later while work remains."""
        cluster = self._cluster(namespace, name)
        if cluster is None:
            return
        generation = cluster["metadata"]["generation"]
        if self._failed_at.get((namespace, name)) == generation:
            return
        self._failed_at.pop((namespace, name), None)
        # The world moves between passes: what this pass creates starts at the next tick.
        waiting = {("Pod", n) for n, p in self._pods(cluster).items() if _pod_phase(p) == "Pending"}
        waiting |= {("PersistentVolumeClaim", p["metadata"]["name"]) for p in self._pvcs(cluster).values()}
        busy = self._reconcile(cluster)
        cluster = self._cluster(namespace, name)
        if cluster is not None and (self._tick(cluster, waiting) or busy):
            self._schedule(namespace, name)

    # -- the Cluster's status -------------------------------------------------------------------
    def _write_status(self, cluster, status):
        """Write `status` as the operator does (a merge patch of what changed, MergeFrom)."""
        patch = _merge_diff(cluster.get("status") or {}, status)
        if patch:
            self.set_status(cluster, patch)

    def _register_phase(self, cluster, phase, reason=""):
        """RegisterPhase: phase, phaseReason and the Ready condition (SetClusterReadyCondition)."""
        status = clone(cluster.get("status") or {})
        status["phase"], status["phaseReason"] = phase, reason or None
        healthy = phase == HEALTHY
        ready = {
            "type": "Ready",
            "status": "True" if healthy else "False",
            "reason": "ClusterIsReady" if healthy else "ClusterIsNotReady",
            "message": "Cluster is Ready" if healthy else "Cluster Is Not Ready",
        }
        status["conditions"] = _set_condition(status.get("conditions") or [], ready)
        self._write_status(cluster, status)

    def _image(self, namespace, name):
        """reconcileImage: copy the requested image into status.image (and pgDataImageInfo)."""
        cluster = self._cluster(namespace, name)
        if cluster is None:
            return
        status = clone(cluster.get("status") or {})
        image = (cluster.get("spec") or {}).get("imageName") or DEFAULT_IMAGE_NAME
        major = image_major_version(image)
        if major is None:
            self._register_phase(cluster, IMAGE_ERROR, f"cannot parse version from image {image}")
            return
        running = status.get("pgDataImageInfo")
        if running and image != running.get("image") and major < running.get("majorVersion", 0):
            return  # a downgrade: the operator refuses it and keeps the running image
        if running and image != running.get("image") and major > running.get("majorVersion", 0):
            status["image"] = image  # a major upgrade: pgDataImageInfo follows once it is done
        elif not running or image != running.get("image"):
            status["image"], status["pgDataImageInfo"] = image, {"image": image, "majorVersion": major}
        self._write_status(cluster, status)

    def _resource_status(self, cluster, pods, pvcs):
        """updateResourceStatus: instances from the PVCs, readiness from the pods, the services."""
        name = cluster["metadata"]["name"]
        status = clone(cluster.get("status") or {})
        names = sorted(f"{name}-{serial}" for serial in pvcs)
        by_state = {}
        for pod_name, pod in sorted(pods.items()):
            state = "healthy" if _pod_ready(pod) else "failed"  # a Pending pod is not active
            by_state.setdefault(state, []).append(pod_name)
        status.update(instances=len(names), instanceNames=names or None, instancesStatus=by_state or None)
        status["readyInstances"] = sum(_pod_ready(p) for p in pods.values())
        status.update(writeService=f"{name}-rw", readService=f"{name}-r")
        self._write_status(cluster, status)

    # -- one pass of the operator's loop ----------------------------------------------------------
    def _reconcile(self, cluster):
        """Act as the operator's reconcile does; True when it would requeue."""
        meta, spec = cluster["metadata"], cluster.get("spec") or {}
        namespace, name = meta["namespace"], meta["name"]
        if image_major_version(spec.get("imageName") or DEFAULT_IMAGE_NAME) is None:
            return False  # reconcileImage failed (IMAGE_ERROR): the pass ends there
        self._objects(cluster)
        pods, pvcs = self._pods(cluster), self._pvcs(cluster)
        self._resource_status(cluster, pods, pvcs)
        cluster = self._cluster(namespace, name)
        status = cluster.get("status") or {}
        wanted, phase = spec.get("instances", 1), status.get("phase")

        # handleSwitchover: a primary restarted without a switchover is done once all are ready
        if phase == PRIMARY_RESTART and status.get("readyInstances") == wanted:
            return self._finish(cluster)
        # majorupgrade.Reconcile: the upgrade job runs while targetPGDataImageInfo is set
        if status.get("targetPGDataImageInfo"):
            return True
        requested = image_major_version(status.get("image") or "")
        running = (status.get("pgDataImageInfo") or {}).get("majorVersion")
        if requested and running and requested > running:
            status = clone(status)
            status["targetPGDataImageInfo"] = {"image": status["image"], "majorVersion": requested}
            self._write_status(cluster, status)
            self._register_phase(
                self._cluster(namespace, name), MAJOR_UPGRADE, f"Upgrading cluster to major version {requested}"
            )
            for pod_name in pods:
                self._delete("v1", "Pod", namespace, pod_name)
            return True
        # a job that creates an instance is running: wait for it
        if any(_annotation(pvc, PVC_STATUS) == "initializing" for pvc in pvcs.values()):
            return True
        if any(_pod_phase(pod) != "Running" for pod in pods.values()):
            if phase != PRIMARY_RESTART:
                self._register_phase(cluster, WAITING, "Some instances are not yet active. Please wait.")
            return True
        return self._reconcile_pods(cluster, pods, pvcs)

    def _reconcile_pods(self, cluster, pods, pvcs):
        meta, spec = cluster["metadata"], cluster.get("spec") or {}
        namespace, name = meta["namespace"], meta["name"]
        status = cluster.get("status") or {}
        wanted = spec.get("instances", 1)
        # ensureInstancesAreCreated: a PVC whose job is done gets its instance pod
        for serial, pvc in sorted(pvcs.items()):
            if f"{name}-{serial}" not in pods and _annotation(pvc, PVC_STATUS) == "ready":
                self._instance(cluster, serial)
                return True
        if not pvcs:  # createPrimaryInstance
            pod_name = f"{name}-1"
            self._pvc(cluster, 1)
            status = clone(status)
            status.update(targetPrimary=pod_name, targetPrimaryTimestamp=_pg_timestamp())
            self._write_status(cluster, status)
            self._register_phase(self._cluster(namespace, name), FIRST_PRIMARY, f"Creating primary instance {pod_name}")
            return True
        if sum(_pod_ready(p) for p in pods.values()) < len(pvcs):
            return True
        if len(pvcs) < wanted:  # reconcileMissingInstance, then joinReplicaInstance
            serial = next(s for s in range(1, len(pvcs) + 2) if s not in pvcs)
            self._pvc(cluster, serial)
            self._register_phase(cluster, CREATING_REPLICA, f"Creating replica {name}-{serial}-join")
            return True
        if len(pvcs) > wanted:  # scaleDownCluster: the replica with the highest serial goes
            primary = status.get("currentPrimary")
            serial = max(s for s in pvcs if f"{name}-{s}" != primary)
            self._delete("v1", "Pod", namespace, f"{name}-{serial}")
            self._delete("v1", "PersistentVolumeClaim", namespace, f"{name}-{serial}")
            return True
        # rolloutRequiredInstances: replicas first, the primary last
        desired = self._pod_spec(cluster)
        primary = status.get("currentPrimary")
        outdated = {n: r for n, r in ((n, _rollout_reason(p, desired)) for n, p in pods.items()) if r}
        for pod_name in sorted(n for n in outdated if n != primary):
            self._register_phase(cluster, UPGRADING, f"Restarting instance {pod_name}, because: {outdated[pod_name]}")
            self._delete("v1", "Pod", namespace, pod_name)
            return True
        if primary in outdated:  # primaryUpdateMethod restart (the default), not in place
            self._register_phase(cluster, PRIMARY_RESTART, outdated[primary])
            self._delete("v1", "Pod", namespace, primary)
            return True
        return self._finish(cluster)

    def _finish(self, cluster):
        """finalizeReconciliation: the healthy phase, last; then the instance manager's roles."""
        status = cluster.get("status") or {}
        if self._failure and status.get("phase") != HEALTHY:
            fail_phase, reason, times = self._failure
            self._failure = None if times == 1 else (fail_phase, reason, None if times is None else times - 1)
            self._register_phase(cluster, fail_phase, reason)
            self._failed_at[(cluster["metadata"]["namespace"], cluster["metadata"]["name"])] = cluster["metadata"][
                "generation"
            ]
            return False
        self._register_phase(cluster, HEALTHY)
        self._roles(self._cluster(cluster["metadata"]["namespace"], cluster["metadata"]["name"]))
        return False

    # -- the world: jobs finish, the kubelet starts pods, the instance manager reports ----------------
    def _tick(self, cluster, waiting):
        """Move the world one step for the (kind, name) in `waiting`; True when something changed."""
        meta = cluster["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        status = cluster.get("status") or {}
        pods, pvcs = self._pods(cluster), self._pvcs(cluster)
        changed = False
        target = status.get("targetPGDataImageInfo")
        if target and not pods:  # the major upgrade job is done
            primary = status.get("currentPrimary")
            for serial in pvcs:
                if f"{name}-{serial}" != primary:
                    self._delete("v1", "PersistentVolumeClaim", namespace, f"{name}-{serial}")
            status = clone(status)
            status.update(pgDataImageInfo=dict(target), targetPGDataImageInfo=None, timelineID=1)
            self._write_status(cluster, status)
            return True
        for serial, pvc in pvcs.items():  # a job that fills a PVC finishes once it can run
            if ("PersistentVolumeClaim", pvc["metadata"]["name"]) not in waiting:
                continue
            if _annotation(pvc, PVC_STATUS) == "initializing" and self._bound(pvc):
                first = not status.get("currentPrimary") and f"{name}-{serial}" == status.get("targetPrimary")
                if first and self._bootstrap_problem(cluster):
                    continue  # the initdb job's pod cannot start without the secret
                patch = {"metadata": {"annotations": {PVC_STATUS: "ready"}}}
                self.store.patch(
                    self.type("v1", "PersistentVolumeClaim"), namespace, pvc["metadata"]["name"], "merge", patch,
                    self._options(),
                )  # fmt: skip
                changed = True
        for pod_name, pod in pods.items():  # the kubelet starts the pods whose volume is bound
            if ("Pod", pod_name) in waiting and _pod_phase(pod) == "Pending" and self._bound(pvcs.get(_serial(pod))):
                self.set_status(pod, _pod_status(pod, ready=True))
                changed = True
                if pod_name == status.get("targetPrimary") and not status.get("currentPrimary"):
                    status = clone(status)
                    status.update(currentPrimary=pod_name, currentPrimaryTimestamp=_pg_timestamp())
                    self._write_status(self._cluster(namespace, name), status)
        return changed

    def _bound(self, pvc):
        if pvc is None:
            return False
        return not self.emu.controllers.pvc.enabled or (pvc.get("status") or {}).get("phase") == "Bound"

    def _bootstrap_problem(self, cluster):
        ref = ((((cluster.get("spec") or {}).get("bootstrap") or {}).get("initdb") or {}).get("secret") or {}).get(
            "name"
        )
        if not ref:
            return False
        secret = self.get("v1", "Secret", cluster["metadata"]["namespace"], ref)
        return secret is None or any(k not in (secret.get("data") or {}) for k in ("username", "password"))

    # -- the objects the operator creates ---------------------------------------------------------------
    def _pods(self, cluster):
        meta = cluster["metadata"]
        selector = Selector(meta["namespace"], parse_label_selector(f"cnpg.io/cluster={meta['name']}"))
        pods = self.store.list(self.type("v1", "Pod"), selector)[0]
        return {p["metadata"]["name"]: p for p in pods if not p["metadata"].get("deletionTimestamp")}

    def _pvcs(self, cluster):
        """The instance PVCs by serial (EnrichStatus counts the Pending and Bound ones)."""
        meta = cluster["metadata"]
        selector = Selector(meta["namespace"], parse_label_selector(f"cnpg.io/cluster={meta['name']}"))
        found = {}
        for pvc in self.store.list(self.type("v1", "PersistentVolumeClaim"), selector)[0]:
            serial = _annotation(pvc, "cnpg.io/nodeSerial")
            if serial and serial.isdigit() and not pvc["metadata"].get("deletionTimestamp"):
                found[int(serial)] = pvc
        return found

    def _delete(self, api_version, kind, namespace, name):
        try:
            self.store.delete(self.type(api_version, kind), namespace, name)
        except ApiError as error:
            if error.code != 404:
                raise

    def _objects(self, cluster):
        """createPostgresClusterObjects: the -rw, -ro and -r Services and, unless the bootstrap names
        its own secret, the application user's Secret."""
        meta, spec = cluster["metadata"], cluster.get("spec") or {}
        name, namespace = meta["name"], meta["namespace"]
        owned = {"labels": {"cnpg.io/cluster": name}, "ownerReferences": [_owner(cluster, block=False)]}
        selectors = {
            "rw": {"cnpg.io/cluster": name, "cnpg.io/instanceRole": "primary"},
            "ro": {"cnpg.io/cluster": name, "cnpg.io/instanceRole": "replica"},
            "r": {"cnpg.io/cluster": name, "cnpg.io/podRole": "instance"},
        }
        port = {"name": "postgres", "protocol": "TCP", "targetPort": 5432, "port": 5432}
        for suffix, selector in selectors.items():
            service_meta = {"name": f"{name}-{suffix}", "namespace": namespace, **owned}
            service = {"selector": selector, "ports": [dict(port)]}
            self.ensure({"apiVersion": "v1", "kind": "Service", "metadata": service_meta, "spec": service})
        initdb = (spec.get("bootstrap") or {}).get("initdb") or {}
        if (initdb.get("secret") or {}).get("name"):
            return  # the application secret is the user's (GetApplicationSecretName)
        user, dbname, host = initdb.get("owner") or "app", initdb.get("database") or "app", f"{name}-rw"
        password = secrets.token_urlsafe(48)
        local, fqdn = f"{host}.{namespace}:5432", f"{host}.{namespace}.svc.cluster.local:5432"
        secret_meta = {"name": f"{name}-app", "namespace": namespace, **owned}
        secret_meta["labels"] = dict(
            owned["labels"],
            **{"cnpg.io/userType": "app", "cnpg.io/reload": "true", "app.kubernetes.io/managed-by": "cloudnative-pg"},
        )
        values = {
            "username": user,
            "user": user,
            "password": password,
            "dbname": dbname,
            "host": host,
            "port": "5432",
            "pgpass": f"{host}:5432:{dbname}:{user}:{password}\n",
            "uri": f"postgresql://{user}:{password}@{local}/{dbname}",
            "jdbc-uri": f"jdbc:postgresql://{local}/{dbname}?password={password}&user={user}",
            "fqdn-uri": f"postgresql://{user}:{password}@{fqdn}/{dbname}",
            "fqdn-jdbc-uri": f"jdbc:postgresql://{fqdn}/{dbname}?password={password}&user={user}",
        }
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth", "metadata": secret_meta}
        self.ensure(dict(secret, stringData=values))

    def _pvc(self, cluster, serial):
        """An instance's PGDATA volume (persistentvolumeclaim.Build), initializing until its job is done."""
        meta, storage = cluster["metadata"], (cluster.get("spec") or {}).get("storage") or {}
        instance = f"{meta['name']}-{serial}"
        labels = {"cnpg.io/cluster": meta["name"], "cnpg.io/instanceName": instance, "cnpg.io/pvcRole": "PG_DATA"}
        pvc_meta = {
            "name": instance,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {"cnpg.io/nodeSerial": str(serial), PVC_STATUS: "initializing"},
            "ownerReferences": [_owner(cluster, block=False)],
        }
        pvc_spec = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage.get("size", "1Gi")}},
        }
        if storage.get("storageClass"):
            pvc_spec["storageClassName"] = storage["storageClass"]
        self.ensure({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": pvc_meta, "spec": pvc_spec})

    def _pod_spec(self, cluster):
        """The part of the instance PodSpec the emulator builds: the postgres container."""
        container = {"name": "postgres", "image": (cluster.get("status") or {}).get("image") or DEFAULT_IMAGE_NAME}
        resources = (cluster.get("spec") or {}).get("resources")
        if resources:
            container["resources"] = clone(resources)
        return {"containers": [container]}

    def _instance(self, cluster, serial):
        """An instance Pod (specs.NewInstance), as the API server stores it on create: Pending."""
        meta, status = cluster["metadata"], cluster.get("status") or {}
        pod_name = f"{meta['name']}-{serial}"
        role = "primary" if pod_name == (status.get("currentPrimary") or status.get("targetPrimary")) else "replica"
        labels = {"cnpg.io/cluster": meta["name"], "cnpg.io/instanceName": pod_name, "cnpg.io/podRole": "instance"}
        labels.update({"cnpg.io/instanceRole": role, "role": role})
        spec = self._pod_spec(cluster)
        annotations = {"cnpg.io/nodeSerial": str(serial), POD_SPEC: json.dumps(spec, sort_keys=True)}
        pod_meta = {"name": pod_name, "namespace": meta["namespace"], "labels": labels, "annotations": annotations}
        pod_meta["ownerReferences"] = [_owner(cluster)]
        pod = self.ensure(
            {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": dict(spec, nodeName="kube-emulator")}
        )
        self.set_status(pod, {"phase": "Pending", "qosClass": _qos_class(spec)})

    # -- the instance manager's managed roles ---------------------------------------------------------------
    def _roles(self, cluster):
        """Record each managed role's password Secret resourceVersion, as the instance manager does once applied."""
        roles = ((cluster.get("spec") or {}).get("managed") or {}).get("roles") or []
        if not roles:
            return
        namespace = cluster["metadata"]["namespace"]
        current = ((cluster.get("status") or {}).get("managedRolesStatus") or {}).get("passwordStatus") or {}
        passwords, reconciled, failing = {}, [], {}
        for role in roles:
            ref = (role.get("passwordSecret") or {}).get("name")
            secret = self.get("v1", "Secret", namespace, ref) if ref else None
            if ref and secret is None:
                failing[role["name"]] = [f'secret "{ref}" not found']
                continue
            reconciled.append(role["name"])
            if secret is not None:
                rv = secret["metadata"]["resourceVersion"]
                previous = current.get(role["name"]) or {}
                txid = previous.get("transactionID", 0) + (previous.get("resourceVersion") != rv)
                passwords[role["name"]] = {"resourceVersion": rv, "transactionID": txid}
        status = {"byStatus": {"reconciled": reconciled}}
        if passwords:
            status["passwordStatus"] = passwords
        if failing:
            status["cannotReconcile"] = failing
        if status != (cluster.get("status") or {}).get("managedRolesStatus"):
            meta = cluster["metadata"]
            op = [{"op": "add", "path": "/status/managedRolesStatus", "value": status}]
            rt = self.type(CNPG_API, "Cluster")
            self.store.patch(rt, meta["namespace"], meta["name"], "json", op, self._options(), "status")


def _annotation(obj, key):
    return (obj["metadata"].get("annotations") or {}).get(key)


def _serial(pod):
    serial = _annotation(pod, "cnpg.io/nodeSerial")
    return int(serial) if serial and serial.isdigit() else None


def _pod_phase(pod):
    return (pod.get("status") or {}).get("phase") or "Pending"


def _pod_ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _rollout_reason(pod, desired):
    """Why an instance needs a new pod (isPodNeedingRollout), or None."""
    if not _pod_ready(pod):
        return None
    try:
        running = json.loads(_annotation(pod, POD_SPEC) or "{}")
    except ValueError:
        running = {}
    old = ((running.get("containers") or [{}])[0]).get("image")
    new = desired["containers"][0]["image"]
    if old != new:
        return f"the instance is using a different image: {old} -> {new}"
    if running != desired:
        return "original and target PodSpec differ in containers: container postgres differs in resources"
    return None


def _qos_class(spec):
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    return "Burstable" if any(r.get("requests") or r.get("limits") for r in resources) else "BestEffort"


def _pg_timestamp():
    """pgTime.GetCurrentTimestamp: PostgreSQL's timestamp format."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ")


def _set_condition(conditions, condition):
    """meta.SetStatusCondition: replace in place; lastTransitionTime only changes when the status does."""
    conditions = [dict(c) for c in conditions]
    for existing in conditions:
        if existing.get("type") == condition["type"]:
            stamp = existing.get("lastTransitionTime") if existing.get("status") == condition["status"] else None
            existing.clear()
            existing.update(condition, lastTransitionTime=stamp or _now())
            return conditions
    return [*conditions, dict(condition, lastTransitionTime=_now())]


def _merge_diff(old, new):
    """The JSON merge patch that turns `old` into `new` (None deletes), as controller-runtime's MergeFrom."""
    patch = {}
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            nested = _merge_diff(before, after)
            if nested:
                patch[key] = nested
        else:
            patch[key] = after
    return patch


# -- Deployments and StatefulSets ---------------------------------------------------------------
class WorkloadController(Controller):
    """Deployments (through a ReplicaSet) and StatefulSets: Pods that are Running and Ready, and status."""

    name = "workloads"
    watches = (("apps", "deployments"), ("apps", "statefulsets"), ("", "persistentvolumeclaims"))

    def __init__(self, emulator, enabled=True, delay=0.2):
        super().__init__(emulator, enabled)
        self.delay = delay
        self.rollouts = {}  # (kind, namespace, name) -> [pod template hashes, in rollout order]

    def react(self, etype, rt, obj):
        if etype == "DELETED":
            return
        namespace = obj["metadata"].get("namespace")
        if rt.plural == "persistentvolumeclaims":  # a volume bound: statefulsets may now be ready
            for sts in self.store.list(self.type("apps/v1", "StatefulSet"), Selector(namespace))[0]:
                key = ("StatefulSet", namespace, sts["metadata"]["name"])
                self.later(key, self.delay, lambda s=sts: self.reconcile(s))
            return
        self.later((obj["kind"], namespace, obj["metadata"]["name"]), self.delay, lambda: self.reconcile(obj))

    def reconcile(self, seen):
        kind, meta = seen["kind"], seen["metadata"]
        obj = self.get("apps/v1", kind, meta.get("namespace"), meta["name"])
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        name, spec = meta["name"], obj["spec"]
        template_hash = _hash(spec.get("template"))
        history = self.rollouts.setdefault((kind, meta.get("namespace"), name), [])
        if not history or history[-1] != template_hash:
            history.append(template_hash)
        replicas = spec.get("replicas", 1)
        status = {
            "observedGeneration": obj["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
        }
        if kind == "StatefulSet":
            ready = 0 if self._unbound_claims(obj) else replicas
            template = _with_labels(spec.get("template"), {"controller-revision-hash": f"{name}-{template_hash}"})
            self._pods(obj, template, [f"{name}-{i}" for i in range(replicas)], ready=bool(ready))
            revision = f"{name}-{template_hash}"
            status.update(readyReplicas=ready, availableReplicas=ready, currentReplicas=replicas)
            status.update(currentRevision=revision, updateRevision=revision, collisionCount=0)
        else:
            rs_name = self._replica_set(obj, template_hash, replicas, revision=len(history))
            status.update(readyReplicas=replicas, availableReplicas=replicas)
            status["conditions"] = [
                self._condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                self._condition(
                    "Progressing", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'
                ),
            ]
        current = obj.get("status") or {}
        if any(current.get(k) != v for k, v in status.items() if k != "conditions") or (
            "conditions" in status and not current.get("conditions")
        ):
            self.set_status(obj, status)

    @staticmethod
    def _condition(ctype, reason, message):
        stamp = _now()
        condition = {"type": ctype, "status": "True", "reason": reason, "message": message}
        return dict(condition, lastUpdateTime=stamp, lastTransitionTime=stamp)

    def _replica_set(self, deployment, template_hash, replicas, revision):
        """The ReplicaSet helm's --wait looks for (owned by the Deployment, same pod template), and its Pods."""
        meta = deployment["metadata"]
        rs_rt = self.type("apps/v1", "ReplicaSet")
        name = f"{meta['name']}-{template_hash}"
        template = _with_labels(deployment["spec"].get("template"), {"pod-template-hash": template_hash})
        selector = copy.deepcopy(deployment["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
        annotations = {"deployment.kubernetes.io/revision": str(revision)}
        rs = self.ensure(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "labels": template["metadata"]["labels"],
                    "annotations": annotations,
                    "ownerReferences": [_owner(deployment)],
                },
                "spec": {"replicas": replicas, "selector": selector, "template": template},
            }
        )
        for other in self.store.list(rs_rt, Selector(meta["namespace"]))[0]:
            if any(r.get("uid") == meta["uid"] for r in other["metadata"].get("ownerReferences") or []):
                want = replicas if other["metadata"]["name"] == name else 0
                if other["spec"].get("replicas") != want:
                    patch = {"spec": {"replicas": want}}
                    other = self.store.patch(
                        rs_rt, meta["namespace"], other["metadata"]["name"], "merge", patch, self._options()
                    )
                self._pods(other, other["spec"]["template"], want, ready=True)
                counts = {
                    "replicas": want,
                    "readyReplicas": want,
                    "availableReplicas": want,
                    "fullyLabeledReplicas": want,
                }
                self.set_status(other, dict(counts, observedGeneration=other["metadata"]["generation"]))
        if (deployment["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision") != str(revision):
            patch = {"metadata": {"annotations": annotations}}
            self.store.patch(
                self.type("apps/v1", "Deployment"), meta["namespace"], meta["name"], "merge", patch, self._options()
            )
        return rs["metadata"]["name"]

    def _pods(self, owner, template, names, ready):
        """Make the owner's Pods match: `names` (a list, StatefulSet) or a count (ReplicaSet)."""
        pod_rt = self.type("v1", "Pod")
        namespace, uid = owner["metadata"]["namespace"], owner["metadata"]["uid"]
        pods = [
            p
            for p in self.store.list(pod_rt, Selector(namespace))[0]
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        ]
        labels = template["metadata"]["labels"]
        if isinstance(names, int):  # a ReplicaSet keeps any Pods it has, up to the count
            keep = [p["metadata"]["name"] for p in pods][:names]
            base = owner["metadata"]["name"]
            names = keep + [f"{base}-{secrets.token_hex(3)[:5]}" for _ in range(names - len(keep))]
        for pod in pods:  # gone, or of an older revision (StatefulSets replace Pods in place)
            outdated = any(pod["metadata"].get("labels", {}).get(k) != v for k, v in labels.items())
            if pod["metadata"]["name"] not in names or outdated:
                self.store.delete(pod_rt, namespace, pod["metadata"]["name"])
        for name in names:
            pod_labels = dict(
                labels, **({"statefulset.kubernetes.io/pod-name": name} if owner["kind"] == "StatefulSet" else {})
            )
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": pod_labels,
                    "ownerReferences": [_owner(owner)],
                },
                "spec": dict(copy.deepcopy(template.get("spec") or {}), nodeName="kube-emulator"),
            }
            if template["metadata"].get("annotations"):
                body["metadata"]["annotations"] = dict(template["metadata"]["annotations"])
            pod = self.ensure(body)
            status = _pod_status(pod, ready)
            if (pod.get("status") or {}).get("phase") != status["phase"]:
                self.set_status(pod, status)

    def _unbound_claims(self, sts):
        if not self.emu.controllers.pvc.enabled:
            return False
        meta, spec = sts["metadata"], sts["spec"]
        unbound = False
        for template in spec.get("volumeClaimTemplates") or []:
            for i in range(spec.get("replicas", 1)):
                claim_meta = {
                    "name": f"{template['metadata']['name']}-{meta['name']}-{i}",
                    "namespace": meta["namespace"],
                }
                claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": claim_meta}
                pvc = self.ensure(dict(claim, spec=copy.deepcopy(template.get("spec") or {})))
                unbound |= (pvc.get("status") or {}).get("phase") != "Bound"
        return unbound


def _with_labels(template, labels):
    template = copy.deepcopy(template or {})
    template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    return template


def _pod_status(pod, ready):
    """A Running and Ready Pod, or one Pending on its volumes."""
    stamp = _now()
    if not ready:
        message = "pod has unbound immediate PersistentVolumeClaims"
        scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        return {"phase": "Pending", "conditions": [dict(scheduled, lastTransitionTime=stamp)], "qosClass": "BestEffort"}
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": stamp}
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    containers = [
        {
            "name": c.get("name", ""),
            "image": c.get("image", ""),
            "imageID": "",
            "containerID": f"containerd://{_hash([pod['metadata']['uid'], c.get('name')])}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": stamp}},
        }
        for c in pod["spec"].get("containers") or []
    ]
    return {
        "phase": "Running",
        "conditions": conditions,
        "containerStatuses": containers,
        "hostIP": "10.0.0.10",
        "podIP": "10.244.0.10",
        "startTime": stamp,
        "qosClass": "BestEffort",
    }


# -- PVC binding ----------------------------------------------------------------------------------
class PvcController(Controller):
    name = "pvc"
    watches = (("", "persistentvolumeclaims"), ("storage.k8s.io", "storageclasses"))

    def react(self, etype, rt, obj):
        if etype == "DELETED":
            return
        if rt.plural == "storageclasses":
            for pvc in self.store.list(self.type("v1", "PersistentVolumeClaim"))[0]:
                self.bind(pvc)
        else:
            self.bind(obj)

    def bind(self, pvc):
        if (pvc.get("status") or {}).get("phase") == "Bound" or pvc["metadata"].get("deletionTimestamp"):
            return
        classes = self.store.list(self.type("storage.k8s.io/v1", "StorageClass"))[0]
        wanted = (pvc.get("spec") or {}).get("storageClassName")
        if wanted is None:
            default = [
                c for c in classes if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
            ]
            wanted = default[0]["metadata"]["name"] if default else None
        if wanted is None or wanted not in {c["metadata"]["name"] for c in classes}:
            return  # stays Pending, as with no provisioner
        pvc_rt = self.type("v1", "PersistentVolumeClaim")
        meta, spec = pvc["metadata"], pvc.get("spec") or {}
        volume = f"pvc-{meta['uid']}"
        patch = {"spec": {"storageClassName": wanted, "volumeName": volume}}
        patch["metadata"] = {"annotations": {"pv.kubernetes.io/bind-completed": "yes"}}
        pvc = self.store.patch(pvc_rt, meta["namespace"], meta["name"], "merge", patch, self._options())
        capacity = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        self.set_status(
            pvc,
            {
                "phase": "Bound",
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "capacity": {"storage": capacity},
            },
        )


# -- authentik outposts -------------------------------------------------------------------------
class _AnyTagLoader(yaml.SafeLoader):
    """Blueprints use custom tags (!Find, !KeyOf, ...): load any of them as a placeholder."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: f"<{suffix}>")


class AuthentikController(Controller):
    name = "authentik"
    watches = (("", "configmaps"),)

    def react(self, etype, rt, obj):
        if etype == "DELETED":
            return
        for value in (obj.get("data") or {}).values():
            try:
                blueprint = yaml.load(value, Loader=_AnyTagLoader)  # noqa: S506 - SafeLoader subclass
            except yaml.YAMLError:
                continue
            if isinstance(blueprint, dict) and isinstance(blueprint.get("entries"), list):
                self._outposts(obj, blueprint["entries"])

    def _outposts(self, configmap, entries):
        providers = [
            e.get("attrs") or {}
            for e in entries
            if isinstance(e, dict) and e.get("model") == "authentik_providers_proxy.proxyprovider"
        ]
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("model") != "authentik_outposts.outpost":
                continue
            attrs = entry.get("attrs") or {}
            config = attrs.get("config") or {}
            outpost_name = str(attrs.get("name") or (entry.get("identifiers") or {}).get("name", "outpost"))
            self._outpost(configmap, outpost_name, str(attrs.get("type", "proxy")), config, providers)

    def _outpost(self, configmap, outpost_name, outpost_type, config, providers):
        """What KubernetesController.up reconciles for one outpost: Deployment, Service, HTTPRoute."""
        slug = _slugify(outpost_name)
        # authentik generates the outpost's uuid when it creates it; the blueprint names none
        outpost_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"authentik-outpost:{outpost_name}").hex
        name = _slugify(str(config.get("object_naming_template") or "ak-outpost-%(name)s") % {"name": slug})[:63]
        namespace = config.get("kubernetes_namespace") or configmap["metadata"]["namespace"]
        labels = {  # KubernetesObjectReconciler.get_object_meta
            "app.kubernetes.io/instance": slug,
            "app.kubernetes.io/managed-by": "goauthentik.io",
            "app.kubernetes.io/name": f"authentik-{outpost_type.lower()}",
            "app.kubernetes.io/version": AUTHENTIK_VERSION,
            "goauthentik.io/outpost-name": slug,
            "goauthentik.io/outpost-type": outpost_type,
            "goauthentik.io/outpost-uuid": outpost_uuid,
        }
        pod_labels = {  # DeploymentReconciler.get_pod_meta
            "app.kubernetes.io/name": f"authentik-outpost-{outpost_type}",
            "app.kubernetes.io/managed-by": "goauthentik.io",
            "goauthentik.io/outpost-uuid": outpost_uuid,
            "goauthentik.io/outpost-name": slug,
            "goauthentik.io/outpost-type": outpost_type,
        }
        template_labels = dict(
            pod_labels, **{"app.kubernetes.io/version": AUTHENTIK_VERSION, "app": "authentik-outpost"}
        )
        template_labels["version"] = AUTHENTIK_VERSION
        meta = {"name": name, "namespace": namespace, "labels": labels}
        ports = [(9000, "http"), (9443, "https")]  # the proxy's deployment_ports
        container = {
            "name": outpost_type,
            "image": f"ghcr.io/goauthentik/{outpost_type}:{AUTHENTIK_VERSION}",
            "ports": [{"containerPort": port, "name": port_name, "protocol": "TCP"} for port, port_name in ports],
        }
        deployment = {
            "replicas": config.get("kubernetes_replicas", 1),
            "selector": {"matchLabels": pod_labels},
            "template": {"metadata": {"labels": template_labels}, "spec": {"containers": [container]}},
        }
        self.ensure({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": deployment})
        service = {
            "ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": p} for p, n in ports],
            "selector": pod_labels,
            "type": config.get("kubernetes_service_type", "ClusterIP"),
        }
        self.ensure({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": service})
        parents = config.get("kubernetes_httproute_parent_refs")
        if parents and self.store.lookup("gateway.networking.k8s.io", "v1", "httproutes"):
            self.ensure(_outpost_route(meta, parents, providers))


def _slugify(text):
    """Django's slugify (ASCII): drop what is not a word character, space or hyphen; hyphenate."""
    text = re.sub(r"[^\w\s-]", "", text.lower())
    return re.sub(r"[-\s]+", "-", text).strip("-_")


def _outpost_route(meta, parents, providers):
    """HTTPRouteReconciler.get_reference_object: one rule per proxy provider, matched on its host."""
    hostnames, rules = [], []
    for provider in providers:
        external = provider.get("external_host")
        if not isinstance(external, str) or external.startswith("<"):
            continue  # a blueprint tag: the host is only known inside authentik
        host = urlparse(external).hostname
        forward = provider.get("mode") in ("forward_single", "forward_domain")
        path = {"type": "PathPrefix", "value": "/outpost.goauthentik.io" if forward else "/"}
        match = {"headers": [{"name": "Host", "value": host, "type": "Exact"}], "path": path}
        rules.append({"backendRefs": [{"name": meta["name"], "port": 9000}], "matches": [match]})
        hostnames.append(host)
    refs = [
        {"kind": "Gateway", "group": "gateway.networking.k8s.io", **{k: v for k, v in ref.items() if v is not None}}
        for ref in parents
    ]
    spec = {"parentRefs": refs, "hostnames": hostnames, "rules": rules}
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": meta, "spec": spec}


class Controllers:
    """The switchable set: emu.controllers.cnpg, .workloads, .pvc, .authentik, .gateway."""

    NAMES = ("cnpg", "workloads", "pvc", "authentik", "gateway")

    def __init__(self, emulator, enabled, cnpg_delay, workload_delay):
        self.cnpg = CnpgController(emulator, "cnpg" in enabled, cnpg_delay)
        self.workloads = WorkloadController(emulator, "workloads" in enabled, workload_delay)
        self.pvc = PvcController(emulator, "pvc" in enabled)
        self.authentik = AuthentikController(emulator, "authentik" in enabled)
        from .gateway import GatewayController  # it builds on this module's Controller

        self.gateway = GatewayController(emulator, "gateway" in enabled)
        for controller in self.all():
            emulator.store.listeners.append(controller.on_event)

    def all(self):
        return [self.cnpg, self.workloads, self.pvc, self.authentik, self.gateway]

    def get(self, name):
        if name not in self.NAMES:
            raise KeyError(f"unknown controller {name!r}; known: {', '.join(self.NAMES)}")
        return getattr(self, name)

    def set_enabled(self, name, enabled):
        controller = self.get(name)
        was, controller.enabled = controller.enabled, bool(enabled)
        if controller.enabled and not was:
            controller.resync()

    def resync(self):
        for controller in self.all():
            controller.resync()
