"""The simulated controllers: CloudNativePG, Deployments/StatefulSets, PVC binding, authentik."""

import base64
import time

from kubernetes import watch

from tests.support.polling import until

HEALTHY = "Cluster in healthy state"
CNPG = ("postgresql.cnpg.io", "v1", "default", "clusters")


def _cluster(name="pg", **spec):
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"instances": 2, "storage": {"size": "1Gi"}, **spec},
    }


def _secret(name, **data):
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"}, "data": encoded}


def _wait(predicate, timeout=10.0):
    return until(predicate, predicate.__doc__ or predicate, timeout)


def _phases(custom, name, until, timeout=10):
    """The distinct phases a Cluster goes through (watched over HTTP) until `until(status)` holds."""
    phases = []
    for event in watch.Watch().stream(
        custom.list_namespaced_custom_object, *CNPG, field_selector=f"metadata.name={name}", timeout_seconds=timeout
    ):
        status = event["object"].get("status") or {}
        if status.get("phase") and (not phases or phases[-1] != status["phase"]):
            phases.append(status["phase"])
        if until(status):
            return phases, event["object"]
    raise AssertionError(f"cluster {name} never reached the expected state; phases seen: {phases}")


def _ready(cluster):
    return next(c for c in cluster["status"]["conditions"] if c["type"] == "Ready")


def test_cnpg_cluster_walks_phases_and_creates_objects(custom, kube_emulator):
    custom.create_namespaced_custom_object(*CNPG, _cluster())
    phases, cluster = _phases(custom, "pg", lambda s: s.get("phase") == HEALTHY)
    assert phases == [
        "Setting up primary",
        "Waiting for the instances to become active",
        "Creating a new replica",
        "Waiting for the instances to become active",
        HEALTHY,
    ]
    status = cluster["status"]
    assert (status["instances"], status["readyInstances"], status["currentPrimary"]) == (2, 2, "pg-1")
    assert (status["writeService"], status["readService"]) == ("pg-rw", "pg-r")
    assert status["instancesStatus"] == {"healthy": ["pg-1", "pg-2"]}
    # the image the defaulting webhook put in the spec, copied as the operator's reconcileImage does
    assert status["image"] == cluster["spec"]["imageName"] == status["pgDataImageInfo"]["image"]
    assert status["pgDataImageInfo"]["majorVersion"] == 18
    # CloudNativePG 1.30 writes Type, Status, Reason and Message (and the transition time): no generation
    assert _ready(cluster) == {
        "type": "Ready",
        "status": "True",
        "reason": "ClusterIsReady",
        "message": "Cluster is Ready",
        "lastTransitionTime": _ready(cluster)["lastTransitionTime"],
    }
    assert not any("observedGeneration" in c for c in status["conditions"])
    assert "observedGeneration" not in status
    for suffix in ("rw", "ro", "r"):
        assert kube_emulator.get("v1", "Service", f"pg-{suffix}", "default")["spec"]["ports"][0]["port"] == 5432
    app = kube_emulator.get("v1", "Secret", "pg-app", "default")
    assert {"username", "password", "dbname", "host", "uri", "fqdn-uri"} <= set(app["data"])
    assert base64.b64decode(app["data"]["host"]).decode() == "pg-rw"
    pods = {p["metadata"]["name"]: p for p in kube_emulator.list("v1", "Pod", "default")}
    assert sorted(pods) == ["pg-1", "pg-2"] and pods["pg-1"]["metadata"]["labels"]["role"] == "primary"
    assert pods["pg-2"]["metadata"]["labels"]["cnpg.io/instanceRole"] == "replica"
    assert all(p["status"]["phase"] == "Running" for p in pods.values())
    pvcs = {p["metadata"]["name"]: p for p in kube_emulator.list("v1", "PersistentVolumeClaim", "default")}
    assert sorted(pvcs) == ["pg-1", "pg-2"]
    assert {p["metadata"]["annotations"]["cnpg.io/pvcStatus"] for p in pvcs.values()} == {"ready"}
    # deleting the cluster garbage-collects what it owns
    custom.delete_namespaced_custom_object(*CNPG, "pg")
    assert kube_emulator.get("v1", "Secret", "pg-app", "default") is None


def test_cnpg_spec_changes_act_as_the_operator_does(custom, kube_emulator):
    """A change of the instances' PodSpec rolls them out, replicas first; more instances add a
    replica; a change that needs no work leaves the status as it was."""
    custom.create_namespaced_custom_object(*CNPG, _cluster())
    _, healthy = _phases(custom, "pg", lambda s: s.get("phase") == HEALTHY)
    ready_since = _ready(healthy)["lastTransitionTime"]
    custom.patch_namespaced_custom_object(*CNPG, "pg", {"spec": {"description": "the MLflow database"}})
    time.sleep(0.5)  # several controller steps
    unchanged = kube_emulator.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default")
    assert unchanged["metadata"]["generation"] == 2 and unchanged["status"] == healthy["status"]

    custom.patch_namespaced_custom_object(*CNPG, "pg", {"spec": {"resources": {"requests": {"memory": "1Gi"}}}})
    phases, cluster = _phases(custom, "pg", lambda s: s.get("phase") == HEALTHY and _rolled_out(kube_emulator))
    assert phases[0] == HEALTHY and phases[-1] == HEALTHY
    assert "Upgrading cluster" in phases
    assert phases.index("Upgrading cluster") < phases.index("Primary instance is being restarted without a switchover")
    assert _ready(cluster)["lastTransitionTime"] >= ready_since  # it went False and back to True

    custom.patch_namespaced_custom_object(*CNPG, "pg", {"spec": {"instances": 3}})
    phases, cluster = _phases(custom, "pg", lambda s: s.get("phase") == HEALTHY and s.get("readyInstances") == 3)
    assert "Creating a new replica" in phases
    assert sorted(p["metadata"]["name"] for p in kube_emulator.list("v1", "Pod", "default")) == ["pg-1", "pg-2", "pg-3"]


def _rolled_out(emulator):
    pods = emulator.list("v1", "Pod", "default")
    return len(pods) == 2 and all(
        p["spec"]["containers"][0].get("resources") == {"requests": {"memory": "1Gi"}}
        and p["status"].get("phase") == "Running"
        for p in pods
    )


def test_cnpg_bootstrap_secret_missing_or_incomplete_blocks_readiness(custom, kube_emulator):
    spec = {"bootstrap": {"initdb": {"database": "mlflow", "owner": "mlflow", "secret": {"name": "pg-owner"}}}}
    custom.create_namespaced_custom_object(*CNPG, _cluster(**spec))
    _, cluster = _phases(custom, "pg", lambda s: s.get("phase") == "Setting up primary")
    assert cluster["status"]["phaseReason"] == "Creating primary instance pg-1" and _ready(cluster)["status"] == "False"
    kube_emulator.create(_secret("pg-owner", username="mlflow"))
    time.sleep(0.5)  # several controller steps: the initdb job cannot start without the password
    blocked = kube_emulator.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default")["status"]
    assert blocked["phase"] == "Setting up primary" and kube_emulator.get("v1", "Pod", "pg-1", "default") is None
    kube_emulator.delete("v1", "Secret", "pg-owner", "default")
    kube_emulator.create(_secret("pg-owner", username="mlflow", password="s3cret"))
    _phases(custom, "pg", lambda s: s.get("phase") == HEALTHY)
    # the bootstrap secret is the application secret: the operator creates no <name>-app
    assert kube_emulator.get("v1", "Secret", "pg-app", "default") is None


def test_cnpg_fail_with_ends_in_failure_phase(custom, kube_emulator):
    kube_emulator.controllers.cnpg.fail_with("Unable to create required cluster objects", "quota exceeded", times=1)
    custom.create_namespaced_custom_object(*CNPG, _cluster("bad"))
    _, cluster = _phases(custom, "bad", lambda s: s.get("phase") == "Unable to create required cluster objects")
    assert cluster["status"]["phaseReason"] == "quota exceeded" and _ready(cluster)["status"] == "False"
    custom.create_namespaced_custom_object(*CNPG, _cluster("good"))  # times=1: only the first one failed
    _phases(custom, "good", lambda s: s.get("phase") == HEALTHY)


def test_cnpg_managed_role_password_rotation_is_observable(custom, kube_emulator):
    kube_emulator.create(_secret("mlflow-role", username="mlflow", password="one"))
    spec = {
        "managed": {
            "roles": [{"name": "mlflow", "ensure": "present", "login": True, "passwordSecret": {"name": "mlflow-role"}}]
        }
    }
    custom.create_namespaced_custom_object(*CNPG, _cluster(**spec))
    _, cluster = _phases(custom, "pg", lambda s: (s.get("managedRolesStatus") or {}).get("passwordStatus"))
    first = cluster["status"]["managedRolesStatus"]["passwordStatus"]["mlflow"]
    secret_rv = kube_emulator.get("v1", "Secret", "mlflow-role", "default")["metadata"]["resourceVersion"]
    assert first["resourceVersion"] == secret_rv
    assert cluster["status"]["managedRolesStatus"]["byStatus"]["reconciled"] == ["mlflow"]
    kube_emulator.store.patch(
        kube_emulator.store.find_kind("v1", "Secret"),
        "default",
        "mlflow-role",
        "merge",
        {"stringData": {"password": "two"}},
    )
    rotated_rv = kube_emulator.get("v1", "Secret", "mlflow-role", "default")["metadata"]["resourceVersion"]
    assert rotated_rv != secret_rv
    _, cluster = _phases(
        custom, "pg", lambda s: s["managedRolesStatus"]["passwordStatus"]["mlflow"]["resourceVersion"] == rotated_rv
    )
    assert (
        cluster["status"]["managedRolesStatus"]["passwordStatus"]["mlflow"]["transactionID"]
        == first["transactionID"] + 1
    )


def test_cnpg_controller_can_be_switched_off(custom, kube_emulator):
    kube_emulator.controllers.set_enabled("cnpg", False)
    custom.create_namespaced_custom_object(*CNPG, _cluster())
    time.sleep(0.4)
    assert "status" not in kube_emulator.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default")
    kube_emulator.controllers.set_enabled("cnpg", True)  # picks up what exists, as a starting operator does
    _phases(custom, "pg", lambda s: s.get("phase") == HEALTHY)


def test_objects_created_before_start_are_reconciled():
    from tests.kube_emulator import KubeEmulator
    from tests.support import paths

    emu = KubeEmulator(crd_files=[paths.CNPG_CRDS], cnpg_delay=0.05, storage_classes={"standard": True})
    emu.create(_cluster())
    with emu:
        _wait(
            lambda: (
                (emu.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default").get("status") or {}).get("phase")
                == HEALTHY
            )
        )


def _deployment(name, annotations=None, replicas=2):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


def test_deployment_status_and_rollouts(kube_emulator):
    kube_emulator.create(_deployment("web", {"checksum/config": "a"}))

    def available():
        status = (kube_emulator.get("apps/v1", "Deployment", "web", "default") or {}).get("status") or {}
        return status.get("observedGeneration") == 1 and status

    status = _wait(available)
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"], status["updatedReplicas"]) == (
        2,
        2,
        2,
        2,
    )
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Available": "True", "Progressing": "True"}
    assert kube_emulator.rollouts("web") == 1
    pods = kube_emulator.list("v1", "Pod", "default")
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
    assert all({c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"] == "True" for p in pods)
    assert {p["metadata"]["annotations"]["checksum/config"] for p in pods} == {"a"}
    first_pods = {p["metadata"]["name"] for p in pods}
    replica_sets = kube_emulator.list("apps/v1", "ReplicaSet", "default")
    assert len(replica_sets) == 1 and replica_sets[0]["status"]["readyReplicas"] == 2
    store, rt = kube_emulator.store, kube_emulator.store.find_kind("apps/v1", "Deployment")
    store.patch(rt, "default", "web", "merge", {"metadata": {"labels": {"unrelated": "x"}}})
    time.sleep(0.3)
    assert kube_emulator.rollouts("web") == 1, "a metadata change is not a rollout"
    template_change = {"spec": {"template": {"metadata": {"annotations": {"checksum/config": "b"}}}}}
    store.patch(rt, "default", "web", "merge", template_change)
    _wait(lambda: kube_emulator.get("apps/v1", "Deployment", "web", "default")["status"]["observedGeneration"] == 2)
    assert kube_emulator.rollouts("web") == 2
    sets = {
        r["metadata"]["name"]: r["spec"]["replicas"] for r in kube_emulator.list("apps/v1", "ReplicaSet", "default")
    }
    assert sorted(sets.values()) == [0, 2], "the old ReplicaSet is scaled down"
    pods = kube_emulator.list("v1", "Pod", "default")
    assert {p["metadata"]["annotations"]["checksum/config"] for p in pods} == {"b"} and len(pods) == 2
    assert not first_pods & {p["metadata"]["name"] for p in pods}, "the pods were replaced"
    deployment = kube_emulator.get("apps/v1", "Deployment", "web", "default")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    kube_emulator.delete("apps/v1", "Deployment", "web", "default")
    assert (
        kube_emulator.list("v1", "Pod", "default") == []
        and kube_emulator.list("apps/v1", "ReplicaSet", "default") == []
    )


def test_statefulset_waits_for_its_volumes(kube_emulator_factory):
    emu = kube_emulator_factory(storage_classes={"longhorn": False})  # no default class
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "serviceName": "db",
            "replicas": 1,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "postgres:17"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    emu.create(sts)
    _wait(
        lambda: (emu.get("apps/v1", "StatefulSet", "db", "default").get("status") or {}).get("observedGeneration") == 1
    )
    assert emu.get("apps/v1", "StatefulSet", "db", "default")["status"]["readyReplicas"] == 0
    assert emu.get("v1", "PersistentVolumeClaim", "data-db-0", "default")["status"]["phase"] == "Pending"
    assert emu.get("v1", "Pod", "db-0", "default")["status"]["phase"] == "Pending"
    emu.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "provisioner": "x",
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        }
    )
    _wait(lambda: emu.get("apps/v1", "StatefulSet", "db", "default")["status"]["readyReplicas"] == 1)
    status = emu.get("apps/v1", "StatefulSet", "db", "default")["status"]
    assert status["currentRevision"] == status["updateRevision"]
    _wait(lambda: emu.get("v1", "Pod", "db-0", "default")["status"]["phase"] == "Running")


def test_pvc_binding_rules(kube_emulator_factory):
    emu = kube_emulator_factory(storage_classes={"standard": True, "longhorn": False})

    def pvc(name, storage_class=None):
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}
        if storage_class:
            spec["storageClassName"] = storage_class
        emu.create(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": "default"},
                "spec": spec,
            }
        )

    pvc("default-class")
    pvc("named", "longhorn")
    pvc("missing", "fast-ssd")

    def phase(name):
        return (emu.get("v1", "PersistentVolumeClaim", name, "default").get("status") or {}).get("phase")

    _wait(lambda: phase("default-class") == "Bound" and phase("named") == "Bound")
    assert emu.get("v1", "PersistentVolumeClaim", "default-class", "default")["spec"]["storageClassName"] == "standard"
    assert emu.get("v1", "PersistentVolumeClaim", "named", "default")["status"]["capacity"] == {"storage": "2Gi"}
    time.sleep(0.2)
    assert phase("missing") == "Pending"
    no_default = kube_emulator_factory(storage_classes={"longhorn": False})
    no_default.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "x", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }
    )
    time.sleep(0.2)
    assert no_default.get("v1", "PersistentVolumeClaim", "x", "default")["status"]["phase"] == "Pending"


BLUEPRINT = """\
version: 1
metadata:
  name: mlflow
entries:
  - model: authentik_providers_proxy.proxyprovider
    identifiers: {name: mlflow}
    attrs:
      external_host: https://mlflow.example.com
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
  - model: authentik_outposts.outpost
    identifiers: {name: MLflow Outpost}
    attrs:
      name: MLflow Outpost
      type: proxy
      providers: [!KeyOf mlflow]
      config:
        kubernetes_namespace: default
        kubernetes_httproute_parent_refs: [{name: gateway, namespace: default}]
"""


def test_authentik_outpost_from_blueprint(kube_emulator):
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "bp", "namespace": "default"},
            "data": {"mlflow.yaml": BLUEPRINT},
        }
    )
    route = _wait(
        lambda: kube_emulator.get("gateway.networking.k8s.io/v1", "HTTPRoute", "ak-outpost-mlflow-outpost", "default")
    )
    assert route["spec"]["hostnames"] == ["mlflow.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == "ak-outpost-mlflow-outpost"
    assert kube_emulator.get("apps/v1", "Deployment", "ak-outpost-mlflow-outpost", "default") is not None
    assert (
        kube_emulator.get("v1", "Service", "ak-outpost-mlflow-outpost", "default")["spec"]["ports"][0]["port"] == 9000
    )


def test_authentik_without_gateway_crds_makes_no_route(kube_emulator_factory):
    from tests.support import paths

    emu = kube_emulator_factory(crd_files=[paths.CNPG_CRDS])
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "bp", "namespace": "default"},
            "data": {"bp.yaml": BLUEPRINT},
        }
    )
    _wait(lambda: emu.get("v1", "Service", "ak-outpost-mlflow-outpost", "default"))
    assert emu.store.lookup("gateway.networking.k8s.io", "v1", "httproutes") is None


def test_cnpg_waits_for_its_volumes_without_churning(custom, kube_emulator):
    custom.create_namespaced_custom_object(*CNPG, _cluster(storage={"size": "1Gi", "storageClass": "fast-ssd"}))
    _, cluster = _phases(custom, "pg", lambda s: s.get("phase") == "Setting up primary")
    assert cluster["status"]["phaseReason"] == "Creating primary instance pg-1"
    time.sleep(0.3)
    rv = kube_emulator.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default")["metadata"]["resourceVersion"]
    time.sleep(0.5)  # five controller steps: the blocked cluster is not rewritten over and over
    assert kube_emulator.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default")["metadata"]["resourceVersion"] == rv
    assert kube_emulator.get("v1", "Pod", "pg-1", "default") is None  # the initdb job has no volume yet
    storage_class = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast-ssd"}}
    kube_emulator.create(dict(storage_class, provisioner="example.com/ssd"))
    _phases(custom, "pg", lambda s: s.get("phase") == HEALTHY)


def test_cnpg_image_without_a_version_stops_the_operator(custom, kube_emulator):
    """reconcileImage cannot parse a major version from the tag: the phase says so, and the pass ends
    there (no instance is created, the status is not rewritten)."""
    custom.create_namespaced_custom_object(*CNPG, _cluster(imageName="registry.example.com/postgres:latest"))
    _, cluster = _phases(custom, "pg", lambda s: s.get("phase") == "Cluster has incomplete or invalid image catalog")
    assert "cannot parse version from image" in cluster["status"]["phaseReason"]
    rv = cluster["metadata"]["resourceVersion"]
    time.sleep(0.5)
    assert kube_emulator.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default")["metadata"]["resourceVersion"] == rv
    assert kube_emulator.list("v1", "PersistentVolumeClaim", "default") == []
