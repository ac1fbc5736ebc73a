"""`converged_site`: one emulated cluster with site.yml converged on it, shared by the session.

The converge is the seed's deployment (inventory/hosts.yml and inventory/group_vars) with the
`provided` secret source, the real community-charts mlflow chart 1.11.5 installed offline
(scripts/mlflow_chart.py: the chart without its disabled dependencies) and authentik's
outpost wait on. Before it, a check-mode pass with --diff; after it, a second run for
idempotence. All three run at -vvv; their outputs are kept for the tests to inspect.

Other suites (the real-client harness, ...) use it read-only: the emulator, the kubeconfig,
the variables used and the secret values.
"""

import base64
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.kube_emulator import KubeEmulator
from tests.kube_emulator.faults import WRITE_VERBS
from tests.support import paths
from tests.support.ansible_run import PlaybookRun, run_playbook
from tests.support.paths import REPO_ROOT, VENV_BIN, tool_env

SITE = paths.REPO_ROOT / "playbooks" / "site.yml"
INVENTORY = paths.REPO_ROOT / "inventory" / "hosts.yml"
CHART = paths.mlflow_chart()  # the real chart, as installed offline (scripts/mlflow_chart.py)
CRDS = [paths.CNPG_CRDS, paths.GATEWAY_CRDS, paths.PROMETHEUS_CRDS, paths.ONEPASSWORD_CRDS]
STORAGE_CLASSES = {"standard": True, "longhorn": False}  # longhorn exists, but is not the default

# What exists on the seed's cluster before this collection runs (what molecule/emulated's
# prepare.yml creates): the namespaces of prometheus, authentik and the gateway, and the gateway.
PLATFORM_OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    for name in ("prometheus-system", "authentik", "cilium-system")
] + [
    {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "cilium"},
        "spec": {"controllerName": "io.cilium/gateway-controller"},
    },
    {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "main-gateway", "namespace": "cilium-system"},
        "spec": {
            "gatewayClassName": "cilium",
            "listeners": [
                {
                    "name": "https",
                    "port": 443,
                    "protocol": "HTTPS",
                    "hostname": "*.gateway.services.apocrathia.com",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "gateway-tls"}]},
                    "allowedRoutes": {"namespaces": {"from": "All"}},
                }
            ],
        },
    },
]


MOLECULE_LOG = REPO_ROOT / ".cache" / "molecule-emulated.log"


def run_molecule_emulated(timeout=1500):
    """`molecule test -s emulated`; returns (returncode, output) and keeps the output in MOLECULE_LOG.

    Run in the foreground on purpose: beside the other suites' servers it would steal their CPU.
    """
    proc = subprocess.run(
        [str(VENV_BIN / "molecule"), "test", "-s", "emulated"],
        cwd=REPO_ROOT,
        env=tool_env({"ANSIBLE_PIPELINING": "1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    MOLECULE_LOG.parent.mkdir(exist_ok=True)
    MOLECULE_LOG.write_text(proc.stdout)
    return proc.returncode, proc.stdout


def start_emulator(crd_files=CRDS, storage_classes=None, platform=True, **kwargs):
    """A started emulator laid out like the seed's cluster (override the parts a test removes)."""
    emulator = KubeEmulator(
        crd_files=crd_files,
        storage_classes=STORAGE_CLASSES if storage_classes is None else storage_classes,
        cnpg_delay=kwargs.pop("cnpg_delay", 0.1),
        workload_delay=kwargs.pop("workload_delay", 0.05),
        **kwargs,
    ).start()
    if platform:
        gateway_api = emulator.store.lookup("gateway.networking.k8s.io", "v1", "gateways")
        for obj in PLATFORM_OBJECTS:
            if not obj["kind"].startswith("Gateway") or gateway_api:
                emulator.create(obj)
        if gateway_api and emulator.controllers.gateway.enabled:
            _wait_programmed(emulator)  # as on the reference cluster: the gateway is up before any run
    return emulator


def _wait_programmed(emulator, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gateway = emulator.get("gateway.networking.k8s.io/v1", "Gateway", "main-gateway", "cilium-system") or {}
        conditions = (gateway.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Programmed" and c["status"] == "True" for c in conditions):
            return
        time.sleep(0.05)
    raise RuntimeError("the emulator's Gateway controller did not program main-gateway")


def snapshot(emulator):
    """Every object in the store and its resourceVersion: equal snapshots mean nothing was written."""
    store = emulator.store
    with store.lock:
        return {
            (key, namespace, name): obj["metadata"].get("resourceVersion")
            for key, objects in store.objects.items()
            for (namespace, name), obj in objects.items()
        }


def real_writes(emulator):
    """Write requests that changed something: not a server-side dry run, and not an apply the
    server found nothing to do for (the object's resourceVersion stayed)."""
    return [
        r
        for r in emulator.requests
        if r.verb in WRITE_VERBS and "dryRun=All" not in r.path and r.status < 400 and r.wrote
    ]


def secret_strings(*values):
    """The values and their base64 forms, as they could leak into output."""
    out = []
    for value in values:
        if value:
            out += [value, base64.b64encode(value.encode()).decode()]
    return out


@dataclass
class ConvergedSite:
    emulator: KubeEmulator
    kubeconfig: Path
    inventory: Path
    extra_vars: dict
    env: dict
    secrets: dict  # {"username": ..., "password": ...}
    runs: dict = field(default_factory=dict)  # "check", "converge", "idempotence" -> PlaybookRun
    writes: dict = field(default_factory=dict)  # same keys -> list of real write requests
    snapshots: dict = field(default_factory=dict)  # "before", "after_check"
    requests: dict = field(default_factory=dict)  # same keys as runs -> every request of that run

    @property
    def secret_values(self):
        return secret_strings(
            self.secrets["username"] if len(self.secrets["username"]) >= 8 else "", self.secrets["password"]
        )

    def run(self, *, extra_vars=None, **kwargs) -> PlaybookRun:
        """Run site.yml again against this cluster (same inventory, variables and environment)."""
        return run_playbook(
            SITE,
            inventory=self.inventory,
            extra_vars={**self.extra_vars, **(extra_vars or {})},
            env={**self.env, **kwargs.pop("env", {})},
            **kwargs,
        )


def site_env(workdir, kubeconfig):
    """The environment of a run: the cluster via K8S_AUTH_KUBECONFIG, Helm's files in workdir."""
    workdir = Path(workdir)
    return {
        "K8S_AUTH_KUBECONFIG": str(kubeconfig),
        "HELM_CACHE_HOME": str(workdir / "helm" / "cache"),
        "HELM_CONFIG_HOME": str(workdir / "helm" / "config"),
        "HELM_DATA_HOME": str(workdir / "helm" / "data"),
        "OP_SERVICE_ACCOUNT_TOKEN": "",
        "ANSIBLE_PIPELINING": "1",
    }


def site_extra_vars(password):
    """The test overrides of the reference inventory: provided credentials and the chart installed offline."""
    return {
        "mlflow_secrets_source": "provided",
        "mlflow_secrets_username": "mlflow",
        "mlflow_secrets_password": password,
        "mlflow_helm_chart_ref": str(CHART),
        "authentik_proxy_wait": True,
        "authentik_proxy_wait_timeout": 60,
        "authentik_proxy_wait_delay": 1,
    }


@pytest.fixture(scope="session")
def converged_site():
    workdir = Path(tempfile.mkdtemp(prefix="converged-site-"))
    emulator = start_emulator()
    try:
        kubeconfig = emulator.write_kubeconfig(workdir / "kubeconfig")
        password = "pw-" + secrets.token_urlsafe(24)
        site = ConvergedSite(
            emulator=emulator,
            kubeconfig=kubeconfig,
            inventory=INVENTORY,
            extra_vars=site_extra_vars(password),
            env=site_env(workdir, kubeconfig),
            secrets={"username": "mlflow", "password": password},
        )
        for step, options in (
            ("check", {"check": True, "diff": True}),
            ("converge", {"diff": True}),
            ("idempotence", {}),
        ):
            site.snapshots[f"before_{step}"] = snapshot(emulator)
            emulator.reset_requests()
            run = site.run(verbosity=3, **options)
            site.runs[step] = run
            site.writes[step] = real_writes(emulator)
            site.requests[step] = list(emulator.requests)
            if run.rc != 0:
                pytest.fail(f"site.yml {step} run failed (rc={run.rc}):\n{run.output[-6000:]}")
        site.snapshots["after"] = snapshot(emulator)
        yield site
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)
