"""The authentik_proxy role, run by ansible-playbook against the Kubernetes API emulator.

The blueprint is read back from the ConfigMap the role wrote, loaded with authentik's custom
tags and validated against the real authentik blueprint schema; every attribute of the
reference table is compared, with intercept_header_auth true (the fix).
"""

import json
import textwrap

import pytest

from tests.kube_emulator import KubeEmulator
from tests.support import paths, schemas
from tests.support.ansible_run import run_playbook, write_inventory

pytestmark = pytest.mark.slow

NAMESPACE = "mlflow"
CONFIGMAP = "authentik-blueprint-mlflow"
OUTPOST_OBJECTS = "ak-outpost-mlflow-outpost"
HTTPROUTE_CRD = paths.GATEWAY_CRDS / "gateway.networking.k8s.io_httproutes.yaml"

# The seed's host names, as the inventory gives them (role defaults carry no host names).
SEED_HOSTS = {
    "authentik_proxy_external_host": "https://mlflow.gateway.services.apocrathia.com",
    "authentik_proxy_authentik_host": "https://auth.gateway.services.apocrathia.com",
}

PLAYBOOK = """\
---
- name: Put MLflow behind authentik
  hosts: localhost
  gather_facts: false
  roles:
    - role: apocrathia.mlflow.authentik_proxy
"""


def _with_authentik_namespace(emu):
    # authentik runs in its own namespace; its outpost controller deploys there.
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "authentik"}})
    return emu


def _emulator_options(gateway_api=True, authentik=True):
    return {
        "crd_files": [paths.GATEWAY_CRDS] if gateway_api else [],
        "controllers": ("authentik",) if authentik else (),
    }


@pytest.fixture
def emulator(kube_emulator_factory):
    """A started emulator: Gateway API CRDs or not, the authentik controller on or off."""
    return lambda **kwargs: _with_authentik_namespace(kube_emulator_factory(**_emulator_options(**kwargs)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("authentik_proxy")
    (path / "playbook.yml").write_text(PLAYBOOK)
    write_inventory(path / "inventory.yml", SEED_HOSTS)
    return path


def _run(emu, workdir, extra_vars=None, **kwargs):
    return run_playbook(
        workdir / "playbook.yml",
        inventory=workdir / "inventory.yml",
        extra_vars=extra_vars,
        env={"K8S_AUTH_KUBECONFIG": emu.kubeconfig},
        verbosity=kwargs.pop("verbosity", 1),
        **kwargs,
    )


def _configmap(emu):
    return emu.get("v1", "ConfigMap", CONFIGMAP, NAMESPACE)


@pytest.fixture(scope="module")
def converged(workdir):
    """One emulator, converged once with the defaults and the seed's host names."""
    emu = _with_authentik_namespace(KubeEmulator(**_emulator_options()).start())
    first = _run(emu, workdir)
    assert first.rc == 0, first.output
    yield emu, first
    emu.stop()


def test_first_run_creates_the_blueprint_configmap(converged):
    emu, first = converged
    assert first.recap()["changed"] >= 1
    configmap = _configmap(emu)
    assert configmap is not None
    schemas.validate_k8s_object(configmap)
    assert configmap["metadata"]["labels"]["authentik_blueprint"] == "true"
    assert list(configmap["data"]) == ["mlflow.yaml"]


def test_blueprint_is_valid_against_the_real_authentik_schema(converged):
    emu, _ = converged
    doc = schemas.validate_blueprint(_configmap(emu)["data"]["mlflow.yaml"])
    # The tags are real tags, not strings that happen to look like them.
    assert {tag.name for tag in schemas.iter_tags(doc)} == {"Find", "KeyOf"}


def test_blueprint_has_every_reference_attribute(converged):
    emu, _ = converged
    doc = schemas.load_blueprint(_configmap(emu)["data"]["mlflow.yaml"])
    assert doc["version"] == 1
    assert doc["metadata"] == {"name": "mlflow", "labels": {"blueprints.goauthentik.io/instantiate": "true"}}
    assert [e["model"] for e in doc["entries"]] == [
        "authentik_providers_proxy.proxyprovider",
        "authentik_core.application",
        "authentik_outposts.outpost",
    ]

    provider = schemas.blueprint_entry(doc, "authentik_providers_proxy.proxyprovider", name="mlflow-proxy-provider")
    find_flow = lambda slug: schemas.Tag("Find", ["authentik_flows.flow", ["slug", slug]])  # noqa: E731
    assert provider["attrs"] == {
        "name": "mlflow-proxy-provider",
        "mode": "proxy",
        "authorization_flow": find_flow("default-provider-authorization-implicit-consent"),
        "invalidation_flow": find_flow("default-invalidation-flow"),
        "authentication_flow": find_flow("default-authentication-flow"),
        "internal_host": "http://mlflow.mlflow.svc.cluster.local:80",
        "external_host": "https://mlflow.gateway.services.apocrathia.com",
        "intercept_header_auth": True,  # the reference's false locks the MLflow SDK out
    }

    application = schemas.blueprint_entry(doc, "authentik_core.application", slug="mlflow")
    provider_ref = schemas.Tag("KeyOf", provider["id"])
    assert application["attrs"] == {
        "name": "MLflow",
        "group": "AI & Automation",
        "provider": provider_ref,
        "meta_launch_url": "https://mlflow.gateway.services.apocrathia.com",
        "open_in_new_tab": True,
        "meta_description": "MLflow machine learning lifecycle platform",
        "meta_publisher": "MLflow",
        "meta_icon": "https://raw.githubusercontent.com/mlflow/mlflow/master/assets/logo.svg",
    }

    outpost = schemas.blueprint_entry(doc, "authentik_outposts.outpost", name="mlflow-outpost")
    assert outpost["attrs"] == {
        "type": "proxy",
        "service_connection": schemas.Tag(
            "Find", ["authentik_outposts.kubernetesserviceconnection", ["name", "Local Kubernetes Cluster"]]
        ),
        "providers": [provider_ref],
        "config": {
            "authentik_host": "https://auth.gateway.services.apocrathia.com",
            "authentik_host_insecure": True,
            "log_level": "info",
            "object_naming_template": "ak-outpost-%(name)s",
            "kubernetes_replicas": 1,
            "kubernetes_namespace": "authentik",
            "kubernetes_httproute_parent_refs": [
                {"name": "main-gateway", "namespace": "cilium-system", "sectionName": "https"}
            ],
        },
    }


def test_second_run_changes_nothing(converged, workdir):
    emu, _ = converged
    before = _configmap(emu)["metadata"]["resourceVersion"]
    again = _run(emu, workdir)
    assert again.rc == 0, again.output
    assert again.recap()["changed"] == 0, again.output
    assert _configmap(emu)["metadata"]["resourceVersion"] == before


def test_variables_reach_the_blueprint(converged, workdir):
    emu, _ = converged
    run = _run(
        emu,
        workdir,
        extra_vars={
            "authentik_proxy_intercept_header_auth": False,
            "authentik_proxy_httproute_parent_refs": [],
            "authentik_proxy_outpost_config_extra": {"kubernetes_service_type": "ClusterIP"},
            "authentik_proxy_application_group": "ML",
            "authentik_proxy_service_port": 5000,
        },
    )
    assert run.rc == 0, run.output
    doc = schemas.validate_blueprint(_configmap(emu)["data"]["mlflow.yaml"])
    provider = schemas.blueprint_entry(doc, "authentik_providers_proxy.proxyprovider")
    assert provider["attrs"]["intercept_header_auth"] is False
    assert provider["attrs"]["internal_host"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert schemas.blueprint_entry(doc, "authentik_core.application")["attrs"]["group"] == "ML"
    config = schemas.blueprint_entry(doc, "authentik_outposts.outpost")["attrs"]["config"]
    assert config["kubernetes_httproute_parent_refs"] == []
    assert config["kubernetes_service_type"] == "ClusterIP"
    # Back to the defaults for the tests that follow.
    assert _run(emu, workdir).rc == 0


# On an empty cluster the engine reports the ConfigMap as planned (its namespace does not exist
# yet, so a server-side dry run would get 404); with the namespace there, the dry run runs.
@pytest.mark.parametrize("namespace_exists", [True, False], ids=["namespace-exists", "empty-cluster"])
def test_check_mode_with_diff_reports_the_change_and_writes_nothing(emulator, workdir, namespace_exists):
    emu = emulator()
    if namespace_exists:
        emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    run = _run(emu, workdir, check=True, diff=True)
    assert run.rc == 0, run.output
    assert run.recap()["changed"] >= 1
    assert "intercept_header_auth: true" in run.output  # the diff shows the blueprint
    assert _configmap(emu) is None
    assert (emu.get("v1", "Namespace", NAMESPACE) is not None) == namespace_exists


def test_check_mode_diff_shows_a_changed_attribute_and_changes_nothing(converged, workdir):
    emu, _ = converged
    before = _configmap(emu)
    run = _run(emu, workdir, check=True, diff=True, extra_vars={"authentik_proxy_intercept_header_auth": False})
    assert run.rc == 0, run.output
    assert run.recap()["changed"] == 1
    lines = [line.strip() for line in run.output.splitlines()]
    assert "-      intercept_header_auth: true" in lines or any(
        line.startswith("-") and "intercept_header_auth: true" in line for line in lines
    ), run.output
    assert any(line.startswith("+") and "intercept_header_auth: false" in line for line in lines), run.output
    assert _configmap(emu) == before


def test_preflight_reports_each_problem_and_changes_nothing(emulator, workdir):
    emu = emulator()
    emu.reset_requests()
    run = _run(
        emu,
        workdir,
        extra_vars={
            "authentik_proxy_external_host": "mlflow.example.com",
            "authentik_proxy_authentik_host": "",
            "authentik_proxy_kubernetes_namespace": "Authentik",
            "authentik_proxy_httproute_parent_refs": [{"namespace": "cilium-system"}],
        },
    )
    assert run.rc != 0
    for message in (
        "authentik_proxy_external_host must be the URL users open",
        "authentik_proxy_authentik_host must be the URL of authentik",
        "authentik_proxy_kubernetes_namespace must be a Kubernetes namespace name",
        "Every entry of authentik_proxy_httproute_parent_refs needs a name",
    ):
        assert message in run.output.replace("\n", " ").replace("  ", " "), message
    assert _configmap(emu) is None
    assert sum(emu.request_counts(writes_only=True).values()) == 0


def test_argument_specs_reject_a_wrong_type(emulator, workdir):
    emu = emulator()
    run = _run(emu, workdir, extra_vars={"authentik_proxy_mode": "reverse"})
    assert run.rc != 0
    assert "authentik_proxy_mode" in run.output and "reverse" in run.output
    assert _configmap(emu) is None


def test_preflight_tag_runs_only_the_checks(emulator, workdir):
    emu = emulator()
    run = _run(emu, workdir, tags=["authentik_proxy_preflight"])
    assert run.rc == 0, run.output
    assert _configmap(emu) is None


def _waited_for(run):
    """(kind, name, found) of the outpost objects the wait task read (its last attempt)."""
    (wait,) = run.tasks(name="Wait for authentik to create the outpost objects")
    assert wait["status"] == "ok", wait
    return {(f["kind"], f["name"], f["exists"]) for f in wait["lookups"] if f["namespace"] == "authentik"}


def test_wait_finds_the_outpost_deployment_and_httproute(emulator, workdir):
    emu = emulator()
    run = _run(emu, workdir, extra_vars={"authentik_proxy_wait": True, "authentik_proxy_wait_timeout": 30})
    assert run.rc == 0, run.output
    assert _waited_for(run) == {("Deployment", OUTPOST_OBJECTS, True), ("HTTPRoute", OUTPOST_OBJECTS, True)}
    assert emu.get("apps/v1", "Deployment", OUTPOST_OBJECTS, "authentik") is not None
    route = emu.get("gateway.networking.k8s.io/v1", "HTTPRoute", OUTPOST_OBJECTS, "authentik")
    schemas.validate_k8s_object(route, crd_files=[HTTPROUTE_CRD])
    assert route["spec"]["parentRefs"][0]["name"] == "main-gateway"
    assert route["spec"]["hostnames"] == ["mlflow.gateway.services.apocrathia.com"]


def test_wait_without_gateway_api_waits_for_the_deployment_only(emulator, workdir):
    emu = emulator(gateway_api=False)
    run = _run(emu, workdir, extra_vars={"authentik_proxy_wait": True, "authentik_proxy_wait_timeout": 30})
    assert run.rc == 0, run.output
    assert _waited_for(run) == {("Deployment", OUTPOST_OBJECTS, True)}


def test_wait_times_out_with_a_clear_message_when_authentik_does_nothing(emulator, workdir):
    emu = emulator(authentik=False)
    run = _run(
        emu,
        workdir,
        extra_vars={
            "authentik_proxy_wait": True,
            "authentik_proxy_wait_timeout": 3,
            "authentik_proxy_wait_delay": 1,
        },
    )
    assert run.rc != 0
    output = " ".join(run.output.split())
    expected = (
        f"Timed out after 3 s waiting for authentik to create Deployment {OUTPOST_OBJECTS} "
        f"and HTTPRoute {OUTPOST_OBJECTS} in namespace authentik."
    )
    assert expected in output, output[-3000:]
    assert f"ConfigMap {NAMESPACE}/{CONFIGMAP}" in output
    # The blueprint was still delivered: only authentik is missing.
    assert _configmap(emu) is not None


def test_rendered_blueprint_text_is_stable_yaml(converged):
    """The ConfigMap holds readable block YAML, not a JSON blob, and no Python reprs."""
    emu, _ = converged
    text = _configmap(emu)["data"]["mlflow.yaml"]
    assert text.startswith("# authentik blueprint for MLflow")
    assert "!Find [authentik_flows.flow, [slug," in text
    assert "u'" not in text and "{'" not in text
    assert json.dumps(schemas.load_blueprint(text)["metadata"]) == json.dumps(
        {"name": "mlflow", "labels": {"blueprints.goauthentik.io/instantiate": "true"}}
    )
    assert textwrap.dedent(text) == text
