"""Simulated controllers: CloudNativePG, Deployments/StatefulSets, PVC binding, authentik outposts
(and, in gateway.py, the Gateway API).

They run on the server's event loop, react to store events, and write through the same store API
the HTTP handlers use (so their writes bump resourceVersions and reach watches).
"""

import base64
import copy
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime

import yaml

from .cnpg_webhook import default_cluster
from .errors import ApiError
from .store import Selector, WriteOptions, clone, parse_label_selector

HEALTHY = "Cluster in healthy state"
FIRST_PRIMARY = "Setting up primary"
WAITING = "Waiting for the instances to become active"
APPLYING = "Applying configuration"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def _now():
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


def _owner(obj):
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


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
class CnpgController(Controller):
    name = "cnpg"
    watches = (("postgresql.cnpg.io", "clusters"), ("", "secrets"), ("", "persistentvolumeclaims"))

    def __init__(self, emulator, enabled=True, delay=0.5):
        super().__init__(emulator, enabled)
        self.delay = delay
        self._failure = None  # (phase, reason, remaining or None)
        # The operator's defaulting webhook (cnpg_webhook.py): on while the controller is.
        self.store.mutators.setdefault(("postgresql.cnpg.io", "clusters"), []).append(self.admit)

    def admit(self, obj, old):
        if self.enabled:
            default_cluster(obj)

    def fail_with(self, phase, reason, times=None):
        """Clusters end in `phase` with `reason` instead of becoming healthy (`times` clusters, or all)."""
        self._failure = (phase, reason, times)

    def clear_failure(self):
        self._failure = None

    def react(self, etype, rt, obj):
        namespace = obj["metadata"].get("namespace")
        if rt.plural == "clusters":
            if etype != "DELETED":
                self.reconcile(namespace, obj["metadata"]["name"], advance=False)
            return
        # a Secret or PVC changed: revisit the clusters of its namespace
        for cluster in self.store.list(self.type("postgresql.cnpg.io/v1", "Cluster"), Selector(namespace))[0]:
            self.reconcile(namespace, cluster["metadata"]["name"], advance=False)

    def reconcile(self, namespace, name, advance):
        cluster = self.get("postgresql.cnpg.io/v1", "Cluster", namespace, name)
        if cluster is None or cluster["metadata"].get("deletionTimestamp"):
            return
        status = cluster.get("status") or {}
        phase, generation = status.get("phase"), cluster["metadata"]["generation"]
        ready_generation = next(
            (c.get("observedGeneration") for c in status.get("conditions", ()) if c["type"] == "Ready"), None
        )
        if phase in (None, FIRST_PRIMARY):
            # the operator needs the bootstrap secret and bound volumes only to initialise the primary
            problem = self._bootstrap_problem(cluster) or self._unbound_pvcs(cluster)
            if problem:
                self._phase(cluster, FIRST_PRIMARY, problem)
                return  # a Secret or PVC event brings us back
            if phase is None or status.get("phaseReason"):
                self._phase(cluster, FIRST_PRIMARY, "")  # starting, or no longer blocked
            elif advance:
                self._advance(cluster, phase)
        elif phase not in (WAITING, APPLYING):  # healthy, or a failure phase
            if ready_generation == generation:
                if phase == HEALTHY:
                    self._roles(cluster)
                return
            self._phase(cluster, APPLYING, "")
        elif advance:
            self._advance(cluster, phase)
        status = (self.get("postgresql.cnpg.io/v1", "Cluster", namespace, name) or {}).get("status") or {}
        if status.get("phase") in (FIRST_PRIMARY, WAITING, APPLYING) and not status.get("phaseReason"):
            self.later((namespace, name), self.delay, lambda: self.reconcile(namespace, name, advance=True))

    def _advance(self, cluster, phase):
        if phase == FIRST_PRIMARY:
            self._objects(cluster)
            unbound = self._unbound_pvcs(cluster)
            if unbound:
                self._phase(cluster, FIRST_PRIMARY, unbound)
                return
            self._phase(cluster, WAITING, "")
        elif phase == APPLYING:
            self._phase(cluster, WAITING, "")
        elif phase == WAITING:
            if self._failure:
                fail_phase, reason, times = self._failure
                self._failure = None if times == 1 else (fail_phase, reason, None if times is None else times - 1)
                self._phase(cluster, fail_phase, reason, observed=True)
                return
            self._instances(cluster, ready=True)
            self._phase(cluster, HEALTHY, "", observed=True)
            self._roles(
                self.get(
                    "postgresql.cnpg.io/v1", "Cluster", cluster["metadata"]["namespace"], cluster["metadata"]["name"]
                )
            )

    def _phase(self, cluster, phase, reason, observed=False):
        meta, spec = cluster["metadata"], cluster.get("spec") or {}
        status = cluster.get("status") or {}
        if status.get("phase") == phase and status.get("phaseReason", "") == reason and not observed:
            return
        instances = spec.get("instances", 1)
        healthy = phase == HEALTHY
        ready = {
            "type": "Ready",
            "status": "True" if healthy else "False",
            "reason": "ClusterIsReady" if healthy else "ClusterIsNotReady",
            "message": "Cluster is Ready" if healthy else "Cluster Is Not Ready",
            "lastTransitionTime": _now(),
            "observedGeneration": meta["generation"],
        }
        pods = [f"{meta['name']}-{i}" for i in range(1, instances + 1)]
        new = {"phase": phase, "phaseReason": reason or None, "conditions": [ready]}
        if phase != FIRST_PRIMARY or status.get("instances"):
            new.update(
                instances=instances,
                readyInstances=instances if healthy else 0,
                currentPrimary=pods[0],
                targetPrimary=pods[0],
                writeService=f"{meta['name']}-rw",
                readService=f"{meta['name']}-r",
                instanceNames=pods,
                instancesStatus={"healthy": pods} if healthy else {"pending": pods},
                latestGeneratedNode=instances,
            )
        else:
            new.update(instances=0, readyInstances=0)
        self.set_status(cluster, new)

    def _bootstrap_problem(self, cluster):
        ref = ((((cluster.get("spec") or {}).get("bootstrap") or {}).get("initdb") or {}).get("secret") or {}).get(
            "name"
        )
        if not ref:
            return ""
        secret = self.get("v1", "Secret", cluster["metadata"]["namespace"], ref)
        if secret is None:
            return f'secret "{ref}" not found'
        missing = [k for k in ("username", "password") if k not in (secret.get("data") or {})]
        return f'secret "{ref}" is missing the key(s) {", ".join(missing)}' if missing else ""

    def _instances(self, cluster, ready):
        """The instance Pods `<name>-<n>` (the first one primary), Running and Ready once healthy."""
        meta, spec = cluster["metadata"], cluster.get("spec") or {}
        pod_rt, namespace = self.type("v1", "Pod"), meta["namespace"]
        names = [f"{meta['name']}-{i}" for i in range(1, spec.get("instances", 1) + 1)]
        for pod in self.store.list(
            pod_rt, Selector(namespace, parse_label_selector(f"cnpg.io/cluster={meta['name']}"))
        )[0]:
            if pod["metadata"]["name"] not in names:
                self.store.delete(pod_rt, namespace, pod["metadata"]["name"])
        image = spec.get("imageName") or "ghcr.io/cloudnative-pg/postgresql:17"
        for n, name in enumerate(names):
            role = "primary" if n == 0 else "replica"
            labels = {"cnpg.io/cluster": meta["name"], "cnpg.io/instanceName": name, "cnpg.io/podRole": "instance"}
            labels.update({"cnpg.io/instanceRole": role, "role": role})
            pod_meta = {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [_owner(cluster)]}
            pod_spec = {"containers": [{"name": "postgres", "image": image}], "nodeName": "kube-emulator"}
            pod = self.ensure({"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec})
            status = _pod_status(pod, ready)
            if (pod.get("status") or {}).get("phase") != status["phase"]:
                self.set_status(pod, status)

    def _objects(self, cluster):
        meta, spec = cluster["metadata"], cluster.get("spec") or {}
        name, namespace = meta["name"], meta["namespace"]
        owner = [_owner(cluster)]
        labels = {"cnpg.io/cluster": name}
        for suffix, role in (("rw", "primary"), ("ro", "replica"), ("r", None)):
            selector = dict(labels, **({"cnpg.io/instanceRole": role} if role else {}))
            self.ensure(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": f"{name}-{suffix}",
                        "namespace": namespace,
                        "labels": labels,
                        "ownerReferences": owner,
                    },
                    "spec": {"selector": selector, "ports": [{"name": "postgres", "port": 5432, "targetPort": 5432}]},
                }
            )
        initdb = (spec.get("bootstrap") or {}).get("initdb") or {}
        user, password = initdb.get("owner") or "app", secrets.token_urlsafe(24)
        ref = (initdb.get("secret") or {}).get("name")
        if ref:
            data = self.get("v1", "Secret", namespace, ref)["data"]
            user, password = (base64.b64decode(data[k]).decode() for k in ("username", "password"))
        dbname, host = initdb.get("database") or "app", f"{name}-rw"
        values = {
            "username": user,
            "user": user,
            "password": password,
            "dbname": dbname,
            "host": host,
            "port": "5432",
            "uri": f"postgresql://{user}:{password}@{host}.{namespace}:5432/{dbname}",
            "jdbc-uri": f"jdbc:postgresql://{host}.{namespace}:5432/{dbname}?password={password}&user={user}",
            "pgpass": f"{host}:5432:{dbname}:{user}:{password}\n",
        }
        self.ensure(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/basic-auth",
                "metadata": {"name": f"{name}-app", "namespace": namespace, "labels": labels, "ownerReferences": owner},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
            }
        )
        storage = spec.get("storage") or {}
        for i in range(1, spec.get("instances", 1) + 1):
            pvc_spec = {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": storage.get("size", "1Gi")}},
            }
            if storage.get("storageClass"):
                pvc_spec["storageClassName"] = storage["storageClass"]
            meta = {"name": f"{name}-{i}", "namespace": namespace, "labels": labels, "ownerReferences": owner}
            self.ensure({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": pvc_spec})

    def _unbound_pvcs(self, cluster):
        if not self.emu.controllers.pvc.enabled:
            return ""
        name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
        for i in range(1, (cluster.get("spec") or {}).get("instances", 1) + 1):
            pvc = self.get("v1", "PersistentVolumeClaim", namespace, f"{name}-{i}")
            if pvc and (pvc.get("status") or {}).get("phase") != "Bound":
                return f"PVC {name}-{i} is not bound"
        return ""

    def _roles(self, cluster):
        """Record each managed role's password Secret resourceVersion, as the operator does once applied."""
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
        status = {"byStatus": {"reconciled": reconciled}, "passwordStatus": passwords}
        if failing:
            status["cannotReconcile"] = failing
        if status != (cluster.get("status") or {}).get("managedRolesStatus"):
            meta = cluster["metadata"]
            op = [{"op": "add", "path": "/status/managedRolesStatus", "value": status}]
            rt = self.type("postgresql.cnpg.io/v1", "Cluster")
            self.store.patch(rt, meta["namespace"], meta["name"], "json", op, self._options(), "status")


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
                    "annotations": template["metadata"].get("annotations") or {},
                    "ownerReferences": [_owner(owner)],
                },
                "spec": dict(copy.deepcopy(template.get("spec") or {}), nodeName="kube-emulator"),
            }
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
        hosts = [
            (e.get("attrs") or {}).get("external_host")
            for e in entries
            if isinstance(e, dict) and e.get("model") == "authentik_providers_proxy.proxyprovider"
        ]
        hosts = [
            re.sub(r"^https?://", "", h).split("/")[0] for h in hosts if isinstance(h, str) and not h.startswith("<")
        ]
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("model") != "authentik_outposts.outpost":
                continue
            attrs = entry.get("attrs") or {}
            config = attrs.get("config") or {}
            slug = re.sub(
                r"[^a-z0-9]+",
                "-",
                str(attrs.get("name") or (entry.get("identifiers") or {}).get("name", "outpost")).lower(),
            ).strip("-")
            name = str(config.get("object_naming_template") or "ak-outpost-%(name)s") % {"name": slug}
            namespace = config.get("kubernetes_namespace") or configmap["metadata"]["namespace"]
            # As authentik's DeploymentReconciler.get_pod_meta labels them
            # (authentik/outposts/controllers/k8s/deployment.py; the name is Django-slugified).
            labels = {
                "app.kubernetes.io/name": f"authentik-outpost-{attrs.get('type', 'proxy')}",
                "app.kubernetes.io/instance": slug,
                "app.kubernetes.io/managed-by": "goauthentik.io",
                "goauthentik.io/outpost-name": slug,
                "goauthentik.io/outpost-type": str(attrs.get("type", "proxy")),
            }
            ports = [
                {"name": "http", "port": 9000, "targetPort": 9000},
                {"name": "https", "port": 9443, "targetPort": 9443},
            ]
            meta = {"name": name, "namespace": namespace, "labels": labels}
            container = {
                "name": "proxy",
                "image": "ghcr.io/goauthentik/proxy",
                "ports": [{"containerPort": 9000, "name": "http"}],
            }
            self.ensure(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": meta,
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                    },
                }
            )
            self.ensure(
                {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"selector": labels, "ports": ports}}
            )
            parents = config.get("kubernetes_httproute_parent_refs")
            if parents and self.store.lookup("gateway.networking.k8s.io", "v1", "httproutes"):
                rule = {"backendRefs": [{"name": name, "port": 9000}]}
                route = {
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "HTTPRoute",
                    "metadata": meta,
                    "spec": {"parentRefs": parents, "rules": [rule]},
                }
                if hosts:
                    route["spec"]["hostnames"] = hosts
                self.ensure(route)


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
