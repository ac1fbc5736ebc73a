"""Model serving (issue 16) on a copy of the converged cluster, with a real MLflow registry.

site.yml runs with two models, one by alias and one by version. The versions are resolved the
default way, through the API server's service proxy: the emulator's Service proxy forwards them,
with the client's Host header as kube-apiserver does, to a real `mlflow server` registered as the
mlflow Service's endpoint, whose allowed hosts are the converge's own
(tests/harness/model_server.py), so the Host header the module sends must be one MLflow accepts
in the cluster. The model servers' /ping (status) is answered by a stand-in endpoint.

Then: idempotence (no write), the alias moved (exactly that Deployment written, its pods rolled),
and a missing model (the play fails naming it and listing the registry, with no write); the
last two through playbooks/serve.yml, which runs only this role.
The real scoring server is started from the written Deployment in test_real_clients_serving.py.
"""

import shutil
import tempfile
from pathlib import Path

import mlflow
import pytest
import yaml

from tests.harness import converge_input
from tests.harness.mlflow_server import request
from tests.harness.model_server import LocalRegistry, serving_endpoints
from tests.integration.conftest import INVENTORY, SITE, real_writes, site_env, start_emulator
from tests.integration.day2_support import Site, accept_routes, clone_cluster, run_pods
from tests.support.ansible_run import assert_no_secrets, run_playbook

pytestmark = pytest.mark.slow
NS = "mlflow"
MODEL_SERVERS = ("champion", "pinned")
MODELS = [
    {"name": "champion", "model_uri": "models:/MyModel@champion", "allow_from": [{"namespace": "apps"}]},
    {"name": "pinned", "model_uri": "models:/MyModel/2", "expose_host": "pinned.gateway.services.apocrathia.com"},
]


@pytest.fixture(scope="module")
def registry(converged_site):
    """A real MLflow with MyModel versions 1 and 2, alias champion -> 1; allowed hosts as deployed."""
    values = converge_input.read_converge(converged_site.kubeconfig).values
    workdir = Path(tempfile.mkdtemp(prefix="model-registry-"))
    server = LocalRegistry(workdir, allowed_hosts=values["serverAllowedHosts"]).start()
    try:
        client = mlflow.MlflowClient(server.url)
        client.create_registered_model("MyModel")
        for i in (1, 2):
            client.create_model_version("MyModel", source=f"mlflow-artifacts:/0/models/m-{i}/artifacts")
        client.set_registered_model_alias("MyModel", "champion", "1")
        server.client = client
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def serving(converged_site, registry):
    """site.yml with the two models on a copy of the converged cluster: converge, then idempotence."""
    workdir = Path(tempfile.mkdtemp(prefix="model-serving-"))
    emulator = clone_cluster(converged_site.emulator)
    site = Site(emulator, workdir, {**converged_site.extra_vars, "mlflow_model_serving_models": MODELS},
                converged_site.secrets)  # fmt: skip
    site.runs, site.writes = {}, {}
    try:
        with serving_endpoints(emulator, registry, MODEL_SERVERS) as proxy:
            for step in ("converge", "idempotence"):
                emulator.reset_requests()
                site.runs[step] = site.run("site.yml", verbosity=3)
                site.writes[step] = real_writes(emulator)
                assert site.runs[step].rc == 0, site.runs[step].output[-6000:]
            site.proxied = [(f["host"], f["path"]) for f in proxy.forwarded(NS, "mlflow")]
        yield site
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _deployment(site, name):
    return site.emulator.get("apps/v1", "Deployment", name, NS)


def test_each_model_gets_a_deployment_serving_the_resolved_version(serving):
    for name, version in (("champion", "1"), ("pinned", "2")):
        dep = _deployment(serving, name)
        pod = dep["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert container["command"] == ["mlflow", "models", "serve"]
        args = container["args"]
        assert args[args.index("--model-uri") + 1] == f"models:/MyModel/{version}"
        assert args[args.index("--env-manager") + 1] == "local"
        assert pod["metadata"]["annotations"]["mlflow.apocrathia.io/model-version"] == version
        env = {e["name"]: e for e in container["env"]}
        assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow.mlflow.svc.cluster.local:80"
        # The model comes through the tracking server: no volume but /tmp, no secret, no token.
        assert all("valueFrom" not in e for e in container["env"])
        assert [v["name"] for v in pod["spec"]["volumes"]] == ["tmp"] and "emptyDir" in pod["spec"]["volumes"][0]
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert container["readinessProbe"]["httpGet"]["path"] == "/ping"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        # The tracking server's security context, and the release's image.
        mlflow_dep = _deployment(serving, "mlflow")
        assert (
            container["securityContext"] == mlflow_dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]
        )
        assert container["image"] == mlflow_dep["spec"]["template"]["spec"]["containers"][0]["image"]
        assert serving.emulator.get("v1", "Service", name, NS)["spec"]["ports"][0]["port"] == 8080


def test_the_registry_was_read_through_the_service_proxy_with_a_host_mlflow_allows(serving, registry):
    hosts = {host for host, _ in serving.proxied}
    assert hosts == {"mlflow.mlflow.svc.cluster.local:80"}
    paths = [path for _, path in serving.proxied]
    assert any(p.startswith("/api/2.0/mlflow/registered-models/alias?") for p in paths)
    assert any(p.startswith("/api/2.0/mlflow/model-versions/get?") for p in paths)
    # The Host reaches MLflow, which judges it: another one is refused through the same proxy.
    path = f"/api/v1/namespaces/{NS}/services/http:mlflow:80/proxy/api/2.0/mlflow/registered-models/get?name=MyModel"
    with serving_endpoints(serving.emulator, registry):
        allowed = request(serving.emulator.url + path, headers={"Host": "mlflow.mlflow.svc.cluster.local:80"})
        refused = request(serving.emulator.url + path, headers={"Host": "evil.example.com"})
    assert allowed[0] == 200 and refused[0] == 403, (allowed, refused)


def test_network_policies(serving):
    own = serving.emulator.get("networking.k8s.io/v1", "NetworkPolicy", "champion", NS)
    assert own["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}}
    ]
    assert own["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    # The exposed model admits the outpost; MLflow admits the serving pods.
    exposed = serving.emulator.get("networking.k8s.io/v1", "NetworkPolicy", "pinned", NS)
    assert exposed["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "authentik"}}}
    ]
    tracking = serving.emulator.get("networking.k8s.io/v1", "NetworkPolicy", "mlflow", NS)
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NS}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/component": "model-serving"}},
    } in tracking["spec"]["ingress"][0]["from"]


def test_the_exposed_model_joins_the_blueprint_and_the_outpost(serving):
    # authentik's HTTPRoute reconciler puts every proxy provider of the outpost in the route
    # (goauthentik/authentik authentik/providers/proxy/controllers/k8s/httproute.py); the
    # emulator's stand-in only creates the route once, so the blueprint is what is asserted.
    configmap = serving.emulator.get("v1", "ConfigMap", "authentik-blueprint-mlflow", NS)
    blueprint = yaml.load(configmap["data"]["mlflow.yaml"], Loader=converge_input._AnyTagLoader)  # noqa: S506
    providers = {e["attrs"]["external_host"]: e for e in blueprint["entries"] if e["model"].endswith("proxyprovider")}
    pinned = providers["https://pinned.gateway.services.apocrathia.com"]
    assert pinned["attrs"]["internal_host"] == "http://pinned.mlflow.svc.cluster.local:8080"
    apps = [e for e in blueprint["entries"] if e["model"] == "authentik_core.application"]
    assert {a["identifiers"]["slug"] for a in apps} == {"mlflow", "mlflow-model-pinned"}
    outpost = next(e for e in blueprint["entries"] if e["model"] == "authentik_outposts.outpost")
    assert len(outpost["attrs"]["providers"]) == 2 and len(providers) == 2


def test_idempotence_writes_nothing(serving):
    assert serving.writes["idempotence"] == []
    assert_no_secrets(serving.runs["idempotence"].output, [serving.secrets["password"]])


def test_moving_the_alias_rolls_exactly_that_deployment(serving, registry):
    before = serving.emulator.rollouts("champion", NS)
    pinned_before = serving.emulator.rollouts("pinned", NS)
    registry.client.set_registered_model_alias("MyModel", "champion", "2")
    serving.emulator.reset_requests()
    with serving_endpoints(serving.emulator, registry):
        run = serving.run("site.yml", verbosity=1)
    assert run.rc == 0, run.output[-6000:]
    writes = real_writes(serving.emulator)
    assert [(w.verb, w.resource, w.name) for w in writes] == [("patch", "deployments", "champion")]
    dep = _deployment(serving, "champion")
    assert dep["spec"]["template"]["metadata"]["annotations"]["mlflow.apocrathia.io/model-version"] == "2"
    assert serving.emulator.rollouts("champion", NS) == before + 1
    assert serving.emulator.rollouts("pinned", NS) == pinned_before


def test_serve_playbook_alone_agrees_with_site(serving, registry):
    # apocrathia.mlflow.serve runs only the role: the same names and objects, so nothing to write.
    serving.emulator.reset_requests()
    with serving_endpoints(serving.emulator, registry):
        run = serving.run("serve.yml", verbosity=1)
    assert run.rc == 0, run.output[-4000:]
    assert real_writes(serving.emulator) == []


def test_a_missing_model_fails_before_any_write(serving, registry):
    serving.emulator.reset_requests()
    models = [*MODELS, {"name": "gone", "model_uri": "models:/Nope@prod"}]
    with serving_endpoints(serving.emulator, registry):
        run = serving.run("serve.yml", extra_vars={"mlflow_model_serving_models": models}, verbosity=1)
    assert run.rc != 0
    assert "registered model 'Nope' (models:/Nope@prod) does not exist; the registry holds: MyModel" in run.output
    assert real_writes(serving.emulator) == []
    assert serving.emulator.get("apps/v1", "Deployment", "gone", NS) is None


def test_a_bad_entry_fails_in_preflight_naming_it(serving):
    serving.emulator.reset_requests()
    run = serving.run(
        "serve.yml", extra_vars={"mlflow_model_serving_models": [{"name": "Bad_Name", "model_uri": "runs:/x/model"}]},
        verbosity=0,
    )  # fmt: skip
    assert run.rc != 0
    assert "mlflow_model_serving_models[0] (Bad_Name).name must be a DNS label" in run.output
    assert "mlflow_model_serving_models[0] (Bad_Name).model_uri: 'runs:/x/model'" in run.output
    assert real_writes(serving.emulator) == []


def test_status_reports_each_model_server(serving, registry):
    run_pods(serving.emulator)
    accept_routes(serving.emulator)
    serving.emulator.reset_requests()
    with serving_endpoints(serving.emulator, registry, MODEL_SERVERS):
        run = serving.run("status.yml", verbosity=0)
    assert run.rc == 0, run.output[-4000:]
    rows = {
        line.split()[0]: line.split()
        for line in run.output.splitlines()
        if line.split()[:1] in (["champion"], ["pinned"])
    }
    assert rows["champion"][1:5] == ["ok", "1/1", "2", "models:/MyModel@champion"]
    assert rows["pinned"][1:5] == ["ok", "1/1", "2", "models:/MyModel/2"]
    pings = [r.path for r in serving.emulator.requests if r.path.endswith("/proxy/ping")]
    assert sorted(pings) == [
        "/api/v1/namespaces/mlflow/services/http:champion:8080/proxy/ping",
        "/api/v1/namespaces/mlflow/services/http:pinned:8080/proxy/ping",
    ]
    assert real_writes(serving.emulator) == []


def test_teardown_removes_the_model_servers(serving):
    run = serving.run("teardown.yml", verbosity=0)
    assert run.rc == 0, run.output[-4000:]
    for kind, api in (("Deployment", "apps/v1"), ("Service", "v1"), ("NetworkPolicy", "networking.k8s.io/v1")):
        for name in ("champion", "pinned"):
            assert serving.emulator.get(api, kind, name, NS) is None, (kind, name)


def test_a_first_check_run_plans_the_servers_after_mlflow(converged_site, tmp_path):
    # site.yml --check on an empty cluster: MLflow is only planned, so there is no registry to ask yet.
    emulator = start_emulator()
    try:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        run = run_playbook(
            SITE, inventory=INVENTORY, extra_vars={**converged_site.extra_vars, "mlflow_model_serving_models": MODELS},
            env=site_env(tmp_path, kubeconfig), check=True, verbosity=0,
        )  # fmt: skip
        assert run.rc == 0, run.output[-4000:]
        assert "the model servers are planned after it" in run.output
        assert real_writes(emulator) == []
    finally:
        emulator.stop()
