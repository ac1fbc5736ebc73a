"""The local cluster (tests/cluster) is real Kubernetes: the version clients see, the controllers and
scheduler at work, PodSecurity admission and the audit log, each through the built kubectl."""

import json
import time

import pytest

from tests.cluster.local_cluster import ADMIN_USER, KUBERNETES_VERSION, NODE_NAME

pytestmark = pytest.mark.slow

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.k8s.io/pause:3.10
"""

PRIVILEGED_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: root-shell
spec:
  containers:
    - name: shell
      image: registry.k8s.io/pause:3.10
      securityContext:
        privileged: true
"""


def test_server_and_kubectl_report_the_pinned_version(real_cluster):
    versions = json.loads(real_cluster.kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION


def test_a_two_replica_deployment_becomes_available(real_cluster, cluster_namespace):
    ns = cluster_namespace
    real_cluster.kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT)
    # The deployment and replicaset controllers make the pods, the scheduler binds them, kwok runs them.
    real_cluster.kubectl("-n", ns, "wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
    deployment = json.loads(real_cluster.kubectl("-n", ns, "get", "deployment", "web", "-o", "json").stdout)
    assert deployment["status"]["availableReplicas"] == 2
    pods = json.loads(real_cluster.kubectl("-n", ns, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert [(p["spec"]["nodeName"], p["status"]["phase"]) for p in pods] == [(NODE_NAME, "Running")] * 2
    # The pods came from the ServiceAccount admission: the controller-manager made `default` here.
    assert {p["spec"]["serviceAccountName"] for p in pods} == {"default"}


def test_a_restricted_namespace_refuses_a_privileged_pod(real_cluster, cluster_namespace):
    ns = cluster_namespace
    real_cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    refused = real_cluster.kubectl("-n", ns, "apply", "-f", "-", input=PRIVILEGED_POD, check=False)
    assert refused.returncode != 0
    assert 'pods "root-shell" is forbidden: violates PodSecurity "restricted:latest"' in refused.stderr
    assert 'privileged (container "shell" must not set securityContext.privileged=true)' in refused.stderr
    assert real_cluster.kubectl("-n", ns, "get", "pods", "-o", "name").stdout == ""


def audit_events(cluster):
    return [json.loads(line) for line in cluster.audit_log.read_text().splitlines() if line.strip()]


def test_the_audit_log_records_a_write_with_its_verb_and_user(real_cluster, cluster_namespace):
    ns = cluster_namespace
    real_cluster.kubectl("-n", ns, "create", "configmap", "settings", "--from-literal=workers=4")

    def create_events():
        # Only this ConfigMap: the controller-manager writes kube-root-ca.crt into every new namespace.
        return [
            e
            for e in audit_events(real_cluster)
            if {"namespace": ns, "name": "settings"}.items() <= e.get("objectRef", {}).items()
        ]

    # The log backend writes each event as its request completes; give the write a moment to land.
    deadline = time.monotonic() + 10
    while not create_events() and time.monotonic() < deadline:
        time.sleep(0.2)
    (event,) = create_events()
    assert (event["verb"], event["objectRef"]["resource"], event["user"]["username"]) == (
        "create",
        "configmaps",
        ADMIN_USER,
    )
    assert "system:masters" in event["user"]["groups"]
    assert (event["level"], event["stage"], event["responseStatus"]["code"]) == ("Metadata", "ResponseComplete", 201)
    # Metadata level: who did what, never the data written.
    assert "requestObject" not in event and "workers" not in json.dumps(event)
