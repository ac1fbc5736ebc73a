"""apocrathia.mlflow.cnpg_cluster_wait against the Kubernetes API emulator (tests/kube_emulator).

The module runs in-process (on a thread, so the test can change the Cluster while it waits) with
kubernetes.core's real client and a kubeconfig pointing at the emulator; one test runs it through
ansible-playbook with K8S_AUTH_KUBECONFIG.
"""

import json
import threading
import time
import urllib.request

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import PHASE_HEALTHY, TERMINAL_PHASES
from ansible_collections.apocrathia.mlflow.plugins.modules import cnpg_cluster_wait

from tests.integration.registered_results import run_with_results
from tests.support.ansible_run import run_playbook, write_inventory
from tests.unit.utils.ansible_module_mock import AnsibleExitJson, AnsibleFailJson, patched_exit_fail, set_module_args

API = "postgresql.cnpg.io/v1"
NS = "default"


def cluster_manifest(name="db", instances=3):
    return {
        "apiVersion": API,
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"instances": instances, "storage": {"size": "1Gi"}},
    }


def ready_condition(status):
    """The Ready condition as CloudNativePG 1.30 writes it (pkg/resources/status/transactions.go
    SetClusterReadyCondition): type, status, reason and message, and the transition time that
    meta.SetStatusCondition stamps; no observedGeneration."""
    return {
        "type": "Ready",
        "status": status,
        "reason": "ClusterIsReady" if status == "True" else "ClusterIsNotReady",
        "message": "Cluster is Ready" if status == "True" else "Cluster Is Not Ready",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def set_status(emu, phase, ready_instances, ready="False", reason="", name="db", instances=3):
    """Write a Cluster status of the shape the operator writes (the fields the module reads)."""
    emu.patch_status(
        API,
        "Cluster",
        name,
        NS,
        {
            "phase": phase,
            "phaseReason": reason or None,
            "instances": instances,
            "readyInstances": ready_instances,
            "currentPrimary": name + "-1",
            "targetPrimary": name + "-1",
            "writeService": name + "-rw",
            "readService": name + "-r",
            "conditions": [ready_condition(ready)],
        },
    )


def merge_patch_spec(emu, name, spec):
    """Change the spec over HTTP, as kubectl would (metadata.generation goes up)."""
    request = urllib.request.Request(  # noqa: S310 - the local emulator, over http
        f"{emu.url}/apis/{API}/namespaces/{NS}/clusters/{name}",
        data=json.dumps({"spec": spec}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json", "Authorization": "Bearer kube-emulator-token"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local emulator
        return json.loads(response.read())


def cluster_requests(emu, verb):
    return [r for r in emu.requests if r.resource == "clusters" and r.verb == verb]


class ModuleRun(threading.Thread):
    """Run the module on a thread; ``kind`` is 'exit' or 'fail', ``result`` what it returned."""

    def __init__(self, emu, check_mode=False, **args):
        super().__init__(daemon=True)
        self.args = dict({"name": "db", "namespace": NS, "kubeconfig": str(emu.kubeconfig), "timeout": 30}, **args)
        if check_mode:
            self.args["_ansible_check_mode"] = True
        self.kind = self.result = self.returned_at = None
        self.error = None

    def run(self):
        try:
            with set_module_args(self.args), patched_exit_fail():
                cnpg_cluster_wait.main()
        except AnsibleExitJson as e:
            self.kind, self.result = "exit", e.args[0]
        except AnsibleFailJson as e:
            self.kind, self.result = "fail", e.args[0]
        except BaseException as e:  # noqa: BLE001 - reported by finish()
            self.error = e
        self.returned_at = time.monotonic()

    def finish(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), "the module did not return"
        if self.error:
            raise self.error
        return self.kind, self.result


def run_module(emu, **args):
    """Run the module to completion: (kind, result)."""
    run = ModuleRun(emu, **args)
    run.start()
    return run.finish()


def wait_until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


# ----------------------------------------------------------------------------------------------


def test_normal_progression_with_the_operator(kube_emulator):
    kube_emulator.create(cluster_manifest(instances=3))
    kind, result = run_module(kube_emulator)
    assert kind == "exit", result.get("msg")
    assert result["changed"] is False and result["ready"] is True
    assert result["phase"] == PHASE_HEALTHY
    assert (result["instances"], result["ready_instances"]) == (3, 3)
    assert (result["current_primary"], result["write_service"], result["read_service"]) == ("db-1", "db-rw", "db-r")
    cluster = kube_emulator.get(API, "Cluster", "db", NS)
    assert result["image"] == cluster["spec"]["imageName"]  # the defaulting webhook's image, copied by the operator
    phases = [t["phase"] for t in result["timeline"]]
    assert phases[0] in ("Setting up primary", None) and phases[-1] == PHASE_HEALTHY
    assert "Waiting for the instances to become active" in phases
    # Several phases seen after a single list: they came through the watch, not polling. (The
    # emulator logs a watch request only when it ends, so the open one cannot be counted here.)
    assert len(cluster_requests(kube_emulator, "list")) == 1
    assert len(cluster_requests(kube_emulator, "get")) == 0


def test_after_a_spec_change_a_stale_healthy_status_is_not_ready(kube_emulator_factory):
    """The status carries no generation: after a spec change (spec_changed) the healthy status read
    first counts only once the operator has rewritten it, or after settle_seconds without a write."""
    emu = kube_emulator_factory(controllers=())
    emu.create(cluster_manifest(instances=1))
    set_status(emu, PHASE_HEALTHY, 1, ready="True", instances=1)
    patched = merge_patch_spec(emu, "db", {"resources": {"requests": {"memory": "1Gi"}}})
    assert patched["metadata"]["generation"] == 2
    # Healthy and Ready=True from before the change: what wait_condition would accept.
    stale = emu.get(API, "Cluster", "db", NS)
    assert stale["status"]["phase"] == PHASE_HEALTHY and stale["status"]["conditions"][0]["status"] == "True"

    run = ModuleRun(emu, timeout=30, spec_changed=True, settle_seconds=20)
    run.start()
    wait_until(lambda: cluster_requests(emu, "list"))
    time.sleep(1)
    assert run.is_alive(), f"a healthy status from before the change was accepted: {run.result}"
    restart = "Primary instance is being restarted without a switchover"
    set_status(emu, restart, 0, reason="original and target PodSpec differ in containers", instances=1)
    time.sleep(0.3)
    assert run.is_alive(), "a restarting Cluster was taken as ready"
    set_status(emu, PHASE_HEALTHY, 1, ready="True", instances=1)
    kind, result = run.finish()
    assert kind == "exit" and result["ready"] is True, result.get("msg")
    assert [t["phase"] for t in result["timeline"]] == [PHASE_HEALTHY, restart, PHASE_HEALTHY]
    assert result["elapsed"] < 20  # the rewrite made the status current, not the settle time


def test_after_a_spec_change_that_needs_no_work_the_status_counts_after_settle_seconds(kube_emulator_factory):
    emu = kube_emulator_factory(controllers=())
    emu.create(cluster_manifest(instances=1))
    set_status(emu, PHASE_HEALTHY, 1, ready="True", instances=1)
    merge_patch_spec(emu, "db", {"description": "the MLflow database"})
    kind, result = run_module(emu, spec_changed=True, settle_seconds=2)
    assert kind == "exit" and result["ready"] is True, result.get("msg")
    assert 2 <= result["elapsed"] < 10


def test_a_rollout_by_the_operator_is_waited_for(kube_emulator_factory):
    """The emulator's operator reacts to a spec change on a healthy Cluster as CloudNativePG does:
    the module, told the spec changed, returns only after the rollout's phases, once the instances
    run the new spec."""
    emu = kube_emulator_factory(cnpg_delay=0.3)
    emu.create(cluster_manifest(instances=2))
    kind, result = run_module(emu, timeout=60)
    assert kind == "exit" and result["ready"] is True, result.get("msg")

    merge_patch_spec(emu, "db", {"resources": {"requests": {"memory": "1Gi"}}})
    kind, result = run_module(emu, timeout=60, spec_changed=True)
    assert kind == "exit" and result["ready"] is True, result.get("msg")
    phases = [t["phase"] for t in result["timeline"]]
    assert "Upgrading cluster" in phases, phases
    assert "Primary instance is being restarted without a switchover" in phases, phases
    assert phases[-1] == PHASE_HEALTHY
    pods = emu.list("v1", "Pod", NS)
    assert len(pods) == 2
    assert all(p["spec"]["containers"][0]["resources"] == {"requests": {"memory": "1Gi"}} for p in pods)

    image = "ghcr.io/cloudnative-pg/postgresql:18.5-system-trixie"
    merge_patch_spec(emu, "db", {"imageName": image})
    kind, result = run_module(emu, timeout=60, spec_changed=True)
    assert kind == "exit" and result["ready"] is True, result.get("msg")
    assert result["image"] == image and "Upgrading cluster" in [t["phase"] for t in result["timeline"]]
    assert {p["spec"]["containers"][0]["image"] for p in emu.list("v1", "Pod", NS)} == {image}


@pytest.mark.parametrize("phase", sorted(TERMINAL_PHASES))
def test_terminal_phase_fails_fast(kube_emulator, phase):
    kube_emulator.controllers.cnpg.fail_with(phase, "reason for " + phase[:20])
    kube_emulator.create(cluster_manifest(instances=1))
    kind, result = run_module(kube_emulator, timeout=60)
    assert kind == "fail"
    assert f"terminal phase '{phase}'" in result["msg"]
    assert "reason for " + phase[:20] in result["msg"]
    assert result["phase"] == phase and result["phase_reason"] == "reason for " + phase[:20]
    assert result["elapsed"] < 30  # failed fast, not at the timeout
    assert result["timeline"][-1]["phase"] == phase


def test_timeout_reports_last_phase_counts_and_history(kube_emulator_factory):
    emu = kube_emulator_factory(controllers=())
    emu.create(cluster_manifest(instances=3))
    set_status(emu, "Setting up primary", 0)
    run = ModuleRun(emu, timeout=2)
    run.start()
    wait_until(lambda: cluster_requests(emu, "list"))
    set_status(emu, "Creating a new replica", 1)
    kind, result = run.finish()
    assert kind == "fail"
    msg = result["msg"]
    assert msg.startswith("Timed out after 2s waiting for Cluster 'default/db' to be ready")
    assert "phase 'Creating a new replica'" in msg and "readyInstances 1/3" in msg
    assert "Setting up primary (" in msg and "-> Creating a new replica (" in msg
    assert [t["phase"] for t in result["timeline"]] == ["Setting up primary", "Creating a new replica"]
    assert 2 <= result["elapsed"] < 4


def test_dropped_watches_are_resumed_without_relisting(kube_emulator):
    kube_emulator.faults.close_watch_after(1, resource="clusters")
    kube_emulator.create(cluster_manifest(instances=2))
    kind, result = run_module(kube_emulator)
    assert kind == "exit" and result["ready"] is True, result.get("msg")
    watches = cluster_requests(kube_emulator, "watch")
    assert len(watches) >= 3  # the server closed each watch after one event
    assert len(cluster_requests(kube_emulator, "list")) == 1
    # Each watch resumed from a different (later) resourceVersion.
    versions = [r.path.split("resourceVersion=")[1].split("&")[0] for r in watches]
    assert len(set(versions)) == len(versions)


def test_410_gone_relists(kube_emulator_factory):
    emu = kube_emulator_factory(controllers=())
    emu.create(cluster_manifest(instances=1))
    set_status(emu, "Setting up primary", 0, instances=1)
    emu.faults.latency(1.5, verb="watch", resource="clusters")
    run = ModuleRun(emu, timeout=20)
    run.start()
    wait_until(lambda: cluster_requests(emu, "list"))
    # While the watch request is delayed, the Cluster becomes healthy and history is compacted.
    set_status(emu, PHASE_HEALTHY, 1, ready="True", instances=1)
    emu.compact()
    kind, result = run.finish()
    assert kind == "exit" and result["ready"] is True, result.get("msg")
    assert len(cluster_requests(emu, "list")) == 2


def test_500s_are_retried(kube_emulator):
    kube_emulator.faults.add(verb="list", resource="clusters", status=503, times=1)
    kube_emulator.faults.add(verb="watch", resource="clusters", status=500, times=2)
    kube_emulator.create(cluster_manifest(instances=1))
    kind, result = run_module(kube_emulator)
    assert kind == "exit" and result["ready"] is True, result.get("msg")
    statuses = [r.status for r in kube_emulator.requests if r.resource == "clusters"]
    assert statuses.count(503) == 1 and statuses.count(500) == 2


def test_500s_give_up_after_bounded_retries(kube_emulator):
    kube_emulator.create(cluster_manifest(instances=1))
    kube_emulator.faults.add(verb="watch", resource="clusters", status=500, times=None, message="etcdserver: timeout")
    kind, result = run_module(kube_emulator, timeout=60)
    assert kind == "fail"
    assert "failed 6 times in a row" in result["msg"] and "etcdserver: timeout" in result["msg"]
    assert len(cluster_requests(kube_emulator, "watch")) == 6
    assert result["elapsed"] < 10


def test_missing_crd_says_operator_not_installed(kube_emulator_factory):
    emu = kube_emulator_factory(crd_files=[], controllers=())
    kind, result = run_module(emu)
    assert kind == "fail"
    assert result["msg"].startswith("CloudNativePG operator is not installed")
    assert "Install the CloudNativePG operator" in result["msg"]


@pytest.mark.parametrize("verb", ["list", "watch"])
def test_403_names_verb_and_rbac(kube_emulator, verb):
    kube_emulator.create(cluster_manifest(instances=1))
    kube_emulator.faults.forbid(verb, "clusters")
    kind, result = run_module(kube_emulator)
    assert kind == "fail"
    assert f"may not {verb} clusters.postgresql.cnpg.io in namespace 'default'" in result["msg"]
    assert "verbs: ['get', 'list', 'watch']" in result["msg"]


def test_missing_cluster_fails_or_is_waited_for(kube_emulator):
    kind, result = run_module(kube_emulator)
    assert kind == "fail" and "'default/db' not found" in result["msg"]

    run = ModuleRun(kube_emulator, wait_for_creation=True)
    run.start()
    wait_until(lambda: len(cluster_requests(kube_emulator, "list")) == 2)
    kube_emulator.create(cluster_manifest(instances=1))
    kind, result = run.finish()
    assert kind == "exit" and result["ready"] is True, result.get("msg")
    assert result["timeline"][0]["exists"] is False


def test_check_mode_reports_without_waiting(kube_emulator_factory):
    emu = kube_emulator_factory(controllers=())
    emu.create(cluster_manifest(instances=3))
    set_status(emu, "Creating a new replica", 1)
    kind, result = run_module(emu, check_mode=True)
    assert kind == "exit" and result["changed"] is False and result["ready"] is False
    assert result["phase"] == "Creating a new replica" and result["ready_instances"] == 1
    assert len(cluster_requests(emu, "list")) == 1 and not cluster_requests(emu, "watch")


def test_readiness_latency(kube_emulator_factory, record_property):
    """Measured, not asserted: time from the status change to the module's return."""
    emu = kube_emulator_factory(controllers=())
    emu.create(cluster_manifest(instances=1))
    set_status(emu, "Waiting for the instances to become active", 0, instances=1)
    run = ModuleRun(emu, timeout=30)
    run.start()
    wait_until(lambda: cluster_requests(emu, "list"))
    time.sleep(0.3)  # let the watch open, so the measurement is the watch path
    changed_at = time.monotonic()
    set_status(emu, PHASE_HEALTHY, 1, ready="True", instances=1)
    kind, result = run.finish()
    latency = run.returned_at - changed_at
    record_property("readiness_latency_s", round(latency, 4))
    print(f"readiness latency: {latency * 1000:.1f} ms")
    assert kind == "exit" and result["ready"] is True


@pytest.mark.slow
def test_through_ansible_playbook(kube_emulator_factory, tmp_path):
    """ansible-playbook, connection from K8S_AUTH_KUBECONFIG; the Cluster progresses while the task waits."""
    emu = kube_emulator_factory(controllers=())
    emu.create(cluster_manifest(instances=2))
    set_status(emu, "Setting up primary", 0, instances=2)
    playbook = tmp_path / "wait.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Wait for the database cluster\n"
        "      apocrathia.mlflow.cnpg_cluster_wait:\n"
        "        name: db\n"
        "        namespace: default\n"
        "        timeout: 120\n"
        "      register: db\n"
        "    - name: Check what it returned\n"
        "      ansible.builtin.assert:\n"
        "        that:\n"
        "          - db.ready\n"
        "          - db.phase == 'Cluster in healthy state'\n"
        "          - db.ready_instances == 2\n"
        "          - db.write_service == 'db-rw'\n"
        "          - db.timeline | map(attribute='phase') | list == ['Setting up primary', 'Creating a new replica',"
        " 'Cluster in healthy state']\n"
        "          - not db.changed\n"
    )
    inventory = write_inventory(tmp_path / "hosts.yml", {})
    runs = []
    player = threading.Thread(
        target=lambda: runs.append(
            run_playbook(playbook, inventory=inventory, env={"K8S_AUTH_KUBECONFIG": emu.kubeconfig}, timeout=300)
        ),
        daemon=True,
    )
    player.start()
    wait_until(lambda: cluster_requests(emu, "list"), timeout=120)
    set_status(emu, "Creating a new replica", 1, instances=2)
    set_status(emu, PHASE_HEALTHY, 2, ready="True", instances=2)
    player.join(300)
    run = runs[0]
    assert run.rc == 0, run.output[-3000:]
    assert run.recap().get("failed", 0) == 0 and run.recap().get("changed", 0) == 0
    assert "phase: Cluster in healthy state" in run.output


@pytest.mark.slow
def test_a_play_runs_it_in_the_controller_with_the_modules_results(kube_emulator_factory, tmp_path):
    """In a play the action plugin of the same name runs (no module is started), connected by
    module_defaults alone, and returns what the module returns: the same fields, the same
    messages, the same check-mode warnings."""
    emu = kube_emulator_factory(controllers=())
    emu.create(cluster_manifest(instances=1))
    set_status(emu, PHASE_HEALTHY, 1, ready="True", instances=1)
    playbook = tmp_path / "wait.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  module_defaults:\n"
        "    group/apocrathia.mlflow.kubernetes:\n"
        f"      kubeconfig: {emu.kubeconfig}\n"
        "  tasks:\n"
        "    - name: Wait for the ready cluster\n"
        "      apocrathia.mlflow.cnpg_cluster_wait:\n"
        "        name: db\n"
        "        namespace: default\n"
        "        timeout: 30\n"
        "    - name: Read a missing cluster in check mode\n"
        "      apocrathia.mlflow.cnpg_cluster_wait:\n"
        "        name: other\n"
        "        namespace: default\n"
        "      check_mode: true\n"
        "    - name: Wait for a missing cluster\n"
        "      apocrathia.mlflow.cnpg_cluster_wait:\n"
        "        name: other\n"
        "        namespace: default\n"
        "        timeout: 30\n"
        "      ignore_errors: true\n"
        "    - name: Refuse a timeout of zero\n"
        "      apocrathia.mlflow.cnpg_cluster_wait:\n"
        "        name: db\n"
        "        namespace: default\n"
        "        timeout: 0\n"
        "      ignore_errors: true\n"
    )

    class Site:
        def run(self, path, env):
            # No K8S_AUTH_* in the environment: the connection comes from module_defaults only.
            env = {k: v for k, v in env.items() if not k.startswith("K8S_AUTH_")}
            return run_playbook(path, inventory=write_inventory(tmp_path / "hosts.yml", {}), env=env, timeout=300)

    action = "apocrathia.mlflow.cnpg_cluster_wait"
    run, results = run_with_results(Site(), playbook, (action,))
    assert run.rc == 0, run.output[-3000:]
    assert run.recap().get("ignored") == 2, run.output[-3000:]  # the missing cluster and the zero timeout failed
    ready, check, missing, zero = results[action]
    # No module file was used for these tasks (-vvv names the module file of every module it starts).
    assert "cnpg_cluster_wait.py" not in "\n".join(
        line for line in run.output.splitlines() if "Using module file" in line
    )

    _, module_ready = run_module(emu, timeout=30)
    assert ready["ready"] is True and ready["changed"] is False and "failed" not in ready
    fields = set(module_ready) - {"invocation", "warnings"}
    assert fields <= set(ready), fields - set(ready)
    assert {k: ready[k] for k in fields if k not in ("elapsed", "timeline", "msg")} == {
        k: module_ready[k] for k in fields if k not in ("elapsed", "timeline", "msg")
    }
    assert ready["msg"].startswith("Cluster 'default/db' is ready after ")

    _, module_check = run_module(emu, check_mode=True, name="other")
    assert (
        check["msg"]
        == module_check["msg"]
        == ("Check mode: Cluster 'default/other' is not ready: the Cluster does not exist.")
    )
    # (The in-process module's warnings go to Ansible's global list, not to its result here.)
    assert check["warnings"] == ["Cluster 'default/other' does not exist (yet)."]
    assert check["exists"] is False and check["changed"] is False

    kind, module_missing = run_module(emu, name="other")
    assert kind == "fail"
    assert missing["msg"] == module_missing["msg"]
    assert "'default/other' not found" in missing["msg"]

    kind, module_zero = run_module(emu, timeout=0)
    assert kind == "fail"
    assert zero["msg"] == module_zero["msg"] == "timeout must be at least 1 second, got 0."
