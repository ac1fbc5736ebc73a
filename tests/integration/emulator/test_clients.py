"""Real clients against the emulator: kubectl, the pinned helm and kubernetes.core through ansible-playbook."""

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.emulator.conftest import kubectl, needs_kubectl
from tests.support.ansible_run import run_playbook
from tests.support.paths import TOOLS_BIN, tool_env

HERE = Path(__file__).parent
HELM = TOOLS_BIN / "helm"

CLUSTER = """\
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: pg}
spec:
  instances: 1
  storage: {size: 1Gi}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27", env: [{name: A, value: "%s"}]}]}
"""


@needs_kubectl
def test_kubectl_apply_get_wait(kube_emulator, tmp_path):
    cache = tmp_path / "cache"
    # imperative creates send protobuf bodies
    kubectl(kube_emulator, "create", "namespace", "team", cache_dir=cache)
    kubectl(kube_emulator, "-n", "team", "create", "secret", "generic", "s", "--from-literal=k=v", cache_dir=cache)
    assert kube_emulator.get("v1", "Secret", "s", "team")["data"] == {"k": "dg=="}
    applied = kubectl(kube_emulator, "apply", "-f", "-", input=DEPLOYMENT % "1" + "---\n" + CLUSTER, cache_dir=cache)
    assert "deployment.apps/web created" in applied.stdout and "cluster.postgresql.cnpg.io/pg created" in applied.stdout
    kubectl(kube_emulator, "wait", "--for=condition=Available", "deploy/web", "--timeout=20s", cache_dir=cache)
    kubectl(kube_emulator, "wait", "--for=condition=Ready", "cluster/pg", "--timeout=20s", cache_dir=cache)
    table = kubectl(kube_emulator, "get", "clusters", cache_dir=cache).stdout
    assert "Cluster in healthy state" in table.splitlines()[1]
    # a client-side apply of a change is a strategic-merge patch computed by kubectl
    assert "configured" in kubectl(kube_emulator, "apply", "-f", "-", input=DEPLOYMENT % "2", cache_dir=cache).stdout
    live = json.loads(kubectl(kube_emulator, "get", "deploy", "web", "-o", "json", cache_dir=cache).stdout)
    assert live["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "2"}]
    assert live["metadata"]["generation"] == 2
    refused = kubectl(
        kube_emulator,
        "apply",
        "-f",
        "-",
        input=CLUSTER.replace("instances", "instancess"),
        check=False,
        cache_dir=cache,
    )
    assert refused.returncode != 0 and 'unknown field "spec.instancess"' in refused.stderr


@pytest.fixture
def chart(tmp_path):
    subprocess.run([str(HELM), "create", "demo"], cwd=tmp_path, check=True, capture_output=True, env=tool_env())
    return tmp_path / "demo"


def helm(emu, *args, check=True):
    env = tool_env({"KUBECONFIG": emu.kubeconfig, "HELM_CACHE_HOME": emu.kubeconfig.parent / "helm-cache"})
    proc = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.slow
def test_helm_release_lifecycle(kube_emulator, chart):
    helm(kube_emulator, "upgrade", "--install", "demo", str(chart), "--wait", "--timeout", "60s")
    deployment = kube_emulator.get("apps/v1", "Deployment", "demo", "default")
    assert deployment["status"]["readyReplicas"] == 1, "--wait returned only once the controller made it ready"
    creates = [r for r in kube_emulator.requests if r.verb == "create" and r.resource == "secrets"]
    assert creates and all(r.content_type == "application/vnd.kubernetes.protobuf" for r in creates)
    helm(kube_emulator, "upgrade", "--install", "demo", str(chart), "--wait", "--set", "replicaCount=2")
    releases = json.loads(helm(kube_emulator, "list", "-o", "json").stdout)
    assert [(r["name"], r["revision"], r["status"]) for r in releases] == [("demo", "2", "deployed")]
    history = json.loads(helm(kube_emulator, "history", "demo", "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    assert json.loads(helm(kube_emulator, "get", "values", "demo", "-o", "json").stdout) == {"replicaCount": 2}
    assert kube_emulator.get("apps/v1", "Deployment", "demo", "default")["spec"]["replicas"] == 2
    helm(kube_emulator, "uninstall", "demo")
    assert kube_emulator.get("apps/v1", "Deployment", "demo", "default") is None
    assert not [s for s in kube_emulator.list("v1", "Secret", "default") if s["type"] == "helm.sh/release.v1"]


def test_helm_wait_times_out_without_the_workload_controller(kube_emulator_factory, chart):
    emu = kube_emulator_factory(controllers=("cnpg", "pvc"))
    failed = helm(emu, "upgrade", "--install", "demo", str(chart), "--wait", "--timeout", "3s", check=False)
    assert failed.returncode != 0 and "context deadline exceeded" in failed.stderr


@pytest.mark.slow
def test_kubernetes_core_modules(kube_emulator, chart):
    kube_emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "emu-demo"}})
    other = {"name": "other", "namespace": "emu-demo", "labels": {"tier": "db"}}
    kube_emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": other})
    run = run_playbook(
        HERE / "playbooks" / "k8s_modules.yml",
        extra_vars={"demo_chart": str(chart)},
        env={"K8S_AUTH_KUBECONFIG": str(kube_emulator.kubeconfig), "KUBECONFIG": str(kube_emulator.kubeconfig)},
        verbosity=0,
        timeout=300,
    )
    assert run.rc == 0, run.output
    report = _debug_msg(run.output)
    assert report["check_changed"] is True
    assert report["created_changed"] is True
    assert report["rerun_changed"] is False, "an identical re-run is idempotent"
    assert report["changed_changed"] is True
    assert (report["changed_diff_before"], report["changed_diff_after"]) == ({"a": "1"}, {"a": "2"})
    assert sorted(report["found"]) == ["settings"]
    assert report["ssa_changed"] is True and int(report["ssa_ready"]) == 2
    assert report["ssa_again_changed"] is False
    assert report["csa_changed"] == [True, False]
    assert (report["helm_changed"], report["helm_status"]) == (True, "deployed")
    assert kube_emulator.get("apps/v1", "Deployment", "demo", "emu-demo")["status"]["readyReplicas"] == 1
    assert report["cluster_phase"] == "Cluster in healthy state"
    assert report["deleted_changed"] is True
    # what the store holds agrees with what the modules said
    assert kube_emulator.get("v1", "ConfigMap", "check-only", "emu-demo") is None
    assert kube_emulator.get("v1", "ConfigMap", "other", "emu-demo") is None
    managers = {
        m["manager"] for m in kube_emulator.get("apps/v1", "Deployment", "web", "emu-demo")["metadata"]["managedFields"]
    }
    assert "emulator-test" in managers
    assert run.recap()["failed"] == 0


def _debug_msg(output):
    """The `msg` of the playbook's final debug task (printed as YAML by the default callback)."""
    import yaml

    block = output.split("TASK [Report what the modules returned]", 1)[1].split("PLAY RECAP", 1)[0]
    text = block.split("=>", 1)[1]
    return yaml.safe_load(text)["msg"]


@needs_kubectl
def test_kubectl_wait_on_a_cluster_and_the_cnpg_delay(kube_emulator_factory, tmp_path):
    emu = kube_emulator_factory(cnpg_delay=0.5)
    emu.controllers.set_enabled("cnpg", False)
    kubectl(emu, "apply", "-f", "-", input=CLUSTER, cache_dir=tmp_path)
    proc = kubectl(emu, "wait", "--for=condition=Ready", "cluster/pg", "--timeout=1s", check=False, cache_dir=tmp_path)
    assert proc.returncode != 0 and "timed out" in proc.stderr
    started = time.monotonic()
    emu.controllers.set_enabled("cnpg", True)
    kubectl(emu, "wait", "--for=condition=Ready", "cluster/pg", "--timeout=20s", cache_dir=tmp_path)
    assert time.monotonic() - started >= 1.0, "three phase steps of 0.5 s cannot be done sooner"
