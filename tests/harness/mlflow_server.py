"""A real `mlflow server` started with the argv and environment the chart would give it.

The only changes to what `chart.server_command` returns are the ones a machine without a
cluster needs, and each is explicit: in-cluster host names map to 127.0.0.1 (PGHOST to the
harness's PostgreSQL), the container port to a free local port, `/mlflow/artifacts` (the
PVC mount) and `/mlflow/metrics` (Prometheus multiprocess files) to private directories, `/tmp` (an emptyDir in the pod) to a private one,
and each mounted ConfigMap (extraVolumes) to a private directory holding its items, in argv and env.
The server runs as its own unprivileged user; its artifact directory is mode 0700.
"""

import secrets as token
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.harness import chart, procs
from tests.support.schemas import coalesce_values

ARTIFACTS_MOUNT = "/mlflow/artifacts"  # the PVC
METRICS_DIR = "/mlflow/metrics"  # --expose-prometheus writes here (the container's own filesystem)
VENV_MLFLOW = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mlflow"


def mlflow_executable():
    if VENV_MLFLOW.exists():
        return str(VENV_MLFLOW)
    found = shutil.which("mlflow")
    if not found:
        raise RuntimeError("mlflow is not installed; run `make setup`")
    return found


def localise(argv, env, *, port, path_map, host_map):
    """Map the chart's command to this machine. Returns (argv, env) with the listed changes only."""
    out = [mlflow_executable()]
    for arg in argv[1:]:
        if arg.startswith("--host="):
            arg = "--host=127.0.0.1"
        elif arg.startswith("--port="):
            arg = f"--port={port}"
        for container_path, local_path in path_map.items():
            arg = arg.replace(container_path, str(local_path))
        out.append(arg)
    env = dict(env)
    for name, value in env.items():
        for container_path, local_path in path_map.items():
            if isinstance(value, str) and (value == container_path or value.startswith(container_path + "/")):
                env[name] = value = str(local_path) + value[len(container_path) :]
    if env.get("PGHOST") in host_map:
        env["PGHOST"], env["PGPORT"] = host_map[env["PGHOST"]][0], str(host_map[env["PGHOST"]][1])
    return out, env


class MlflowServer:
    def __init__(
        self, workdir, values, *, secrets, host_map, release="mlflow", os_user=procs.SERVER_USER, configmaps=None
    ):
        """``secrets``: {Secret name: {key: value}} as in the namespace; ``host_map``: {name: (host, port)};
        ``configmaps``: {ConfigMap name: data} for the configMap volumes the values mount."""
        self.configmaps = dict(configmaps or {})
        self.workdir = Path(workdir)
        self.values, self.release, self.os_user = values, release, os_user
        self.chart_argv, self.chart_env = chart.server_command(values, release)
        flask_secret = (
            f"{chart.fullname(coalesce_values(chart.chart_defaults(), values), release)}-flask-server-secret-key"
        )
        self.secrets = {flask_secret: {"MLFLOW_FLASK_SERVER_SECRET_KEY": token.token_hex(16)}, **secrets}
        self.host_map = host_map
        self.artifacts_dir = self.workdir / "artifacts"
        self.home = self.workdir / "home"
        self.logfile = self.workdir / "mlflow-server.log"
        self.port = None
        self.proc = None
        self.argv = self.env = None
        self.timings = {}
        self._mem_sampler = None
        self.peak_rss = self.peak_pss = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=180):
        procs.owned_dir(self.workdir, self.os_user, 0o755)
        procs.owned_dir(self.artifacts_dir, self.os_user, 0o700)
        procs.owned_dir(self.home, self.os_user, 0o700)
        procs.owned_dir(self.home / "tmp", self.os_user, 0o700)
        procs.owned_dir(self.workdir / "metrics", self.os_user, 0o700)
        self.port = procs.free_port()
        path_map = {ARTIFACTS_MOUNT: self.artifacts_dir, METRICS_DIR: self.workdir / "metrics"}
        for index, mount in enumerate(chart.config_map_mounts(self.values)):
            path_map[mount.mount_path] = self._materialise(mount, self.workdir / "volumes" / str(index))
        argv, env = localise(
            self.chart_argv,
            chart.resolve_env(self.chart_env, self.secrets),
            port=self.port,
            path_map=path_map,
            host_map=self.host_map,
        )
        base = {"PATH": f"{Path(argv[0]).parent}:/usr/bin:/bin", "LANG": "C.UTF-8"}
        env = {**base, "HOME": str(self.home), "TMPDIR": str(self.home / "tmp"), **env}
        self.argv, self.env = argv, env
        t0 = time.monotonic()
        with self.logfile.open("wb") as log:
            self.proc = subprocess.Popen(
                procs.isolated_command(argv, self.os_user), env=env, cwd=self.home, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        procs.wait_for(self._healthy, timeout, interval=0.5, what="MLflow server", proc=self.proc, log=self.logfile)
        self.timings["ready_s"] = time.monotonic() - t0
        return self

    def _materialise(self, mount, directory):
        """The kubelet's view of a configMap volume: its items (or every key) as read-only files."""
        if mount.configmap not in self.configmaps:
            raise KeyError(f"ConfigMap {mount.configmap!r} is mounted but missing; the pod would not start")
        data = self.configmaps[mount.configmap]
        items = mount.items or tuple((key, key) for key in data)
        procs.owned_dir(directory, self.os_user, 0o755)
        for key, path in items:
            if key not in data:
                raise KeyError(f"ConfigMap {mount.configmap!r} has no key {key!r}; the pod would not start")
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.parent.chmod(0o755)
            target.write_text(data[key])
            target.chmod(0o444)
        return directory

    def _healthy(self):
        # uvicorn's supervisor outlives workers that crash on import: fail fast instead of timing out.
        if self.log_text().count("Child process") >= 6 and "died" in self.log_text():
            raise RuntimeError(f"MLflow server workers keep dying:\n{self.log_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:  # noqa: S310 - http://127.0.0.1
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self):
        self.stop_memory_sampling()
        procs.stop_group(self.proc)
        self.proc = None

    def log_text(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def memory(self):
        """(rss, pss) of the server's process tree in bytes."""
        return procs.tree_memory(self.proc.pid)

    def start_memory_sampling(self, interval=0.5):
        stop = threading.Event()

        def run():
            while not stop.is_set():
                rss, pss = self.memory()
                self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
                stop.wait(interval)

        thread = threading.Thread(target=run, name="mlflow-memory-sampler", daemon=True)
        thread.start()
        self._mem_sampler = (stop, thread)

    def stop_memory_sampling(self):
        if self._mem_sampler:
            stop, thread = self._mem_sampler
            stop.set()
            thread.join(timeout=5)
            self._mem_sampler = None
        return self.peak_rss, self.peak_pss

    def artifact_files(self):
        """Every file under the server's artifact directory, relative to it."""
        return sorted(str(p.relative_to(self.artifacts_dir)) for p in self.artifacts_dir.rglob("*") if p.is_file())


def request(url, *, method="GET", headers=None, data=None, timeout=10):
    """A plain HTTP request that returns (status, headers, body) for any status, no redirects followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)  # noqa: S310 - test URLs
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
