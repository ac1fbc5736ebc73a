"""A real Kubernetes control plane on 127.0.0.1, without Docker: `make cluster` and the `real_cluster` fixture.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler (v1.36.1, built by
scripts/build_cluster_tools.sh) and kwok, which stands in for the kubelet of one fake Node: it
marks the pods bound to it Running and Ready, but runs nothing. Everything lives in one state
directory: certificates, kubeconfigs, etcd's data, the audit log, a log per process and
`cluster.json`, which records what was started (pids, ports) so `down` stops exactly that.
"""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.paths import REPO_ROOT, TOOLS_BIN

from .pki import CertificateAuthority, service_account_keys

KUBERNETES_VERSION = "v1.36.1"
KWOK_STAGES = REPO_ROOT / ".tools" / "share" / "kwok" / "stages.yaml"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
HOST = "127.0.0.1"
# Private ranges, away from the 10.0.0.0/24 kwok uses by default and from the host's own networks.
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service
POD_CIDR = "10.244.0.0/16"
NODE_NAME = "kwok-node"
ADMIN_USER = "kubernetes-admin"
FRONT_PROXY_CLIENT = "front-proxy-client"
START_TIMEOUT = 120  # seconds; the API server is ready in 3 to 5 s on two cores
STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL
# Stopped in the reverse of this order: the clients first, etcd last.
START_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

# Metadata is enough to know who wrote what; request bodies would make the log large and hold Secrets.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


class ClusterError(RuntimeError):
    """The cluster could not be started, reached or stopped; the message says what to do."""


def missing_binaries(bin_dir=TOOLS_BIN, stages=KWOK_STAGES):
    """The files `make setup` builds that are not there (an empty list when all are)."""
    missing = [str(bin_dir / name) for name in BINARIES if not os.access(bin_dir / name, os.X_OK)]
    return missing + ([str(stages)] if not stages.is_file() else [])


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def listening_ports():
    """TCP ports something on this machine listens on (from /proc/net/tcp and tcp6)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def process_alive(pid, executable):
    """True when ``pid`` runs ``executable`` and is not a zombie (so a reused pid is never ours)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return argv0 == str(executable) and state != "Z"


def kubeconfig_text(server, ca_cert, client, user):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML: every client reads it


class LocalCluster:
    """One control plane per state directory. ``up()`` is idempotent; ``down()`` stops what ``up()`` started."""

    def __init__(self, state_dir, bin_dir=TOOLS_BIN, kwok_stages=KWOK_STAGES):
        self.state_dir = Path(state_dir).resolve()
        self.bin_dir = Path(bin_dir)
        self.kwok_stages = Path(kwok_stages)
        self.state_file = self.state_dir / "cluster.json"
        self.kubeconfig = self.state_dir / "admin.kubeconfig"
        self.audit_log = self.state_dir / "audit" / "audit.log"
        self.logs_dir = self.state_dir / "logs"
        self.pki_dir = self.state_dir / "pki"
        # The processes this object started, by name: their exit status says how one ended.
        self._started = {}

    # --- state ---------------------------------------------------------------------------
    def _read_state(self):
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def _alive(self, state):
        """{name: pid} of the recorded processes that still run."""
        return {
            name: proc["pid"]
            for name, proc in state.get("processes", {}).items()
            if process_alive(proc["pid"], proc["executable"])
        }

    def status(self):
        """{'running': bool, 'server': url, 'processes': {name: {'pid', 'alive', 'log'}}, 'ready': bool}."""
        state = self._read_state()
        if state is None:
            return {"running": False, "server": None, "processes": {}, "ready": False}
        alive = self._alive(state)
        processes = {
            name: {"pid": proc["pid"], "alive": name in alive, "log": proc["log"]}
            for name, proc in state["processes"].items()
        }
        complete = set(alive) == set(START_ORDER)
        ready = complete and self._get("/readyz", state=state)[0] == 200
        return {"running": complete, "server": state["server"], "processes": processes, "ready": ready}

    # --- HTTP to the API server, as the admin --------------------------------------------
    def _ssl_context(self):
        context = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        context.load_cert_chain(self.pki_dir / "admin.crt", self.pki_dir / "admin.key")
        return context

    def request(self, method, path, body=None, *, state=None, timeout=10):
        """(HTTP status, parsed JSON or text) of one request to the API server; (0, reason) when unreachable."""
        state = state or self._read_state()
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(state["server"] + path, data=data, method=method)  # noqa: S310 (https, ours)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=timeout) as resp:  # noqa: S310 (same)
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        except OSError as err:  # refused, timed out, TLS: not reachable (yet)
            return 0, str(err)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def _get(self, path, state=None):
        return self.request("GET", path, state=state, timeout=5)

    def kubectl(self, *args, input=None, check=True, timeout=120):
        """Run the built kubectl against this cluster; raise ClusterError with its output when it fails and ``check``."""
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        # Its discovery cache stays in the state directory, not in the user's ~/.kube.
        cmd = [str(self.bin_dir / "kubectl"), "--cache-dir", str(self.state_dir / "kubectl-cache"), *map(str, args)]
        proc = subprocess.run(cmd, input=input, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    # --- up ------------------------------------------------------------------------------
    def up(self, log=print):
        """Start the cluster, or report that it already runs. Returns the admin kubeconfig's path."""
        missing = missing_binaries(self.bin_dir, self.kwok_stages)
        if missing:
            raise ClusterError(f"the local cluster's binaries are missing ({', '.join(missing)}): run make setup")
        state = self._read_state()
        if state is not None:
            status = self.status()
            if status["running"] and status["ready"]:
                log(f"the local cluster in {self.state_dir} already runs ({state['server']})")
                return self.kubeconfig
            log(f"{self.state_dir} holds a cluster that is not running whole: stopping what is left and starting anew")
            self.down(log=lambda _msg: None)
        started = time.monotonic()
        self._clean()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir()
        state = self._prepare()
        try:
            self._start_all(state, log)
        except BaseException:
            self.down(log=lambda _msg: None)
            raise
        log(f"local cluster ready in {time.monotonic() - started:.1f} s: {state['server']} (logs in {self.logs_dir})")
        return self.kubeconfig

    def _clean(self):
        """Remove what a previous ``up`` wrote, and only that: the state directory may hold other files."""
        for name in ("pki", "etcd", "audit", "logs", "kubectl-cache", "certs", "audit-policy.yaml", "cluster.json"):
            path = self.state_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for path in self.state_dir.glob("*.kubeconfig"):
            path.unlink()

    def _prepare(self):
        """Certificates, kubeconfigs, the audit policy and free ports; returns the state to record."""
        pki = CertificateAuthority(self.pki_dir, "ca", "local-cluster-ca")
        front_proxy = CertificateAuthority(self.pki_dir, "front-proxy-ca", "local-cluster-front-proxy-ca")
        front_proxy.client("front-proxy-client", FRONT_PROXY_CLIENT)
        pki.serving(
            "apiserver",
            ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
            + ["localhost"],
            [HOST, KUBERNETES_SERVICE_IP],
        )
        ports = {name: free_port() for name in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler")}
        server = f"https://{HOST}:{ports['apiserver']}"
        identities = {
            "admin": pki.client("admin", ADMIN_USER, "system:masters"),
            "controller-manager": pki.client("controller-manager", "system:kube-controller-manager"),
            "scheduler": pki.client("scheduler", "system:kube-scheduler"),
            # kwok writes node and pod status for every pod it keeps, as a kubelet would.
            "kwok": pki.client("kwok", "kwok", "system:masters"),
        }
        for name, client in identities.items():
            user = ADMIN_USER if name == "admin" else name
            (self.state_dir / f"{name}.kubeconfig").write_text(kubeconfig_text(server, pki.cert, client, user))
        service_account_keys(self.pki_dir)
        (self.state_dir / "audit-policy.yaml").write_text(AUDIT_POLICY)
        (self.state_dir / "audit").mkdir()
        return {"server": server, "ports": ports, "processes": {}}

    def _commands(self, ports):
        """{name: argv} of each process, in START_ORDER."""
        b, s, p = self.bin_dir, self.state_dir, self.pki_dir
        etcd_url, peer_url = f"http://{HOST}:{ports['etcd']}", f"http://{HOST}:{ports['etcd-peer']}"
        return {
            "etcd": [
                b / "etcd",
                "--name=local",
                f"--data-dir={s / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=local={peer_url}",
                # A throw-away cluster: losing its data in a crash is fine, waiting on the disk is not.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            "kube-apiserver": [
                b / "kube-apiserver",
                f"--etcd-servers={etcd_url}",
                f"--bind-address={HOST}",
                f"--advertise-address={HOST}",
                # An Endpoints address may not be loopback, so the `kubernetes` Service gets none; no pod
                # runs that would reach the API server through it.
                "--endpoint-reconciler-type=none",
                f"--secure-port={ports['apiserver']}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                # The aggregation layer, as kubeadm sets it up; the controller-manager and scheduler read
                # this CA from the API server to authenticate their own callers.
                f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
                f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
                "--authorization-mode=RBAC",
                # No --enable-admission-plugins: PodSecurity is one of 1.36's default plugins.
                # Privileged pods are allowed by the server, so PodSecurity is what refuses them.
                "--allow-privileged=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                f"--audit-policy-file={s / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                f"--cert-dir={s / 'certs' / 'apiserver'}",
                "--profiling=false",
            ],
            "kube-controller-manager": [
                b / "kube-controller-manager",
                *self._component_flags("controller-manager", ports["controller-manager"]),
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ],
            "kube-scheduler": [b / "kube-scheduler", *self._component_flags("scheduler", ports["scheduler"])],
            "kwok": [
                b / "kwok",
                f"--kubeconfig={s / 'kwok.kubeconfig'}",
                f"--config={self.kwok_stages}",
                f"--manage-single-node={NODE_NAME}",
                f"--node-ip={HOST}",
                f"--cidr={POD_CIDR}",
            ],
        }

    def _component_flags(self, name, port):
        kubeconfig = self.state_dir / f"{name}.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={HOST}",
            f"--secure-port={port}",
            # Its self-signed serving certificate; the default is /var/run/kubernetes, shared by every cluster.
            f"--cert-dir={self.state_dir / 'certs' / name}",
            # One instance: without the lease a restart does not wait for the old one to expire.
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _spawn(self, state, name, argv):
        log_path = self.logs_dir / f"{name}.log"
        with open(log_path, "ab") as out:
            # Its own session: it outlives `make cluster`, and a Ctrl-C in that terminal does not reach it.
            proc = subprocess.Popen(
                [str(a) for a in argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                start_new_session=True,
            )
        state["processes"][name] = {"pid": proc.pid, "executable": str(argv[0]), "log": str(log_path)}
        self._started[name] = proc
        self._write_state(state)
        return proc

    def _write_state(self, state):
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def _wait(self, what, check, state, timeout=START_TIMEOUT):
        """Poll ``check()`` until it returns a true value; fail naming the process that exited, with its log."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            for name, proc in state["processes"].items():
                if not self._running(name, proc):
                    tail = "\n".join(Path(proc["log"]).read_text(errors="replace").splitlines()[-25:])
                    raise ClusterError(
                        f"{name} exited ({self._exit_status(name)}) while waiting for {what}; its log is "
                        f"{proc['log']}, which ends:\n{tail}"
                    )
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out after {timeout} s waiting for {what}; the logs are in {self.logs_dir}. "
                    "On a busy machine run it again; otherwise read the logs for the cause."
                )
            time.sleep(0.2)

    def _running(self, name, recorded):
        """Whether a process of the cluster runs: for one this object started, its own child's status
        (reading /proc/<pid>/cmdline of a process that is starting up has been seen to fail under
        load); for one recorded by an earlier `up`, its pid and executable."""
        proc = self._started.get(name)
        if proc is not None and proc.pid == recorded["pid"]:
            return proc.poll() is None
        return process_alive(recorded["pid"], recorded["executable"])

    def _exit_status(self, name):
        """How a process this object started ended: its exit code, or the signal that ended it."""
        proc = self._started.get(name)
        code = proc.poll() if proc else None
        if code is None:
            return "exit status unknown"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def _start_all(self, state, log):
        commands = self._commands(state["ports"])
        log(f"starting etcd and the API server ({KUBERNETES_VERSION}) in {self.state_dir}")
        self._spawn(state, "etcd", commands["etcd"])
        etcd_health = f"http://{HOST}:{state['ports']['etcd']}/health"
        self._wait("etcd's /health", lambda: _http_ok(etcd_health), state)
        self._spawn(state, "kube-apiserver", commands["kube-apiserver"])
        self._wait("the API server's /readyz", lambda: self._get("/readyz", state=state)[0] == 200, state)
        log("starting the controller-manager, the scheduler and kwok")
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            self._spawn(state, name, commands[name])
        self._create_node(state)
        self._wait(
            "the `default` ServiceAccount (the controller-manager creates it)",
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default", state=state)[0] == 200,
            state,
        )
        self._wait(f"Node {NODE_NAME} to be Ready (kwok marks it)", lambda: self._node_ready(state), state)

    def _create_node(self, state):
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                # kwok's convention for its nodes; nothing else reads them.
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"},
            },
        }
        code, body = self.request("POST", "/api/v1/nodes", node, state=state)
        if code not in (201, 409):
            raise ClusterError(f"creating Node {NODE_NAME} failed ({code}): {body}")

    def _node_ready(self, state):
        code, node = self._get(f"/api/v1/nodes/{NODE_NAME}", state=state)
        conditions = node.get("status", {}).get("conditions", []) if code == 200 else []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    # --- down ----------------------------------------------------------------------------
    def down(self, log=print):
        """Stop every recorded process (SIGTERM, then SIGKILL after STOP_GRACE s); check none of its ports listens."""
        state = self._read_state()
        if state is None:
            log(f"no local cluster recorded in {self.state_dir}: nothing to stop")
            return
        # The clients first, etcd last: the API server shuts down cleanly only while etcd answers.
        for name in [n for n in reversed(START_ORDER) if n in state["processes"]]:
            self._stop(name, state["processes"][name], log)
        ports = set(state["ports"].values())
        # A killed process's sockets close when its last thread is gone, a moment after it is reaped.
        deadline = time.monotonic() + 5
        while ports & listening_ports() and time.monotonic() < deadline:
            time.sleep(0.1)
        busy = sorted(ports & listening_ports())
        if busy:
            raise ClusterError(
                f"ports {busy} of the local cluster still listen after its processes stopped; "
                f"find the owner with `ss -ltnp | grep -E ':({'|'.join(map(str, busy))})'`"
            )
        self.state_file.unlink()
        log(f"local cluster in {self.state_dir} stopped (logs kept in {self.logs_dir})")

    def _stop(self, name, proc, log):
        pid = proc["pid"]

        def running():
            return self._running(name, proc)

        if not running():
            _reap(pid)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while running() and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if running():
            log(f"{name} (pid {pid}) did not stop within {STOP_GRACE} s of SIGTERM: killing it")
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_GRACE
            while running() and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        if running():
            raise ClusterError(f"{name} (pid {pid}) still runs after SIGKILL; look at it with `ps -fp {pid}`")


def _http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (http on 127.0.0.1: etcd's health)
            return resp.status == 200
    except (OSError, ValueError):
        return False


def _reap(pid):
    """Collect ``pid`` if it is our child (the pytest fixture's), so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
