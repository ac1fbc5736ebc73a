"""helm_cli: the final values, the "unchanged" decision, helm's command lines (helm 3 and 4) and environment."""

import io
import json
import os
import tarfile

import pytest
import yaml
from ansible_collections.apocrathia.mlflow.plugins.action.helm_release import _release_json
from ansible_collections.apocrathia.mlflow.plugins.module_utils import helm_cli, helm_release
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
    extract_sensitive_values_from_kubeconfig,
)

from tests.support import paths

CHART = paths.mlflow_chart()


def test_major_version_from_helm_version_output():
    assert helm_cli.helm_major("v3.18.0") == 3
    assert helm_cli.helm_major("v4.1.4+g1234") == 4
    with pytest.raises(ValueError):
        helm_cli.helm_major("")


@pytest.mark.parametrize(("major", "flag"), [(3, "--atomic"), (4, "--rollback-on-failure")])
def test_upgrade_command_line_of_each_major(major, flag):
    argv = helm_cli.upgrade_argv(
        "/bin/helm", major, "mlflow", "ml", "mlflow", chart_repo_url="https://charts.example.com",
        chart_version="1.11.5", wait=True, timeout="600s", atomic=True,
    )  # fmt: skip
    assert argv == [
        "/bin/helm", "upgrade", "mlflow", "mlflow", "--install", "--namespace", "ml", "--values", "-",
        "--repo", "https://charts.example.com", "--version", "1.11.5", "--reset-values", "--wait", flag,
        "--timeout", "600s", "--output", "json",
    ]  # fmt: skip
    # helm 4 removed --atomic from install and deprecated it on upgrade; helm 3 has no --rollback-on-failure
    assert ("--atomic" in argv) == (major == 3)


def test_upgrade_command_line_without_options():
    argv = helm_cli.upgrade_argv("helm", 4, "r", "ns", "/charts/mlflow", reset_values=False)
    assert argv == ["helm", "upgrade", "r", "/charts/mlflow", "--install", "--namespace", "ns", "--values", "-",
                    "--output", "json"]  # fmt: skip


def test_template_command_line():
    assert helm_cli.template_argv("helm", "r", "ns", "oci://ghcr.io/x/mlflow", chart_version="1.0.0") == [
        "helm", "template", "r", "oci://ghcr.io/x/mlflow", "--namespace", "ns", "--values", "-", "--version", "1.0.0",
    ]  # fmt: skip


@pytest.mark.parametrize("helm", [paths.HELM, paths.HELM3], ids=["helm4", "helm3"])
def test_template_command_line_checks_the_schema_with_the_real_helm(helm):
    """The argument list and values on stdin, as the plugin runs them, with each pinned helm."""
    import subprocess

    good = subprocess.run(
        helm_cli.template_argv(str(helm), "mlflow", "ml", str(CHART)),
        input=helm_cli.values_document({"replicaCount": 2}), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert "replicas: 2" in good.stdout and "namespace: ml" in good.stdout
    bad = subprocess.run(
        helm_cli.template_argv(str(helm), "mlflow", "ml", str(CHART)),
        input=helm_cli.values_document({"service": {"port": "eighty"}}), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode != 0 and "port" in bad.stderr


def test_auth_falls_back_to_the_k8s_auth_variables_like_kubernetes_core_helm():
    environ = {"K8S_AUTH_KUBECONFIG": "~/kc", "K8S_AUTH_VERIFY_SSL": "no", "K8S_AUTH_CONTEXT": "env-ctx"}
    settings = helm_cli.auth_settings({"context": "given", "host": None}, environ)
    assert settings == {"kubeconfig": os.path.expanduser("~/kc"), "validate_certs": False, "context": "given"}
    assert helm_cli.auth_settings({}, {}) == {}


def test_an_option_helm_cannot_take_fails_naming_it():
    with pytest.raises(ValueError, match="put client_cert, impersonate_user in the kubeconfig"):
        helm_cli.auth_settings({"client_cert": "/c.pem", "impersonate_user": "bob", "proxy_headers": None}, {})


def test_helm_environment_is_what_kubernetes_core_gives_helm():
    """The variables kubernetes.core.helm gives helm >= 3.10 for the same options (its module_utils/helm.py)."""
    settings = {"kubeconfig": "/home/me/.kube/config", "context": "ctx", "host": "https://k8s:6443", "api_key": "key"}
    variables, secrets = helm_cli.helm_environment(settings, None, None)
    assert variables == {
        "KUBECONFIG": "/home/me/.kube/config",
        "HELM_KUBECONTEXT": "ctx",
        "HELM_KUBEAPISERVER": "https://k8s:6443",
        "HELM_KUBETOKEN": "key",
    }
    assert secrets == ["key"]
    insecure = {"validate_certs": False, "ca_cert": "/ca.pem"}
    assert helm_cli.helm_environment(insecure, None, None) == (
        {"HELM_KUBECAFILE": "/ca.pem", "HELM_KUBEINSECURE_SKIP_TLS_VERIFY": "true"},
        [],
    )
    assert helm_cli.helm_environment({"validate_certs": True}, None, None) == ({}, [])


def test_an_in_memory_kubeconfig_is_written_for_helm_and_its_secrets_hidden(tmp_path):
    kubeconfig = {"apiVersion": "v1", "clusters": [], "users": [{"name": "u", "user": {"token": "s3cret-token"}}]}
    written = []

    def write(content):
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps(content))
        written.append(path)
        return str(path)

    variables, secrets = helm_cli.helm_environment(
        {"kubeconfig": kubeconfig}, write, extract_sensitive_values_from_kubeconfig
    )
    assert variables == {"KUBECONFIG": str(written[0])}
    assert json.loads(written[0].read_text())["users"][0]["user"]["token"] == "s3cret-token"
    assert secrets == ["s3cret-token"]


def test_chart_name_and_version_of_each_kind_of_reference(tmp_path):
    assert helm_cli.chart_name_version(str(CHART)) == "mlflow-1.11.5"
    assert helm_cli.chart_name_version("mlflow", "1.11.5") == "mlflow-1.11.5"
    assert helm_cli.chart_name_version("oci://ghcr.io/charts/mlflow", "2.0.0") == "mlflow-2.0.0"
    assert helm_cli.chart_name_version("mlflow") is None  # the newest: unknown without fetching it
    archive = tmp_path / "mlflow-9.9.9.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        data = yaml.safe_dump({"name": "mlflow", "version": "9.9.9"}).encode()
        info = tarfile.TarInfo("mlflow/Chart.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert helm_cli.chart_name_version(str(archive)) == "mlflow-9.9.9"
    broken = tmp_path / "broken.tgz"
    broken.write_text("not a tar")
    assert helm_cli.chart_name_version(str(broken)) is None


@pytest.mark.parametrize(
    ("current", "chart", "values", "unchanged"),
    [
        ({"status": "deployed", "chart": "mlflow-1.11.5", "values": {"a": 1}}, "mlflow-1.11.5", {"a": 1}, True),
        ({"status": "deployed", "chart": "mlflow-1.11.5", "values": {"a": 1}}, "mlflow-1.11.5", {"a": "1"}, False),
        ({"status": "deployed", "chart": "mlflow-1.11.4", "values": {"a": 1}}, "mlflow-1.11.5", {"a": 1}, False),
        ({"status": "failed", "chart": "mlflow-1.11.5", "values": {"a": 1}}, "mlflow-1.11.5", {"a": 1}, False),
        ({"status": "deployed", "chart": "mlflow-1.11.5", "values": {"a": 1}}, None, {"a": 1}, False),
        ({}, "mlflow-1.11.5", {}, False),
    ],
    ids=["same", "value-type", "chart-version", "failed-revision", "chart-unknown", "not-installed"],
)
def test_unchanged_only_when_deployed_with_this_chart_and_these_values(current, chart, values, unchanged):
    assert helm_cli.is_unchanged(current, chart, values) is unchanged


def test_failure_messages_say_what_runs_now():
    upgrade = helm_cli.failure_message("upgrade", "ml", "mlflow", "mlflow 1.11.5", {"revision": "4"}, True, "boom\n")
    assert upgrade == (
        "Helm could not upgrade release ml/mlflow (chart mlflow 1.11.5). "
        "The upgrade was rolled back: revision 4 is still what runs. Helm said: boom"
    )
    install = helm_cli.failure_message("install", "ml", "mlflow", "c", {}, True, "no")
    assert "removed what the failed install had created" in install
    plain = helm_cli.failure_message("upgrade", "ml", "mlflow", "c", {"revision": "4"}, False, "no")
    assert "rolled back" not in plain and "removed" not in plain


def test_release_json_after_registry_progress_lines_and_its_status():
    release = {"name": "mlflow", "namespace": "ml", "version": 2, "info": {"status": "deployed"},
               "chart": {"metadata": {"name": "mlflow", "version": "1.11.5", "appVersion": "3.15.1"}},
               "config": {"a": 1}}  # fmt: skip
    parsed = _release_json("Pulled: ghcr.io/x/mlflow:1.11.5\nDigest: sha256:abc\n" + json.dumps(release, indent=2))
    assert helm_release.summary(parsed) == {
        "name": "mlflow", "namespace": "ml", "revision": "2", "status": "deployed", "updated": None,
        "chart": "mlflow-1.11.5", "app_version": "3.15.1", "values": {"a": 1},
    }  # fmt: skip
    assert _release_json("no json") == {}


def test_repository_file_from_the_environment_else_helm_env(tmp_path):
    asked = []

    def helm_env():
        asked.append(True)
        return 'HELM_CACHE_HOME="/c"\nHELM_REPOSITORY_CONFIG="/home/u/.config/helm/repositories.yaml"\n'

    assert helm_cli.repositories_file({"HELM_REPOSITORY_CONFIG": "/r.yaml"}, helm_env) == "/r.yaml"
    assert helm_cli.repositories_file({"HELM_CONFIG_HOME": "/cfg"}, helm_env) == "/cfg/repositories.yaml"
    assert asked == []  # helm env runs only when the environment does not say
    assert helm_cli.repositories_file({}, helm_env) == "/home/u/.config/helm/repositories.yaml"
    assert helm_cli.repositories_file({}, lambda: "") is None


def test_repository_url_from_helms_repository_file(tmp_path):
    path = tmp_path / "repositories.yaml"
    assert helm_cli.repository_url(str(path), "community-charts") is None  # no file yet
    path.write_text(yaml.safe_dump({"apiVersion": "", "repositories": [
        {"name": "community-charts", "url": "https://community-charts.github.io/helm-charts"}]}))  # fmt: skip
    assert helm_cli.repository_url(str(path), "community-charts") == "https://community-charts.github.io/helm-charts"
    assert helm_cli.repository_url(str(path), "other") is None
    assert helm_cli.repo_add_argv("helm", "n", "https://u") == ["helm", "repo", "add", "n", "https://u"]


@pytest.mark.parametrize("helm", [paths.HELM, paths.HELM3], ids=["helm4", "helm3"])
def test_strings_that_look_like_numbers_or_booleans_reach_helm_as_strings(helm):
    """The values go to helm as JSON: "1e3", "on" and "010" stay strings (YAML 1.1 would not keep them)."""
    import subprocess

    values = {"podAnnotations": {"a": "1e3", "b": "on", "c": "010", "d": "null"}}
    rendered = subprocess.run(
        helm_cli.template_argv(str(helm), "mlflow", "ml", str(CHART)),
        input=helm_cli.values_document(values), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert {k: annotations[k] for k in "abcd"} == values["podAnnotations"]
