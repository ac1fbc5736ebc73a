"""Model serving with the real programs (issue 16).

1. The harness stack from the converge (real PostgreSQL, real `mlflow server` with the chart's
   command line, the outpost STAND-IN in front); the reference example registers MyModel through
   the outpost as a remote client (version 1, alias champion, stage Production).
2. site.yml serves `models:/MyModel@champion` on a copy of the converged cluster; the version is
   resolved through the emulator's Service proxy, which forwards to that real MLflow (registered as
   the mlflow Service's endpoint) with the client's Host header, as kube-apiserver does
   (tests/harness/model_server.serving_endpoints).
3. `mlflow models serve` starts from the command, args and env of the Deployment in the emulator,
   with only the tracking URI mapped to the local MLflow (and port, host, /tmp), as another user
   that cannot see the server's files: the model comes over HTTP, through the proxied artifacts.
4. The example's input is POSTed to /invocations: the predictions equal the model's own predict.
5. A second, different model is registered as version 2 and the alias moved; site.yml re-run;
   the server started from the updated Deployment serves version 2's predictions.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import mlflow
import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from tests.harness import converge_input, remote_client
from tests.harness.mlflow_server import audit_lines, request
from tests.harness.model_server import ModelServer, example_data, serving_endpoints
from tests.harness.stack import Stack, new_workdir
from tests.integration.conftest import real_writes
from tests.integration.day2_support import Site, clone_cluster
from tests.support.paths import REPO_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the server and client as separate users"),
]
NS = "mlflow"
MODELS = [{"name": "champion", "model_uri": "models:/MyModel@champion"}]
TIMINGS_FILE = REPO_ROOT / ".cache" / "model-serving-timings.json"
TIMINGS = {}


@pytest.fixture(scope="module")
def stack(converged_site):
    stack = Stack(converge_input.read_converge(converged_site.kubeconfig), new_workdir("model-serving-harness-"))
    try:
        stack.start()
        run = remote_client.run_example(
            stack.workdir / "client", stack.outpost.url, experiment="serving", model_name="MyModel",
            hide=[stack.server.workdir], **stack.auth_basic(),
        )  # fmt: skip
        assert run.result.get("ok"), json.dumps(run.result)[:4000]
        assert run.result["model_version"] == "1" and run.result["alias_version"] == "1"
        yield stack
    finally:
        stack.stop(remove=os.environ.get("HARNESS_KEEP") != "1")


@pytest.fixture(scope="module")
def site(converged_site, stack):
    workdir = Path(tempfile.mkdtemp(prefix="model-serving-real-"))
    emulator = clone_cluster(converged_site.emulator)
    site = Site(emulator, workdir, {**converged_site.extra_vars, "mlflow_model_serving_models": MODELS},
                converged_site.secrets)  # fmt: skip
    try:
        yield site
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def converge(site, stack):
    with serving_endpoints(site.emulator, stack.server) as proxy:
        before = len(proxy.forwarded(NS, "mlflow"))
        run = site.run("site.yml", verbosity=1)
        seen = proxy.forwarded(NS, "mlflow")[before:]
    assert run.rc == 0, run.output[-6000:]
    assert seen and {f["host"] for f in seen} == {"mlflow.mlflow.svc.cluster.local:80"}
    return site.emulator.get("apps/v1", "Deployment", "champion", NS)


def model_downloads(stack):
    """GETs of the model file through MLflow's proxied artifact endpoint, from its audit log (the
    role turns uvicorn's access line off for it)."""
    return sum(
        1 for line in audit_lines(stack.server)
        if line["method"] == "GET" and line["path"].startswith("/api/2.0/mlflow-artifacts/artifacts/")
        and line["path"].endswith("/model.skops")
    )  # fmt: skip


def serve(stack, deployment, name):
    server = ModelServer(stack.workdir / name, deployment, stack.server.url, hide=[stack.server.workdir])
    server.start()
    TIMINGS[f"{name}_ready_s"] = round(server.ready_s, 2)
    return server


def invocations(server, x):
    status, _, body = request(
        f"{server.url}/invocations", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"inputs": x.tolist()}).encode(), timeout=60,
    )  # fmt: skip
    assert status == 200, body[:2000]
    return np.array(json.loads(body)["predictions"])


def own_predict(stack, version, x):
    """The registered version's own predict, loaded by this process from the local MLflow."""
    mlflow.set_tracking_uri(stack.server.url)
    return mlflow.pyfunc.load_model(f"models:/MyModel/{version}").predict(x)


def test_the_deployment_serves_the_example_model_and_predicts_like_it(site, stack):
    deployment = converge(site, stack)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "models:/MyModel/1" in container["args"]
    downloads_before = model_downloads(stack)
    server = serve(stack, deployment, "serving-v1")
    try:
        # The model came over HTTP from the tracking server (the serving process cannot see its files).
        assert model_downloads(stack) > downloads_before
        # Only the tracking URI (and port, host, /tmp) differ from the pod's command line.
        assert server.argv[1:3] == ["models", "serve"]
        assert server.env["MLFLOW_TRACKING_URI"] == stack.server.url
        assert request(f"{server.url}/ping")[0] == 200 and request(f"{server.url}/health")[0] == 200
        _, x_test, _ = example_data()
        served = invocations(server, x_test)
        assert np.array_equal(served, own_predict(stack, "1", x_test))
    finally:
        server.stop()


def test_moving_the_alias_serves_the_new_version(site, stack):
    x_train, x_test, y_train = example_data()
    # Version 2: another model (shallower trees), logged and registered through the outpost.
    auth = {
        "MLFLOW_TRACKING_USERNAME": stack.auth_basic()["username"],
        "MLFLOW_TRACKING_PASSWORD": stack.auth_basic()["password"],
    }
    with mock.patch.dict(os.environ, auth):
        mlflow.set_tracking_uri(stack.outpost.url)
        mlflow.set_experiment("serving")
        with mlflow.start_run():
            model = RandomForestRegressor(n_estimators=20, max_depth=3, random_state=1).fit(x_train, y_train)
            mlflow.sklearn.log_model(model, name="model", skops_trusted_types=["sklearn.tree._tree.Tree"],
                                     registered_model_name="MyModel")  # fmt: skip
        client = mlflow.MlflowClient(stack.outpost.url)
        client.set_registered_model_alias("MyModel", "champion", "2")
    site.emulator.reset_requests()
    deployment = converge(site, stack)
    assert [(w.verb, w.resource, w.name) for w in real_writes(site.emulator)] == [("patch", "deployments", "champion")]
    assert "models:/MyModel/2" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    server = serve(stack, deployment, "serving-v2")
    try:
        served = invocations(server, x_test)
        assert np.array_equal(served, own_predict(stack, "2", x_test))
        assert np.array_equal(served, model.predict(x_test))
        assert not np.array_equal(served, own_predict(stack, "1", x_test))
    finally:
        server.stop()
    TIMINGS_FILE.parent.mkdir(exist_ok=True)
    TIMINGS_FILE.write_text(json.dumps(TIMINGS, indent=2))
