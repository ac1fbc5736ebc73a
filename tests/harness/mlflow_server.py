"""A real `mlflow server` started from the Deployment's container, as the kubelet would start it.

`pod.container(workload, "mlflow")` gives the argv and environment (command, args, env,
envFrom, valueFrom resolved from the ConfigMaps and Secrets). The changes this machine needs,
and nothing else, are made here and each is explicit:

- the image's `mlflow` is the PyPI release in the venv, which must be the image tag's version;
- `--host=` binds 127.0.0.1 and `--port=<containerPort>` a free local port (no pod network);
- each volume mount is a private local directory (emptyDir, PVC), `/tmp` becoming TMPDIR;
  other absolute paths in arguments and variables (the container's own filesystem) go under a
  private `rootfs` directory;
- variables naming an in-cluster host of `host_map` (PGHOST) point at the local server, and the
  matching port variable (PGPORT) at its port.

The server runs as its own unprivileged user; its artifact directory is mode 0700.
"""

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

from tests.harness import pod, procs

VENV_MLFLOW = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mlflow"
IMAGE = "burakince/mlflow"  # its `mlflow` is the PyPI mlflow of the tag's version


def mlflow_executable():
    if VENV_MLFLOW.exists():
        return str(VENV_MLFLOW)
    found = shutil.which("mlflow")
    if not found:
        raise RuntimeError("mlflow is not installed; run `make setup`")
    return found


def check_image(image):
    repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    installed = metadata.version("mlflow")
    if repository.split("/", 1)[-1] != IMAGE.split("/", 1)[-1] and repository != IMAGE:
        raise RuntimeError(f"the harness runs MLflow for the image {IMAGE}, the Deployment uses {image}")
    if tag and tag != installed:
        raise RuntimeError(f"the Deployment runs {image}, the venv has mlflow {installed}: pin mlflow=={tag}")


def _local_path(value, path_map, rootfs):
    """A container path mapped to this machine: longest mount first, else under rootfs."""
    for container_path in sorted(path_map, key=len, reverse=True):
        if value == container_path or value.startswith(container_path.rstrip("/") + "/"):
            return str(path_map[container_path]) + value[len(container_path.rstrip("/")) :]
    return str(rootfs) + value


def localise(c, *, port, path_map, host_map, rootfs):
    """(argv, env) of Container `c` for this machine, with the changes listed in the module doc only."""
    container_ports = set(c.ports.values())
    argv = [mlflow_executable() if c.argv[0] == "mlflow" else c.argv[0]]
    for arg in c.argv[1:]:
        key, eq, value = arg.partition("=")
        if eq and key == "--host":
            value = "127.0.0.1"
        elif eq and key == "--port" and value.isdigit() and int(value) in container_ports:
            value = str(port)
        elif eq and value.startswith("/"):
            value = _local_path(value, path_map, rootfs)
        argv.append(f"{key}{eq}{value}" if eq else (_local_path(arg, path_map, rootfs) if arg.startswith("/") else arg))
    env = {}
    for name, value in c.env.items():
        env[name] = _local_path(value, path_map, rootfs) if value.startswith("/") else value
    for name, value in c.env.items():
        if name.endswith("HOST") and value in host_map:
            env[name] = host_map[value][0]
            port_var = name[: -len("HOST")] + "PORT"
            if port_var in env:
                env[port_var] = str(host_map[value][1])
    if "/tmp" in path_map:  # noqa: S108 - the container's /tmp mount
        env["TMPDIR"] = str(path_map["/tmp"])  # noqa: S108
    return argv, env


def _volume_dir(volume):
    if "persistentVolumeClaim" in volume:
        return f"pvc-{volume['persistentVolumeClaim']['claimName']}"
    return f"volume-{volume['name']}"


class MlflowServer:
    def __init__(self, workdir, workload, *, host_map, container="mlflow", os_user=procs.SERVER_USER):
        """``workload``: a pod.Workload (the Deployment and its ConfigMaps/Secrets); ``host_map``: {name: (host, port)}."""
        self.workdir = Path(workdir)
        self.workload, self.os_user = workload, os_user
        self.container = pod.container(workload, container)
        check_image(self.container.image)
        self.host_map = host_map
        self.home = self.workdir / "home"
        self.rootfs = self.workdir / "rootfs"
        self.volumes = {path: self.workdir / "volumes" / _volume_dir(vol) for path, vol, _ in self.container.mounts}
        self.logfile = self.workdir / "mlflow-server.log"
        self.port = None
        self.proc = None
        self.argv = self.env = None
        self.timings = {}
        self._mem_sampler = None
        self.peak_rss = self.peak_pss = 0

    @property
    def artifacts_dir(self):
        """The local directory of the volume mounted where the server keeps artifacts."""
        for arg in self.container.argv:
            key, _, value = arg.partition("=")
            if key in ("--artifacts-destination", "--default-artifact-root") and value in self.volumes:
                return self.volumes[value]
        return self.volumes.get("/mlflow/artifacts", self.rootfs / "mlflow" / "artifacts")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=180):
        procs.owned_dir(self.workdir, self.os_user, 0o755)
        procs.owned_dir(self.home, self.os_user, 0o700)
        procs.owned_dir(self.rootfs, self.os_user, 0o700)
        procs.owned_dir(self.workdir / "volumes", self.os_user, 0o700)
        for local in self.volumes.values():
            procs.owned_dir(local, self.os_user, 0o700)
        # configMap and secret volumes hold their items (e.g. the audit middleware on PYTHONPATH).
        for path, volume, _ in self.container.mounts:
            for relative, text in pod.volume_files(self.workload, volume).items():
                target = self.volumes[path] / relative
                for parent in reversed(target.relative_to(self.volumes[path]).parents[:-1]):
                    procs.owned_dir(self.volumes[path] / parent, self.os_user, 0o700)
                target.write_text(text)
                target.chmod(0o444)
        self.port = procs.free_port()
        argv, env = localise(
            self.container, port=self.port, path_map=self.volumes, host_map=self.host_map, rootfs=self.rootfs
        )
        # The image's directories that hold what the arguments name (the server creates the rest).
        for arg in argv[1:]:
            value = arg.partition("=")[2]
            if value.startswith(str(self.rootfs) + "/"):
                procs.owned_dir(Path(value).parent, self.os_user, 0o700)
        base = {"PATH": f"{Path(argv[0]).parent}:/usr/bin:/bin", "LANG": "C.UTF-8"}
        env = {**base, "HOME": str(self.home), **env}
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


def audit_lines(server):
    """The audit middleware's JSON lines in the server's output, in order (docs/audit-log.md)."""
    lines = []
    for raw in server.log_text().splitlines():
        if raw.startswith("{") and '"logger":"mlflow.audit"' in raw:
            lines.append(json.loads(raw))
    return lines


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
