"""Where each field a simulated controller writes comes from: one upstream file and line per field.

``SOURCES`` maps controller -> (apiVersion, kind) -> field path -> citation. A citation is one or
more ``"path/in/repo:LINES @ SOURCE"`` joined by ``"; "`` (``LINES``: ``12``, ``12-14`` or
``12,40``), where ``SOURCE`` names a pinned upstream tree (``UPSTREAM``). ``tests/integration/emulator/test_status_sources.py``
drives every controller and fails on a written field with no entry here (and on an entry no
controller wrote); ``tests/unit/test_status_sources.py`` checks the cited lines exist, where the
pinned trees are on this machine, and that the README's tables are ``render_markdown()``.

Field paths, as ``field_paths`` spells them: ``a.b`` for keys, ``[key]`` for a key that is not a
plain name (labels, annotations), ``[type=Ready]`` for an item of a ``conditions`` list, ``[]``
for any other list item. In ``SOURCES``, ``*`` stands for any one key (role names, copied
labels) and a trailing ``.**`` for everything under a field that is copied whole (a pod
template). Fields a controller deletes (``null`` in a merge patch) are not writes.

``python -m tests.kube_emulator.status_sources`` rewrites the tables in the README.
"""

import re
import sys
from pathlib import Path

# Pinned upstream trees: name -> (repositories holding the ref, tag or commit, Go module or None).
CNPG = "cloudnative-pg v1.30.0"
CONTROLLER_RUNTIME = "controller-runtime v0.24.1"  # what CloudNativePG 1.30.0's go.mod requires
APIMACHINERY = "apimachinery v0.36.2"  # what CloudNativePG 1.30.0's go.mod requires
K8S = "kubernetes v1.36.1"  # the kind scenario's node image (version.py)
K8S_APIMACHINERY = "apimachinery v0.36.1"  # the staging copy Kubernetes v1.36.1 builds with
K8S_API = "api v0.36.1"
GATEWAY_API = "gateway-api v1.6.1"  # the CRDs' bundle-version (scripts/fetch_schemas.py)
AUTHENTIK = "authentik 661fe469"  # 2026.8.0-rc1, the commit scripts/fetch_schemas.py pins
UPSTREAM = {
    CNPG: (("cloudnative-pg/cloudnative-pg",), "v1.30.0", None),
    CONTROLLER_RUNTIME: (("kubernetes-sigs/controller-runtime",), "v0.24.1", "sigs.k8s.io/controller-runtime"),
    APIMACHINERY: (("kubernetes/apimachinery",), "v0.36.2", "k8s.io/apimachinery"),
    K8S: (("kubernetes/kubernetes",), "v1.36.1", "k8s.io/kubernetes"),
    K8S_APIMACHINERY: (("kubernetes/apimachinery",), "v0.36.1", "k8s.io/apimachinery"),
    K8S_API: (("kubernetes/api",), "v0.36.1", "k8s.io/api"),
    GATEWAY_API: (("kubernetes-sigs/gateway-api",), "v1.6.1", None),
    # the commit was taken from a mirror of goauthentik/authentik's main (see SOURCES of the schemas)
    AUTHENTIK: (
        ("goauthentik/authentik", "sthagen/goauthentik-authentik"),
        "661fe469220b7edaddfc2bef555b2cc63713ab04",
        None,
    ),
}


def cite(source, where):
    """``"file:lines @ source"`` for each of the ``"; "``-separated places in `where`."""
    return "; ".join(f"{place} @ {source}" for place in where.split("; "))


def cnpg(where):
    return cite(CNPG, where)


def k8s(where):
    return cite(K8S, where)


def authentik(where):
    return cite(AUTHENTIK, where)


def gateway_api(where):
    return cite(GATEWAY_API, where)


def controller_ref(field):
    """metav1.NewControllerRef, the owner reference the Kubernetes controllers set."""
    line = {"apiVersion": 61, "kind": 62, "name": 63, "uid": 64, "blockOwnerDeletion": 65, "controller": 66}[field]
    return cite(K8S_APIMACHINERY, f"pkg/apis/meta/v1/controller_ref.go:{line}")


# -- CloudNativePG ------------------------------------------------------------------------------
# RegisterPhase (internal/controller/cluster_status.go:733-745) writes phase, phaseReason and the
# Ready condition in one patch (pkg/resources/status/transactions.go); meta.SetStatusCondition
# stamps lastTransitionTime when the condition is new or its status flips.
_READY = "pkg/resources/status/transactions.go:40-53"
_CNPG_CLUSTER = {
    "status.phase": cnpg("pkg/resources/status/transactions.go:61"),
    "status.phaseReason": cnpg("pkg/resources/status/transactions.go:62"),
    "status.conditions[type=Ready].type": cnpg(_READY),
    "status.conditions[type=Ready].status": cnpg(_READY),
    "status.conditions[type=Ready].reason": cnpg(_READY),
    "status.conditions[type=Ready].message": cnpg(_READY),
    "status.conditions[type=Ready].lastTransitionTime": cite(APIMACHINERY, "pkg/api/meta/conditions.go:38,49"),
    "status.image": cnpg("internal/controller/cluster_image.go:62,91,113"),
    "status.pgDataImageInfo.image": cnpg("internal/controller/cluster_image.go:63,114,132"),
    "status.pgDataImageInfo.majorVersion": cnpg("internal/controller/cluster_image.go:63,114,133"),
    "status.targetPGDataImageInfo.image": cnpg("pkg/reconciler/majorupgrade/reconciler.go:127-128"),
    "status.targetPGDataImageInfo.majorVersion": cnpg("pkg/reconciler/majorupgrade/reconciler.go:127,129"),
    "status.timelineID": cnpg("pkg/reconciler/majorupgrade/reconciler.go:363"),
    "status.instances": cnpg("pkg/reconciler/persistentvolumeclaim/status.go:228"),
    "status.instanceNames[]": cnpg("pkg/reconciler/persistentvolumeclaim/status.go:229"),
    "status.readyInstances": cnpg("pkg/reconciler/persistentvolumeclaim/status.go:232"),
    "status.instancesStatus.healthy[]": cnpg(
        "pkg/reconciler/persistentvolumeclaim/status.go:233; api/v1/base_funcs.go:68"
    ),
    # a Pending pod is neither ready nor active: "failed" (utils.IsPodActive, pkg/utils/pod_conditions.go:72-77)
    "status.instancesStatus.failed[]": cnpg(
        "pkg/reconciler/persistentvolumeclaim/status.go:233; api/v1/base_funcs.go:72"
    ),
    "status.writeService": cnpg("internal/controller/cluster_status.go:259"),
    "status.readService": cnpg("internal/controller/cluster_status.go:260"),
    "status.targetPrimary": cnpg("internal/controller/cluster_status.go:726"),
    "status.targetPrimaryTimestamp": cnpg("internal/controller/cluster_status.go:727"),
    "status.currentPrimary": cnpg("internal/management/controller/instance_startup.go:81"),
    "status.currentPrimaryTimestamp": cnpg("internal/management/controller/instance_startup.go:82"),
    "status.managedRolesStatus.byStatus.reconciled[]": cnpg(
        "internal/management/controller/roles/reconciler.go:84; api/v1/cluster_types.go:819"
    ),
    "status.managedRolesStatus.passwordStatus.*.transactionID": cnpg(
        "internal/management/controller/roles/runnable.go:171,327"
    ),
    "status.managedRolesStatus.passwordStatus.*.resourceVersion": cnpg(
        "internal/management/controller/roles/runnable.go:171,328"
    ),
    "status.managedRolesStatus.cannotReconcile.*[]": cnpg("internal/management/controller/roles/runnable.go:172"),
}
# SetInheritedDataAndOwnership (api/v1/cluster_funcs.go:1317-1327): the cnpg.io/cluster label and
# the owner reference of pkg/utils/ownership.go:29-37 (no blockOwnerDeletion).
_CNPG_OWNED = {
    "metadata.labels[cnpg.io/cluster]": cnpg("api/v1/cluster_funcs.go:1326"),
    "metadata.ownerReferences[].apiVersion": cnpg("pkg/utils/ownership.go:31"),
    "metadata.ownerReferences[].kind": cnpg("pkg/utils/ownership.go:32"),
    "metadata.ownerReferences[].name": cnpg("pkg/utils/ownership.go:33"),
    "metadata.ownerReferences[].uid": cnpg("pkg/utils/ownership.go:34"),
    "metadata.ownerReferences[].controller": cnpg("pkg/utils/ownership.go:35"),
}
_CNPG_SERVICE = {
    **_CNPG_OWNED,
    "metadata.name": cnpg("pkg/specs/services.go:81,109,137"),
    "metadata.namespace": cnpg("pkg/specs/services.go:82,110,138"),
    "spec.selector[cnpg.io/cluster]": cnpg("pkg/specs/services.go:96,124,152"),
    "spec.selector[cnpg.io/podRole]": cnpg("pkg/specs/services.go:97"),
    "spec.selector[cnpg.io/instanceRole]": cnpg("pkg/specs/services.go:125,153"),
    "spec.ports[].name": cnpg("pkg/specs/services.go:38"),
    "spec.ports[].protocol": cnpg("pkg/specs/services.go:39"),
    "spec.ports[].targetPort": cnpg("pkg/specs/services.go:40"),
    "spec.ports[].port": cnpg("pkg/specs/services.go:41"),
}
_SECRET_DATA = "pkg/specs/secrets.go:78-95"
_CNPG_SECRET = {
    **_CNPG_OWNED,
    "metadata.name": cnpg("pkg/specs/secrets.go:69"),
    "metadata.namespace": cnpg("pkg/specs/secrets.go:70"),
    "metadata.labels[cnpg.io/userType]": cnpg("pkg/specs/secrets.go:72"),
    "metadata.labels[cnpg.io/reload]": cnpg("pkg/specs/secrets.go:73; pkg/utils/labels_annotations.go:124"),
    "metadata.labels[app.kubernetes.io/managed-by]": cnpg("pkg/specs/secrets.go:74"),
    "type": cnpg("pkg/specs/secrets.go:77"),
    **{
        f"stringData.{key}": cnpg(_SECRET_DATA)
        for key in ("username", "user", "password", "dbname", "host", "port", "pgpass", "uri", "jdbc-uri")
    },
    "stringData[fqdn-uri]": cnpg(_SECRET_DATA),
    "stringData[fqdn-jdbc-uri]": cnpg(_SECRET_DATA),
}
_CNPG_PVC = {
    **_CNPG_OWNED,
    "metadata.name": cnpg("pkg/reconciler/persistentvolumeclaim/build.go:54"),
    "metadata.namespace": cnpg("pkg/reconciler/persistentvolumeclaim/build.go:54"),
    "metadata.annotations[cnpg.io/nodeSerial]": cnpg("pkg/reconciler/persistentvolumeclaim/build.go:56"),
    "metadata.annotations[cnpg.io/pvcStatus]": cnpg(
        "pkg/reconciler/persistentvolumeclaim/build.go:57; pkg/reconciler/persistentvolumeclaim/status.go:377"
    ),
    "metadata.labels[cnpg.io/instanceName]": cnpg("pkg/reconciler/persistentvolumeclaim/calculator.go:125"),
    "metadata.labels[cnpg.io/pvcRole]": cnpg("pkg/reconciler/persistentvolumeclaim/calculator.go:126"),
    "spec.accessModes[]": cnpg(
        "pkg/reconciler/persistentvolumeclaim/build.go:64; pkg/resources/persistentvolumeclaim.go:83"
    ),
    "spec.storageClassName": cnpg(
        "pkg/reconciler/persistentvolumeclaim/build.go:68; pkg/resources/persistentvolumeclaim.go:65"
    ),
    "spec.resources.requests.storage": cnpg("pkg/reconciler/persistentvolumeclaim/build.go:77-79"),
}

# -- Pods: what the kubelet, the scheduler and the API server write -----------------------------
_KUBELET_CONDITIONS = {
    "PodReadyToStartContainers": "pkg/kubelet/status/generate.go:278-280",
    "Initialized": "pkg/kubelet/status/generate.go:264-266",
    "Ready": "pkg/kubelet/status/generate.go:164-166",
    "ContainersReady": "pkg/kubelet/status/generate.go:117-119",
    "PodScheduled": "pkg/kubelet/kubelet_pods.go:1992-1995",
}
_POD_CREATED = {  # the API server, on create (PrepareForCreate)
    "status.phase": k8s("pkg/registry/core/pod/strategy.go:91; pkg/kubelet/kubelet_pods.go:1899"),
    "status.qosClass": k8s("pkg/registry/core/pod/strategy.go:92"),
}
_POD_RUNNING = {  # the kubelet, once the containers run and the probes pass
    **_POD_CREATED,
    "status.hostIP": k8s("pkg/kubelet/kubelet_pods.go:2015"),
    "status.podIP": k8s("pkg/kubelet/kubelet_pods.go:2094"),
    "status.startTime": k8s("pkg/kubelet/status/status_manager.go:900"),
    **{
        f"status.conditions[type={ctype}].{field}": k8s(where)
        for ctype, where in _KUBELET_CONDITIONS.items()
        for field in ("type", "status")
    },
    **{
        f"status.conditions[type={ctype}].lastTransitionTime": k8s("pkg/kubelet/status/status_manager.go:1025-1036")
        for ctype in _KUBELET_CONDITIONS
    },
    "status.containerStatuses[].name": k8s("pkg/kubelet/kubelet_pods.go:2281"),
    "status.containerStatuses[].restartCount": k8s("pkg/kubelet/kubelet_pods.go:2282"),
    "status.containerStatuses[].image": k8s("pkg/kubelet/kubelet_pods.go:2283"),
    "status.containerStatuses[].imageID": k8s("pkg/kubelet/kubelet_pods.go:2287"),
    "status.containerStatuses[].containerID": k8s("pkg/kubelet/kubelet_pods.go:2288"),
    "status.containerStatuses[].state.running.startedAt": k8s("pkg/kubelet/kubelet_pods.go:2347"),
    "status.containerStatuses[].started": k8s("pkg/kubelet/prober/prober_manager.go:336"),
    "status.containerStatuses[].ready": k8s("pkg/kubelet/prober/prober_manager.go:374"),
    # the scheduler's binding (the pods/binding subresource)
    "spec.nodeName": k8s("pkg/registry/core/pod/storage/storage.go:245"),
}
_POD_UNSCHEDULABLE = {  # the scheduler, when no node fits (here: a volume that is not bound)
    "status.conditions[type=PodScheduled].type": k8s("pkg/scheduler/schedule_one.go:1291"),
    "status.conditions[type=PodScheduled].status": k8s("pkg/scheduler/schedule_one.go:1293"),
    "status.conditions[type=PodScheduled].reason": k8s("pkg/scheduler/schedule_one.go:1294"),
    "status.conditions[type=PodScheduled].message": k8s(
        "pkg/scheduler/schedule_one.go:1295; pkg/scheduler/framework/plugins/volumebinding/volume_binding.go:378"
    ),
}
_CNPG_POD = {
    **_POD_RUNNING,
    "metadata.name": cnpg("pkg/specs/pods.go:560"),
    "metadata.namespace": cnpg("pkg/specs/pods.go:561"),
    "metadata.labels[cnpg.io/cluster]": cnpg("pkg/specs/pods.go:546"),
    "metadata.labels[cnpg.io/instanceName]": cnpg("pkg/specs/pods.go:547"),
    "metadata.labels[cnpg.io/podRole]": cnpg("pkg/specs/pods.go:548"),
    # instanceReconciler.ReconcileMetadata (pkg/reconciler/instance/metadata.go:199,212)
    "metadata.labels[cnpg.io/instanceRole]": cnpg("pkg/utils/labels_annotations.go:577"),
    "metadata.labels.role": cnpg("pkg/utils/labels_annotations.go:576"),
    "metadata.annotations[cnpg.io/nodeSerial]": cnpg("pkg/specs/pods.go:556"),
    "metadata.annotations[cnpg.io/podSpec]": cnpg("pkg/specs/pods.go:503-504"),
    # ctrl.SetControllerReference (controller-runtime) on the new instance
    **{
        f"metadata.ownerReferences[].{field}": "; ".join(
            (
                cnpg("internal/controller/cluster_create.go:1580"),
                cite(CONTROLLER_RUNTIME, f"pkg/controller/controllerutil/controllerutil.go:{line}"),
            )
        )
        for field, line in (
            ("apiVersion", 86),
            ("kind", 87),
            ("name", 88),
            ("uid", 89),
            ("blockOwnerDeletion", 90),
            ("controller", 91),
        )
    },
    "spec.containers[].name": cnpg("pkg/specs/pods.go:214"),
    "spec.containers[].image": cnpg("pkg/specs/pods.go:215"),
    "spec.containers[].resources.**": cnpg("pkg/specs/pods.go:261"),
}

# -- Deployments, ReplicaSets, StatefulSets (kube-controller-manager) ----------------------------
_CONTROLLER_REF = {
    f"metadata.ownerReferences[].{field}": "; ".join(
        (k8s("pkg/controller/controller_utils.go:586"), controller_ref(field))
    )
    for field in ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
}
_WORKLOAD_POD = {
    **_POD_RUNNING,
    **_POD_UNSCHEDULABLE,
    **_CONTROLLER_REF,
    # a ReplicaSet's pod: generateName <rs>- (the API server adds the suffix); a StatefulSet's: <set>-<ordinal>
    "metadata.name": k8s(
        "pkg/controller/controller_utils.go:581; pkg/controller/statefulset/stateful_set_utils.go:520"
    ),
    "metadata.namespace": k8s(
        "pkg/controller/controller_utils.go:596; pkg/controller/statefulset/stateful_set_utils.go:448"
    ),
    "metadata.labels[*]": k8s("pkg/controller/controller_utils.go:579"),
    "metadata.labels[statefulset.kubernetes.io/pod-name]": k8s("pkg/controller/statefulset/stateful_set_utils.go:452"),
    "metadata.labels[controller-revision-hash]": "; ".join(
        (k8s("pkg/controller/statefulset/stateful_set_utils.go:509"), cite(K8S_API, "apps/v1/types.go:27-28"))
    ),
    "metadata.annotations[*]": k8s("pkg/controller/controller_utils.go:580"),
    "spec.**": k8s("pkg/controller/controller_utils.go:588"),
}
_DEPLOYMENT_CONDITION = "pkg/controller/deployment/util/deployment_util.go"  # NewDeploymentCondition
_DEPLOYMENT = {
    "status.observedGeneration": k8s("pkg/controller/deployment/sync.go:506"),
    "status.replicas": k8s("pkg/controller/deployment/sync.go:507"),
    "status.updatedReplicas": k8s("pkg/controller/deployment/sync.go:508"),
    "status.readyReplicas": k8s("pkg/controller/deployment/sync.go:509"),
    "status.availableReplicas": k8s("pkg/controller/deployment/sync.go:510"),
    **{
        f"status.conditions[type={ctype}].{field}": k8s(f"{where}; {_DEPLOYMENT_CONDITION}:{line}")
        for ctype, where in (
            ("Available", "pkg/controller/deployment/sync.go:525"),
            ("Progressing", "pkg/controller/deployment/progress.go:58-60"),
        )
        for field, line in (
            ("type", 106),
            ("status", 107),
            ("lastUpdateTime", 108),
            ("lastTransitionTime", 109),
            ("reason", 110),
            ("message", 111),
        )
    },
    "metadata.annotations[deployment.kubernetes.io/revision]": k8s(
        "pkg/controller/deployment/util/deployment_util.go:178-179"
    ),
}
_REPLICA_SET = {
    **{
        f"metadata.ownerReferences[].{field}": "; ".join(
            (k8s("pkg/controller/deployment/sync.go:209"), controller_ref(field))
        )
        for field in ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
    },
    "metadata.name": k8s("pkg/controller/deployment/sync.go:207"),
    "metadata.namespace": k8s("pkg/controller/deployment/sync.go:208"),
    "metadata.labels[*]": k8s("pkg/controller/deployment/sync.go:199,210"),
    "metadata.annotations[deployment.kubernetes.io/revision]": k8s(
        "pkg/controller/deployment/util/deployment_util.go:260"
    ),
    "spec.replicas": k8s("pkg/controller/deployment/sync.go:213,225,422"),
    "spec.selector.**": k8s("pkg/controller/deployment/sync.go:201,215"),
    "spec.template.**": k8s("pkg/controller/deployment/sync.go:197-199,216"),
    "status.observedGeneration": k8s("pkg/controller/replicaset/replica_set_utils.go:59"),
    "status.replicas": k8s("pkg/controller/replicaset/replica_set_utils.go:138"),
    "status.fullyLabeledReplicas": k8s("pkg/controller/replicaset/replica_set_utils.go:139"),
    "status.readyReplicas": k8s("pkg/controller/replicaset/replica_set_utils.go:140"),
    "status.availableReplicas": k8s("pkg/controller/replicaset/replica_set_utils.go:141"),
}
_STS_CONTROL = "pkg/controller/statefulset/stateful_set_control.go"
_STATEFUL_SET = {
    "status.observedGeneration": k8s(f"{_STS_CONTROL}:574"),
    "status.currentRevision": k8s(f"{_STS_CONTROL}:575"),
    "status.updateRevision": k8s(f"{_STS_CONTROL}:576"),
    "status.collisionCount": k8s(f"{_STS_CONTROL}:577-578"),
    "status.replicas": k8s(f"{_STS_CONTROL}:409"),
    "status.readyReplicas": k8s(f"{_STS_CONTROL}:410"),
    "status.availableReplicas": k8s(f"{_STS_CONTROL}:411"),
    "status.currentReplicas": k8s(f"{_STS_CONTROL}:412"),
    "status.updatedReplicas": k8s(f"{_STS_CONTROL}:413"),
}
_STATEFUL_SET_CLAIM = {
    "metadata.name": k8s("pkg/controller/statefulset/stateful_set_utils.go:396"),
    "metadata.namespace": k8s("pkg/controller/statefulset/stateful_set_utils.go:397"),
    "spec.**": k8s("pkg/controller/statefulset/stateful_set_utils.go:390-396"),
}

# -- PersistentVolume controller ----------------------------------------------------------------
_PV_CONTROLLER = "pkg/controller/volume/persistentvolume/pv_controller.go"
_PVC_BINDING = {
    "spec.storageClassName": k8s(f"{_PV_CONTROLLER}:985"),
    "spec.volumeName": k8s(f"{_PV_CONTROLLER}:1057,1875"),
    "metadata.annotations[pv.kubernetes.io/bind-completed]": k8s(f"{_PV_CONTROLLER}:1067"),
    "status.phase": k8s(f"{_PV_CONTROLLER}:793"),
    "status.accessModes[]": k8s(f"{_PV_CONTROLLER}:814"),
    "status.capacity.storage": k8s(f"{_PV_CONTROLLER}:841; pkg/apis/core/types.go:5889"),
}

# -- authentik's outpost integration --------------------------------------------------------------
_OUTPOST_BASE = "authentik/outposts/controllers/k8s/base.py"
_OUTPOST_DEPLOYMENT = "authentik/outposts/controllers/k8s/deployment.py"
_OUTPOST_META = {
    "metadata.name": authentik(f"{_OUTPOST_BASE}:74-94"),
    "metadata.namespace": authentik(f"{_OUTPOST_BASE}:45,223"),
    "metadata.labels[app.kubernetes.io/instance]": authentik(f"{_OUTPOST_BASE}:225"),
    "metadata.labels[app.kubernetes.io/managed-by]": authentik(f"{_OUTPOST_BASE}:226"),
    "metadata.labels[app.kubernetes.io/name]": authentik(f"{_OUTPOST_BASE}:227"),
    "metadata.labels[app.kubernetes.io/version]": authentik(f"{_OUTPOST_BASE}:228"),
    "metadata.labels[goauthentik.io/outpost-name]": authentik(f"{_OUTPOST_BASE}:229"),
    "metadata.labels[goauthentik.io/outpost-type]": authentik(f"{_OUTPOST_BASE}:230"),
    "metadata.labels[goauthentik.io/outpost-uuid]": authentik(f"{_OUTPOST_BASE}:231"),
}
_POD_META = {  # DeploymentReconciler.get_pod_meta
    "app.kubernetes.io/name": 73,
    "app.kubernetes.io/managed-by": 74,
    "goauthentik.io/outpost-uuid": 75,
    "goauthentik.io/outpost-name": 76,
    "goauthentik.io/outpost-type": 77,
}
_OUTPOST_DEPLOYMENT_FIELDS = {
    **_OUTPOST_META,
    "spec.replicas": authentik(f"{_OUTPOST_DEPLOYMENT}:101"),
    **{
        f"spec.selector.matchLabels[{label}]": authentik(f"{_OUTPOST_DEPLOYMENT}:102,{line}")
        for label, line in _POD_META.items()
    },
    **{
        f"spec.template.metadata.labels[{label}]": authentik(f"{_OUTPOST_DEPLOYMENT}:105,{line}")
        for label, line in _POD_META.items()
    },
    "spec.template.metadata.labels[app.kubernetes.io/version]": authentik(f"{_OUTPOST_DEPLOYMENT}:109"),
    "spec.template.metadata.labels.app": authentik(f"{_OUTPOST_DEPLOYMENT}:110"),
    "spec.template.metadata.labels.version": authentik(f"{_OUTPOST_DEPLOYMENT}:111"),
    "spec.template.spec.containers[].name": authentik(f"{_OUTPOST_DEPLOYMENT}:126"),
    "spec.template.spec.containers[].image": authentik(
        f"{_OUTPOST_DEPLOYMENT}:127; authentik/outposts/controllers/base.py:97-107; authentik/lib/default.yml:125"
    ),
    "spec.template.spec.containers[].ports[].containerPort": authentik(
        f"{_OUTPOST_DEPLOYMENT}:89; authentik/providers/proxy/controllers/kubernetes.py:17-18"
    ),
    "spec.template.spec.containers[].ports[].name": authentik(f"{_OUTPOST_DEPLOYMENT}:90"),
    "spec.template.spec.containers[].ports[].protocol": authentik(f"{_OUTPOST_DEPLOYMENT}:91"),
}
_OUTPOST_SERVICE = "authentik/outposts/controllers/k8s/service.py"
_OUTPOST_SERVICE_FIELDS = {
    **_OUTPOST_META,
    "spec.ports[].name": authentik(f"{_OUTPOST_SERVICE}:47"),
    "spec.ports[].port": authentik(f"{_OUTPOST_SERVICE}:48"),
    "spec.ports[].protocol": authentik(f"{_OUTPOST_SERVICE}:49"),
    "spec.ports[].targetPort": authentik(f"{_OUTPOST_SERVICE}:50"),
    **{
        f"spec.selector[{label}]": authentik(f"{_OUTPOST_SERVICE}:59,64; {_OUTPOST_DEPLOYMENT}:{line}")
        for label, line in _POD_META.items()
    },
    "spec.type": authentik(f"{_OUTPOST_SERVICE}:65; authentik/outposts/models.py:80"),
}
_ROUTE = "authentik/providers/proxy/controllers/k8s/httproute.py"
_OUTPOST_ROUTE_FIELDS = {
    **_OUTPOST_META,
    "metadata.name": authentik(f"{_ROUTE}:179"),
    "metadata.namespace": authentik(f"{_ROUTE}:180"),
    "spec.parentRefs[].name": authentik(f"{_ROUTE}:26,185-188"),
    "spec.parentRefs[].namespace": authentik(f"{_ROUTE}:29,185-188"),
    "spec.parentRefs[].sectionName": authentik(f"{_ROUTE}:27,185-188"),
    "spec.parentRefs[].port": authentik(f"{_ROUTE}:28,185-188"),
    "spec.parentRefs[].kind": authentik(f"{_ROUTE}:30,185-188"),
    "spec.parentRefs[].group": authentik(f"{_ROUTE}:31,185-188"),
    "spec.hostnames[]": authentik(f"{_ROUTE}:172,189"),
    "spec.rules[].backendRefs[].name": authentik(f"{_ROUTE}:142,159"),
    "spec.rules[].backendRefs[].port": authentik(f"{_ROUTE}:142,159"),
    "spec.rules[].matches[].headers[].name": authentik(f"{_ROUTE}:147,164"),
    "spec.rules[].matches[].headers[].value": authentik(f"{_ROUTE}:148,165"),
    "spec.rules[].matches[].headers[].type": authentik(f"{_ROUTE}:44"),
    "spec.rules[].matches[].path.type": authentik(f"{_ROUTE}:152,168"),
    "spec.rules[].matches[].path.value": authentik(f"{_ROUTE}:152,168"),
}
_OUTPOST_ROUTE_FIELDS["metadata.labels[app.kubernetes.io/instance]"] = authentik(f"{_ROUTE}:182; {_OUTPOST_BASE}:225")


# -- Gateway API implementation -----------------------------------------------------------------
# Conditions are metav1.Condition (type, status, reason, message and lastTransitionTime required:
# pkg/apis/meta/v1/types.go of apimachinery); the conformance suite requires observedGeneration on
# every condition of GatewayClasses, Gateways and HTTPRoute parents (ConditionsHaveLatestObservedGeneration).
def _conditions(prefix, types):
    """Fields of the conditions `types` ({type: (file:line of the type, file:line of the reasons)})."""
    fields = {}
    for ctype, (type_line, reason_lines) in types.items():
        base = f"{prefix}[type={ctype}]"
        fields[f"{base}.type"] = gateway_api(type_line)
        fields[f"{base}.reason"] = gateway_api(reason_lines)
        fields[f"{base}.status"] = cite(APIMACHINERY, "pkg/apis/meta/v1/types.go:1635")
        fields[f"{base}.message"] = cite(APIMACHINERY, "pkg/apis/meta/v1/types.go:1665")
        fields[f"{base}.lastTransitionTime"] = cite(APIMACHINERY, "pkg/apis/meta/v1/types.go:1648")
        fields[f"{base}.observedGeneration"] = gateway_api("conformance/utils/kubernetes/helpers.go:217-226")
    return fields


_GATEWAY_CLASS = _conditions(
    "status.conditions",
    {"Accepted": ("apis/v1/gatewayclass_types.go:303,186", "apis/v1/gatewayclass_types.go:190")},
)
_GATEWAY = {
    **_conditions(
        "status.conditions",
        {
            "Accepted": ("apis/v1/gateway_types.go:1022,1250", "apis/v1/gateway_types.go:1254"),
            "Programmed": ("apis/v1/gateway_types.go:1022,1160", "apis/v1/gateway_types.go:1164"),
        },
    ),
    "status.listeners[].name": gateway_api("apis/v1/gateway_types.go:1030,1371"),
    "status.listeners[].attachedRoutes": gateway_api("apis/v1/gateway_types.go:1409"),
    "status.listeners[].supportedKinds[].group": gateway_api("apis/v1/gateway_types.go:1386,907"),
    "status.listeners[].supportedKinds[].kind": gateway_api("apis/v1/gateway_types.go:1386,911"),
    **_conditions(
        "status.listeners[].conditions",
        {"Accepted": ("apis/v1/gateway_types.go:1447,1527", "apis/v1/gateway_types.go:1534")},
    ),
}
_HTTP_ROUTE = {
    "status.parents[].controllerName": gateway_api("apis/v1/shared_types.go:503"),
    **{
        f"status.parents[].parentRef.{field}": gateway_api(f"apis/v1/shared_types.go:487,{line}")
        for field, line in (("group", 45), ("kind", 58), ("namespace", 84), ("name", 90), ("sectionName", 118))
    },
    "status.parents[].parentRef.port": gateway_api("apis/v1/shared_types.go:487,155"),
    **_conditions(
        "status.parents[].conditions",
        {
            "Accepted": ("apis/v1/shared_types.go:560,364", "apis/v1/shared_types.go:368,373,377"),
            "ResolvedRefs": ("apis/v1/shared_types.go:560,417", "apis/v1/shared_types.go:421,436"),
        },
    ),
}

GATEWAY = "gateway.networking.k8s.io/v1"
SOURCES = {
    "cnpg": {
        ("postgresql.cnpg.io/v1", "Cluster"): _CNPG_CLUSTER,
        ("v1", "Service"): _CNPG_SERVICE,
        ("v1", "Secret"): _CNPG_SECRET,
        ("v1", "PersistentVolumeClaim"): _CNPG_PVC,
        ("v1", "Pod"): _CNPG_POD,
    },
    "workloads": {
        ("apps/v1", "Deployment"): _DEPLOYMENT,
        ("apps/v1", "ReplicaSet"): _REPLICA_SET,
        ("apps/v1", "StatefulSet"): _STATEFUL_SET,
        ("v1", "Pod"): _WORKLOAD_POD,
        ("v1", "PersistentVolumeClaim"): _STATEFUL_SET_CLAIM,
    },
    "pvc": {("v1", "PersistentVolumeClaim"): _PVC_BINDING},
    "authentik": {
        ("apps/v1", "Deployment"): _OUTPOST_DEPLOYMENT_FIELDS,
        ("v1", "Service"): _OUTPOST_SERVICE_FIELDS,
        (GATEWAY, "HTTPRoute"): _OUTPOST_ROUTE_FIELDS,
    },
    "gateway": {
        (GATEWAY, "GatewayClass"): _GATEWAY_CLASS,
        (GATEWAY, "Gateway"): _GATEWAY,
        (GATEWAY, "HTTPRoute"): _HTTP_ROUTE,
    },
}


# -- field paths ----------------------------------------------------------------------------------
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Top-level fields that name the object's type, not data a controller chose.
_TYPE_FIELDS = {"apiVersion", "kind"}


def _key(path, key):
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"


def field_paths(value, path=""):
    """The set of leaf field paths in a written body (see the module docstring)."""
    if isinstance(value, dict):
        if not value:
            return {path} if path else set()
        paths = set()
        for key, item in value.items():
            if item is None or (not path and key in _TYPE_FIELDS):
                continue
            paths |= field_paths(item, _key(path, key))
        return paths
    if isinstance(value, list):
        if not value:
            return {f"{path}[]"}
        paths = set()
        conditions = path == "conditions" or path.endswith(".conditions")
        for item in value:
            kind = item.get("type") if conditions and isinstance(item, dict) else None
            paths |= field_paths(item, f"{path}[type={kind}]" if isinstance(kind, str) else f"{path}[]")
        return paths
    return {path}


def _pattern(entry):
    """A regular expression for a table entry (``*``: one key; a trailing ``.**``: a whole subtree)."""
    subtree = entry.endswith(".**")
    text = entry[: -len(".**")] if subtree else entry
    text = re.sub(r"\[([A-Za-z0-9_-]+)\]", r".\1", text)  # [role] is spelled .role in a path
    parts = []
    for i, piece in enumerate(re.split(r"(\.\*|\[\*\])", text)):
        if i % 2:
            parts.append(r"(?:\.[A-Za-z0-9_-]+|\[[^\]]+\])")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts) + (r"(?:[.\[].*)" if subtree else ""))


def uncited(controller, api_version, kind, paths):
    """The paths written by `controller` on `kind` with no entry in SOURCES, sorted."""
    patterns = [_pattern(entry) for entry in SOURCES.get(controller, {}).get((api_version, kind), {})]
    return sorted(p for p in paths if not any(pattern.fullmatch(p) for pattern in patterns))


def unused(controller, api_version, kind, paths):
    """The entries of SOURCES for `kind` that none of `paths` matches, sorted."""
    entries = SOURCES.get(controller, {}).get((api_version, kind), {})
    return sorted(e for e in entries if not any(_pattern(e).fullmatch(p) for p in paths))


# -- citations ------------------------------------------------------------------------------------
_CITATION = re.compile(r"(?P<file>[\w./-]+):(?P<lines>\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*) @ (?P<source>.+)")


def citations():
    """(controller, apiVersion, kind, field, source, file, [line numbers]) for every cited place."""
    for controller, kinds in SOURCES.items():
        for (api_version, kind), fields in kinds.items():
            for field, citation in fields.items():
                for place in citation.split("; "):
                    match = _CITATION.fullmatch(place)
                    if match is None or match["source"] not in UPSTREAM:
                        raise ValueError(f"{controller} {kind} {field}: malformed citation {place!r}")
                    numbers = []
                    for span in match["lines"].split(","):
                        first, _, last = span.partition("-")
                        numbers += range(int(first), int(last or first) + 1)
                    yield controller, api_version, kind, field, match["source"], match["file"], numbers


# -- the README's tables ----------------------------------------------------------------------
README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- status-sources: begin -->", "<!-- status-sources: end -->"


def render_markdown():
    """One table per controller and kind: each field and where upstream writes it."""
    pinned = "; ".join(
        f"{name}: {' or '.join(f'`{repo}`' for repo in repos)} at `{ref}`" for name, (repos, ref, _) in UPSTREAM.items()
    )
    lines = [
        BEGIN,
        "<!-- Generated by `python -m tests.kube_emulator.status_sources` from status_sources.py; do not edit. -->",
        "",
        f"Pinned sources: {pinned}.",
    ]
    for controller, kinds in SOURCES.items():
        for (api_version, kind), fields in kinds.items():
            lines += ["", f"**{controller}** writes on `{kind}` (`{api_version}`):", ""]
            lines += ["| field | written at |", "|---|---|"]
            for field, citation in fields.items():
                places = "<br>".join(f"`{place.replace(' @ ', '` ')}" for place in citation.split("; "))
                lines.append(f"| `{field}` | {places} |")
    lines.append(END)
    return "\n".join(lines)


def readme_section(text):
    """The generated section of the README text (None when the markers are missing)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        return None
    return text[start : end + len(END)]


def write_readme(path=README):
    text = path.read_text()
    current = readme_section(text)
    if current is None:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} section")
    path.write_text(text.replace(current, render_markdown()))


if __name__ == "__main__":
    write_readme()
    sys.exit(0)
