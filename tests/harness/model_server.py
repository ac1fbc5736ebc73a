"""Model serving with the real programs: a registry to resolve against, and `mlflow models serve`
started from the command, args and env of a Deployment the mlflow_model_serving role wrote.

- ``LocalRegistry``: a real `mlflow server` (SQLite backend, proxied artifacts in a private
  directory, one worker) with the allowed hosts the converge's Helm values give MLflow, so a
  request with a Host MLflow would refuse in the cluster is refused here too.
- ``serving_endpoints(emulator, registry, model_servers)``: registers that server as the endpoint
  of the ``mlflow`` Service with the emulator's own Service proxy subresource
  (tests/kube_emulator/service_proxy.py), which forwards the client's Host header as the
  kube-apiserver does (it does not set UseLocationHost for services: kubernetes
  pkg/registry/core/service/proxy.go, apimachinery util/proxy/upgradeaware.go); and, for each
  model server, a STAND-IN endpoint answering only ``/ping`` (``model_server_stand_in``).
- ``ModelServer``: the serving container's argv and env, read from the Deployment; the only
  changes are the ones a machine without a cluster needs, each explicit: MLFLOW_TRACKING_URI
  (the in-cluster Service) maps to the given URL, ``--port`` to a free local port, ``--host`` to
  127.0.0.1, ``/tmp`` (the emptyDir) and HOME to a private directory, ``mlflow`` to this venv's.
"""

import contextlib
import shutil
import subprocess
import threading
import time
from pathlib import Path

from tests.harness import procs
from tests.harness.endpoints import StandIn
from tests.harness.mlflow_server import mlflow_executable, request


class LocalRegistry:
    def __init__(self, workdir, allowed_hosts=()):
        self.workdir = Path(workdir)
        self.allowed_hosts = list(allowed_hosts)
        self.port = None
        self.proc = None
        self.logfile = self.workdir / "registry.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=180):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = procs.free_port()
        argv = [
            mlflow_executable(), "server",
            f"--backend-store-uri=sqlite:///{self.workdir / 'mlflow.db'}",
            f"--artifacts-destination={self.workdir / 'artifacts'}",
            "--serve-artifacts", "--host=127.0.0.1", f"--port={self.port}", "--workers=1",
        ]  # fmt: skip
        if self.allowed_hosts:
            # The local URL stays usable for the test's own client (and the served model's downloads).
            argv.append("--allowed-hosts=" + ",".join([*self.allowed_hosts, f"127.0.0.1:{self.port}"]))
        env = {"PATH": f"{Path(argv[0]).parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.workdir),
               "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # fmt: skip
        with self.logfile.open("wb") as log:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        procs.wait_for(self._healthy, timeout, interval=0.5, what="MLflow registry", proc=self.proc, log=self.logfile)
        return self

    def _healthy(self):
        try:
            return request(f"{self.url}/health", timeout=2)[0] == 200
        except OSError:
            return False

    def stop(self):
        procs.stop_group(self.proc)
        self.proc = None


# -- endpoints for the emulator's service proxy ---------------------------------------------------
def model_server_stand_in(emulator, namespace, name):
    """STAND-IN for the pods of model server ``name`` (the emulator runs no pods): answers only
    ``/ping``, 200 with the scoring server's body (``"\\n"``, application/json: mlflow
    pyfunc/scoring_server ``ping``) while Deployment ``name`` has a ready replica, as the scoring
    server does once its model is loaded. Without one it answers 503; in a cluster the API server
    would answer that 503 itself (no ready pod, no endpoint). Nothing else of the scoring server."""

    def ping():
        deployment = emulator.get("apps/v1", "Deployment", name, namespace)
        if deployment and (deployment.get("status") or {}).get("readyReplicas", 0) > 0:
            return 200, "application/json", b"\n"
        return 503, "text/plain", f"stand-in: Deployment {namespace}/{name} has no ready replica".encode()

    return StandIn({"/ping": ping})


@contextlib.contextmanager
def serving_endpoints(emulator, registry, model_servers=(), namespace="mlflow", service="mlflow"):
    """While active, ``emulator``'s Service proxy (its real subresource) reaches ``registry`` (a
    ``LocalRegistry`` or the harness's MLflow) for Service ``namespace/service``, and a
    ``model_server_stand_in`` for each name in ``model_servers``. The proxy forwards the client's
    Host header as kube-apiserver does, so MLflow's allowed hosts judge it as in the cluster;
    ``emulator.service_proxy.forwarded(namespace, service)`` lists what MLflow was sent."""
    registered = [(namespace, service)]
    stand_ins = []
    emulator.service_proxy.register(namespace, service, registry.url.split("://", 1)[1])
    try:
        for name in model_servers:
            stand_in = model_server_stand_in(emulator, namespace, name).start()
            stand_ins.append(stand_in)
            emulator.service_proxy.register(namespace, name, stand_in.address)
            registered.append((namespace, name))
        yield emulator.service_proxy
    finally:
        for ns, name in registered:
            emulator.service_proxy.unregister(ns, name)
        for stand_in in stand_ins:
            stand_in.stop()


def example_data():
    """The reference example's data and split (tests/harness/client_example.py): x_train, x_test, y_train."""
    import numpy as np  # noqa: PLC0415 - only the serving tests and bench need it
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    rng = np.random.default_rng(42)
    features = rng.normal(size=(400, 6))
    target = features @ rng.normal(size=6) + 0.1 * rng.normal(size=400)
    x_train, x_test, y_train, _ = train_test_split(features, target, test_size=0.25, random_state=0)
    return x_train, x_test, y_train


# -- the serving container ----------------------------------------------------------------------
def container_command(deployment):
    """(argv, env) of the model-server container exactly as the Deployment gives it."""
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "model-server")
    env = {}
    for item in container.get("env") or []:
        assert "valueFrom" not in item, f"the serving pod takes no secrets: {item}"
        env[item["name"]] = item["value"]
    return list(container["command"]) + list(container["args"]), env


def localise(argv, env, *, port, tracking_url, tmp):
    """The changes listed in the module docstring, and only those."""
    out = [mlflow_executable() if argv[0] == "mlflow" else argv[0]]
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--port", "-p"):
            out += [arg, str(port)]
            next(args)
        elif arg in ("--host", "-h"):
            out += [arg, "127.0.0.1"]
            next(args)
        else:
            out.append(arg)
    env = dict(env)
    env["MLFLOW_TRACKING_URI"] = tracking_url
    for key in ("TMPDIR", "HOME"):
        if env.get(key) == "/tmp":  # noqa: S108 - the pod's emptyDir, mapped to a private directory
            env[key] = str(tmp)
    return out, env


class ModelServer:
    def __init__(self, workdir, deployment, tracking_url, *, os_user=procs.CLIENT_USER, hide=()):
        """Runs as ``os_user`` in its own mount namespace with ``hide`` covered (the tracking server's files)."""
        self.workdir = Path(workdir)
        self.os_user, self.hide = os_user, list(hide)
        self.argv_pod, self.env_pod = container_command(deployment)
        self.tracking_url = tracking_url
        self.port = None
        self.proc = None
        self.argv = self.env = None
        self.logfile = self.workdir / "model-server.log"
        self.ready_s = None
        self._sampler = None
        self.peak_rss = self.peak_pss = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=240, sample_memory=False):
        """Start and wait for /ping; ``sample_memory`` samples from the start (download and load included)."""
        tmp = self.workdir / "tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        procs.owned_dir(self.workdir, self.os_user, 0o755)
        procs.owned_dir(tmp, self.os_user, 0o700)
        self.port = procs.free_port()
        self.argv, env = localise(self.argv_pod, self.env_pod, port=self.port, tracking_url=self.tracking_url, tmp=tmp)
        # The image's PATH: bash, and the uvicorn that `mlflow models serve` execs (next to mlflow).
        self.env = {"PATH": f"{Path(self.argv[0]).parent}:/usr/bin:/bin", "LANG": "C.UTF-8", **env}
        t0 = time.monotonic()
        with self.logfile.open("wb") as log:
            self.proc = subprocess.Popen(
                procs.isolated_command(self.argv, self.os_user, hide=self.hide), env=self.env, cwd=tmp, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if sample_memory:
            self.start_memory_sampling()
        procs.wait_for(self._ready, timeout, interval=0.5, what="model server", proc=self.proc, log=self.logfile)
        self.ready_s = time.monotonic() - t0
        return self

    def _ready(self):
        try:
            return request(f"{self.url}/ping", timeout=2)[0] == 200
        except OSError:
            return False

    def log_text(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def start_memory_sampling(self, interval=0.2):
        stop = threading.Event()

        def run():
            while not stop.is_set():
                rss, pss = procs.tree_memory(self.proc.pid)
                self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
                stop.wait(interval)

        thread = threading.Thread(target=run, name="model-server-memory", daemon=True)
        thread.start()
        self._sampler = (stop, thread)

    def stop_memory_sampling(self):
        if self._sampler:
            self._sampler[0].set()
            self._sampler[1].join(timeout=5)
            self._sampler = None
        return self.peak_rss, self.peak_pss

    def stop(self):
        self.stop_memory_sampling()
        procs.stop_group(self.proc)
        self.proc = None
