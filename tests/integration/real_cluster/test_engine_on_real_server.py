"""The collection's object engine (apocrathia.mlflow.k8s_objects) in a playbook, against the real API server.

What a user sees: the quantities written come back in the server's canonical form, a re-run of
the same manifest changes nothing (the server keeps the object's resourceVersion), a field taken
out of a manifest is gone from the cluster, and objects written by the engine's earlier
create-and-patch versions are taken over on the first run, so the same holds after an upgrade.
"""

import json

import pytest

from tests.cluster.local_cluster import ADMIN_USER
from tests.support.ansible_run import run_playbook

pytestmark = pytest.mark.slow

PLAYBOOK = """
- name: Apply a Deployment with apocrathia.mlflow.k8s_objects
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/apocrathia.mlflow.kubernetes:
      kubeconfig: "{{ kubeconfig }}"
  tasks:
    - name: Apply the Deployment
      apocrathia.mlflow.k8s_objects:
        definitions:
          - "{{ deployment }}"
"""


def deployment(namespace):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "sized", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "sized"}},
            "template": {
                "metadata": {"labels": {"app": "sized"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {
                                "requests": {"cpu": "1000m", "memory": "1024Mi"},
                                "limits": {"cpu": "2000m", "memory": "2048Mi"},
                            },
                        }
                    ]
                },
            },
        },
    }


def apply(tmp_path, cluster, namespace):
    playbook = tmp_path / "apply.yml"
    playbook.write_text(PLAYBOOK)
    run = run_playbook(
        playbook, extra_vars={"kubeconfig": str(cluster.kubeconfig), "deployment": deployment(namespace)}, verbosity=0
    )
    assert run.rc == 0, run.output
    (applied,) = run.objects(kind="Deployment")
    return applied


def admin_writes_to(cluster, namespace, name):
    """The verbs of the writes the admin (the playbook's kubeconfig) sent for one object; controllers' are left out."""
    return [
        e["verb"]
        for e in (json.loads(line) for line in cluster.audit_log.read_text().splitlines() if line.strip())
        if e.get("objectRef", {}).get("namespace") == namespace
        and e["objectRef"].get("name") == name
        and e["verb"] in ("create", "update", "patch", "delete")
        and e["user"]["username"] == ADMIN_USER
    ]


def live_object(cluster, namespace, kind, name):
    return json.loads(cluster.kubectl("-n", namespace, "get", kind, name, "-o", "json").stdout)


def test_quantities_come_back_canonical_and_a_rerun_changes_nothing(tmp_path, real_cluster, cluster_namespace):
    ns = cluster_namespace
    assert apply(tmp_path, real_cluster, ns)["action"] == "created"
    live = live_object(real_cluster, ns, "deployment", "sized")
    resources = live["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}

    # The manifest still says "1000m": the server applies it, stores "1" again, and keeps the
    # object as it was, so the task reports no change.
    again = apply(tmp_path, real_cluster, ns)
    assert again["action"] == "unchanged"
    after = live_object(real_cluster, ns, "deployment", "sized")
    assert after["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    assert after["metadata"]["generation"] == 1
    # Both runs sent one server-side apply (the first one created the Deployment).
    assert admin_writes_to(real_cluster, ns, "sized") == ["patch", "patch"]
