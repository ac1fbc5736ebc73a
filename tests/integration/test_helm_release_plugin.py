"""apocrathia.mlflow.helm_release with both pinned helm majors, in a playbook, on the emulator.

The real mlflow chart and the real helm binaries (helm 4.1.4, the default, and helm 3.18.0 with
binary_path): install, a re-run that decides "unchanged" from Helm's release Secrets without
running helm, check mode that plans without writing, values the chart's schema refuses (helm
template), and an upgrade the API server refuses, rolled back by helm (--rollback-on-failure on
helm 4, --atomic on helm 3), each reported by the task's structured result.
"""

import contextlib
import functools
import http.server
import json
import subprocess
import threading

import pytest
import yaml

from tests.integration.test_mlflow_chart_install import CHART, REFERENCE_VALUES
from tests.kube_emulator import KubeEmulator
from tests.support import paths

pytestmark = pytest.mark.slow

HELMS = {"helm4": paths.HELM, "helm3": paths.HELM3}
WRITES = ("create", "update", "patch", "delete", "deletecollection")

PLAYBOOK = """
- name: Drive apocrathia.mlflow.helm_release
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/apocrathia.mlflow.kubernetes:
      kubeconfig: "{{ kubeconfig }}"
  vars:
    release: &release
      name: mlflow
      namespace: mlflow
      chart_ref: "{{ chart }}"
      values: "{{ values }}"
      binary_path: "{{ helm }}"
      wait: true
      timeout: 60s
      atomic: true
    secrets_lookup:
      - key: release
        api_version: v1
        kind: Secret
        namespace: mlflow
        label_selector: owner=helm,name=mlflow
        helm_release: true
  tasks:
    - name: Install
      apocrathia.mlflow.helm_release: *release
      register: installed

    - name: Read the release
      apocrathia.mlflow.k8s_objects:
        lookups: "{{ secrets_lookup }}"
      register: read

    - name: Run again with the same values
      apocrathia.mlflow.helm_release:
        <<: *release
        release: "{{ read.found.release.release }}"
      register: again

    - name: Keep the chart repository (the release from it is the same chart and values)
      apocrathia.mlflow.helm_release:
        <<: *release
        chart_ref: mlflow
        chart_version: 1.11.5
        chart_repo_url: "{{ repo_url }}"
        chart_repo_name: local-charts
        release: "{{ read.found.release.release }}"
      register: repo_added

    - name: Keep the chart repository again
      apocrathia.mlflow.helm_release:
        <<: *release
        chart_ref: mlflow
        chart_version: 1.11.5
        chart_repo_url: "{{ repo_url }}"
        chart_repo_name: local-charts
        values_overrides: [{extraArgs: {workers: "3"}}]
        release: "{{ read.found.release.release }}"
      register: repo_upgrade

    - name: Plan an upgrade in check mode
      apocrathia.mlflow.helm_release:
        <<: *release
        values_overrides: [{extraArgs: {workers: "3"}}]
        release: "{{ read.found.release.release }}"
      check_mode: true
      diff: true
      register: planned

    - name: Check values the chart's schema refuses
      apocrathia.mlflow.helm_release:
        <<: *release
        values_overrides: [{service: {port: eighty}}]
        values_description: The test values
        release: "{{ read.found.release.release }}"
        validate_only: true
      register: refused
      ignore_errors: true

    - name: Read the release again
      apocrathia.mlflow.k8s_objects:
        lookups: "{{ secrets_lookup }}"
      register: read_again

    - name: Upgrade with a value the API server refuses
      apocrathia.mlflow.helm_release:
        <<: *release
        validate: false
        values_overrides: [{serviceMonitor: {interval: every minute}}]
        release: "{{ read_again.found.release.release }}"
      register: failed_upgrade
      ignore_errors: true

    - name: Keep the results
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ {'installed': installed, 'again': again, 'planned': planned, 'refused': refused,
                      'failed_upgrade': failed_upgrade, 'repo_added': repo_added,
                      'repo_upgrade': repo_upgrade} | to_json }}"
        mode: "0600"
"""


@contextlib.contextmanager
def chart_repository(tmp_path, helm):
    """The chart packaged in a chart repository served over HTTP (helm package, helm repo index)."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run([str(helm), "package", str(CHART), "-d", str(root)], check=True, capture_output=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    subprocess.run([str(helm), "repo", "index", str(root), "--url", url], check=True, capture_output=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def releases(emu):
    return sorted(
        (int(s["metadata"]["labels"]["version"]), s["metadata"]["labels"]["status"])
        for s in emu.list("v1", "Secret", "mlflow")
        if s["metadata"].get("labels", {}).get("owner") == "helm"
    )


@pytest.mark.parametrize("helm_name", ["helm4", "helm3"])
def test_install_unchanged_planned_refused_and_rolled_back(tmp_path, helm_name):
    with (
        KubeEmulator(crd_files=[paths.PROMETHEUS_CRDS], controllers=("workloads",)) as emu,
        chart_repository(tmp_path, HELMS[helm_name]) as repo_url,
    ):
        for namespace in ("mlflow", "prometheus-system"):
            emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        playbook = tmp_path / "playbook.yml"
        playbook.write_text(PLAYBOOK)
        extra = {
            "kubeconfig": str(emu.kubeconfig),
            "chart": str(CHART),
            "helm": str(HELMS[helm_name]),
            "values": REFERENCE_VALUES,
            "out": str(tmp_path / "results.json"),
            "repo_url": repo_url,
        }
        (tmp_path / "extra.json").write_text(json.dumps(extra))
        env = paths.tool_env(
            {"HELM_CACHE_HOME": tmp_path / "cache", "HELM_CONFIG_HOME": tmp_path / "config",
             "HELM_DATA_HOME": tmp_path / "data"}
        )  # fmt: skip
        run = subprocess.run(
            ["ansible-playbook", str(playbook), "-e", "@" + str(tmp_path / "extra.json")],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        results = json.loads((tmp_path / "results.json").read_text())

        installed = results["installed"]
        assert (installed["changed"], installed["action"]) == (True, "installed")
        assert installed["status"]["status"] == "deployed" and installed["status"]["revision"] == "1"
        assert installed["status"]["values"] == REFERENCE_VALUES
        (upgrade,) = [c for c in installed["commands"] if c[1] == "upgrade"]
        assert ("--rollback-on-failure" if helm_name == "helm4" else "--atomic") in upgrade
        assert emu.get("apps/v1", "Deployment", "mlflow", "mlflow")["status"]["availableReplicas"] == 1

        again = results["again"]
        assert (again["changed"], again["action"], again["commands"]) == (False, "unchanged", [])

        # The repository chart is the installed chart: only the repository is added, once.
        added = results["repo_added"]
        assert (added["changed"], added["action"], added["repository"]["action"]) == (True, "unchanged", "added")
        assert [c[1:3] for c in added["commands"]] == [["repo", "add"]]
        config = yaml.safe_load((tmp_path / "config" / "repositories.yaml").read_text())
        assert {r["name"]: r["url"] for r in config["repositories"]} == {"local-charts": repo_url}
        upgraded = results["repo_upgrade"]
        assert (upgraded["repository"]["action"], upgraded["action"]) == ("unchanged", "upgraded")
        (upgrade,) = [c for c in upgraded["commands"] if c[1] == "upgrade"]
        assert upgrade[3] == "mlflow" and ["--repo", repo_url] == upgrade[upgrade.index("--repo") :][:2]
        assert upgraded["status"]["revision"] == "2" and upgraded["status"]["chart"] == "mlflow-1.11.5"

        planned = results["planned"]
        assert (planned["changed"], planned["action"]) == (True, "planned")
        assert [c[1] for c in planned["commands"]] == ["template"]  # validated, not installed
        assert "workers: '2'" in planned["diff"]["before"] and "workers: '3'" in planned["diff"]["after"]

        refused = results["refused"]
        assert refused["failed"] and refused["msg"].startswith(f"The test values are not valid for chart {CHART}")
        assert "port" in refused["msg"]

        failed = results["failed_upgrade"]
        assert failed["failed"] and failed["rolled_back"]
        assert failed["msg"].startswith("Helm could not upgrade release mlflow/mlflow")
        assert "The upgrade was rolled back: revision 2 is still what runs." in failed["msg"]
        assert "interval" in failed["msg"]
        # revisions 1 and 2 (from the repository), the failed revision 3 and the rollback as revision 4
        history = releases(emu)
        assert [r for r, _ in history] == [1, 2, 3, 4] and history[-1][1] == "deployed", history
        assert "failed" in {status for _, status in history}
        deployment = emu.get("apps/v1", "Deployment", "mlflow", "mlflow")
        assert "--workers=3" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert yaml.safe_load(yaml.safe_dump(REFERENCE_VALUES)) == installed["final_values"]
