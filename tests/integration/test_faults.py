"""site.yml under API faults (issue 8, Faults): each run either retries and converges or fails
with a clear message; a re-run after a failure converges; nothing is deleted; the -vvv output
of every run holds no secret value. docs/faults.md records the outcomes.

One fresh emulated cluster and three runs (a full run is about a minute of site.yml, so the cases
share runs rather than converge once per case):

1. faults in the order site.yml meets them: dropped watches, slow responses, a 429 and a 500 on
   the Cluster readiness watch; a 409 Conflict on the artifact PVC's create; a 500 on the Nth
   request (helm's first write of the Deployment: a create with helm 3, a server-side apply
   patch with helm 4), which fails the run (helm --atomic then removes
   what that install created: the only deletes allowed);
2. a re-run with a 429 on the Nth request (the preflight's first read of the CNPG API), which
   fails before any write;
3. the re-run without faults, which converges.
"""

import re
import secrets
import subprocess
import threading
import time

import pytest

from tests.integration.conftest import secret_strings, site_extra_vars, start_emulator
from tests.integration.day2_support import Site, deletes, object_keys
from tests.support import paths
from tests.support.ansible_run import assert_no_secrets

pytestmark = pytest.mark.slow

NS = "mlflow"


def helm_write_verb():
    """How the pinned helm first writes an object: helm 4 applies server-side (PATCH), helm 3 creates."""
    version = subprocess.run([str(paths.HELM), "version", "--template", "{{.Version}}"], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    return "patch" if version.startswith("v4.") else "create"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    emulator = start_emulator(cnpg_delay=1)
    password = "pw-" + secrets.token_urlsafe(24)
    extra = site_extra_vars(password) | {"authentik_proxy_wait_timeout": 10, "authentik_proxy_wait_delay": 1}
    site = Site(emulator, tmp_path_factory.mktemp("faults"), extra, secret_strings(password))
    site.outcomes = {}
    try:
        yield site
    finally:
        emulator.stop()


def run_with_faults(site, name, add_faults):
    """One -vvv run of site.yml with faults; checks what holds for every run."""
    emu = site.emulator
    emu.faults.clear()
    add_faults(emu.faults)
    before = object_keys(emu)
    emu.reset_requests()
    run = site.run("site.yml", verbosity=3)
    emu.faults.clear()
    (site.workdir / f"{name}.log").write_text(run.output)  # for a failing test's reader
    assert_no_secrets(run.output, site.secrets)
    missing = before - object_keys(emu)
    assert not missing, f"run {name} deleted {sorted(missing)}"
    kinds = {rt.plural: rt.kind for rt in emu.store.all_types()}
    deleted = {(kinds[r.resource], r.namespace, r.name) for r in deletes(emu)}
    # what a run may delete is what it created itself (helm --atomic undoing a failed install)
    assert not deleted & before, f"run {name} deleted {sorted(deleted & before)}"
    site.outcomes[name] = run
    return run


def start_operator_when_waited_for(emulator):
    """Keep CNPG's controller off until the readiness wait watches, so the wait sees every phase
    change (and loses its watches) instead of finding the Cluster already healthy."""
    emulator.controllers.set_enabled("cnpg", False)
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            if any(r.verb == "watch" and r.resource == "clusters" for r in emulator.requests):
                emulator.controllers.set_enabled("cnpg", True)
                return
            time.sleep(0.1)
        emulator.controllers.set_enabled("cnpg", True)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return stop


def failed_task(output):
    """(task name, error) of the first failed task, as ansible-playbook prints them."""
    match = re.search(r"\[ERROR\]: Task failed: (.*?)\nOrigin:", output, re.S)
    if not match:
        return None, None
    task = re.findall(r"^TASK \[(.*?)\] \*", output[: match.start()], re.M)[-1]
    return task, match.group(1)


def test_faults_are_ridden_out_until_a_500_fails_the_run_with_a_clear_message(site):
    def faults(f):
        f.close_watch_after(1, resource="clusters")  # every watch dropped after one event
        f.latency(0.5, resource="clusters")  # slow responses
        f.add(verb="watch", resource="clusters", nth=2, status=429)
        f.add(verb="watch", resource="clusters", nth=3, status=500)
        # the artifact PVC's apply, answered as if another writer had created it first
        f.add(verb="patch", resource="persistentvolumeclaims", nth=1, status=409)
        f.add(
            verb=helm_write_verb(), resource="deployments", nth=1, status=500, message="etcdserver: request timed out"
        )

    started = start_operator_when_waited_for(site.emulator)
    try:
        run = run_with_faults(site, "faults", faults)
    finally:
        started.set()
    emu = site.emulator
    assert run.rc != 0, run.output[-3000:]
    # the readiness wait rode out the dropped watches, the 429 and the 500
    assert re.search(r"Cluster '+mlflow/mlflow-postgres'+ is ready after", run.output)
    watches = [r for r in emu.requests if r.verb == "watch" and r.resource == "clusters"]
    assert {429, 500} <= {r.status for r in watches} and sum(r.status == 200 for r in watches) >= 2, [
        (r.status, r.path) for r in watches
    ]
    conflicts = [(r.resource, r.verb) for r in emu.requests if r.status == 409]
    assert conflicts == [("persistentvolumeclaims", "patch")]
    # The object engine sends the apply again (a forced apply has no field conflicts: a 409 is a
    # lost create race), so the PVC exists after this run.
    assert emu.get("v1", "PersistentVolumeClaim", "mlflow-artifacts-pvc", NS)
    # the fatal one: helm's first Deployment write, reported with the API server's answer (by the
    # release task itself, or by the role's check of its outcome)
    task, message = failed_task(run.output)
    assert task.startswith("apocrathia.mlflow.mlflow_helm : "), (task, message)
    assert "etcdserver: request timed out" in message


def test_a_429_on_a_read_is_retried_and_the_rerun_converges(site):
    # the Nth request: the first GET of a Cluster is the preflight's probe of the CNPG API
    run = run_with_faults(
        site, "429", lambda f: f.add(verb="get", resource="clusters", nth=1, status=429, message="slow down")
    )
    assert run.rc == 0, run.output[-3000:]
    answered_429 = [r for r in site.emulator.requests if r.status == 429]
    assert [(r.verb, r.resource) for r in answered_429] == [("get", "clusters")]
    # the probe was asked again after the 429, and the play went on to deploy
    assert sum(1 for r in site.emulator.requests if r.verb == "get" and r.resource == "clusters") >= 2
    assert site.emulator.get("apps/v1", "Deployment", "mlflow", NS)["status"]["readyReplicas"] == 1


def test_a_rerun_without_faults_converges(site):
    run = run_with_faults(site, "rerun", lambda f: None)
    assert run.rc == 0, run.output[-3000:]
    emu = site.emulator
    assert emu.get("v1", "PersistentVolumeClaim", "mlflow-artifacts-pvc", NS)["status"]["phase"] == "Bound"
    assert emu.get("postgresql.cnpg.io/v1", "Cluster", "mlflow-postgres", NS)["status"]["phase"] == (
        "Cluster in healthy state"
    )
    assert emu.get("v1", "ConfigMap", "authentik-blueprint-mlflow", NS)
    assert emu.get("apps/v1", "Deployment", "mlflow", NS)["status"]["readyReplicas"] == 1
    assert emu.get("apps/v1", "Deployment", "ak-outpost-mlflow-outpost", "authentik")
    statuses = {
        s["metadata"]["name"]: s["metadata"]["labels"]["status"]
        for s in emu.list("v1", "Secret", NS)
        if s["metadata"]["name"].startswith("sh.helm.release.v1.mlflow.")
    }
    assert statuses[max(statuses, key=lambda n: int(n.rsplit(".v", 1)[1]))] == "deployed", statuses
