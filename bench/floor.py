"""The raw-tool floor: the objects site.yml manages, applied with the plain tools.

After site.yml has converged a cluster (bench/converge.py), the objects its roles manage are read
back from that cluster, with the Helm values of the release, and applied to a fresh emulator laid
out the same way:

- converge: ``kubectl apply --server-side`` of every object, ``helm upgrade --install --wait``
  of the same chart and values, then ``kubectl wait`` for the CloudNativePG Cluster to be Ready
  and for the Deployment authentik's outpost controller creates (what site.yml waits for);
- re-check: ``kubectl diff --server-side`` of the same objects and ``helm get values`` of the release.

kubectl and helm are the pinned binaries of scripts/bootstrap.sh (.tools/bin). What the floor
does not do, and site.yml does: validate inputs, check the cluster's prerequisites, read
credentials from a source, compare the release's values before deciding to upgrade.
"""

import subprocess
import time
from pathlib import Path

import yaml

from tests.integration.conftest import start_emulator
from tests.support.paths import REPO_ROOT, tool_env

KUBECTL = REPO_ROOT / ".tools" / "bin" / "kubectl"
HELM = REPO_ROOT / ".tools" / "bin" / "helm"
FIELD_MANAGER = "bench-floor"

# (apiVersion, kind, namespace, name) of what the roles manage with the reference inventory.
MANAGED = [
    ("v1", "Namespace", None, "mlflow"),
    ("v1", "Secret", "mlflow", "mlflow-secrets"),
    ("postgresql.cnpg.io/v1", "Cluster", "mlflow", "mlflow-postgres"),
    ("monitoring.coreos.com/v1", "PodMonitor", "mlflow", "mlflow-postgres"),
    ("networking.k8s.io/v1", "NetworkPolicy", "mlflow", "mlflow-postgres"),
    ("v1", "PersistentVolumeClaim", "mlflow", "mlflow-artifacts-pvc"),
    ("networking.k8s.io/v1", "NetworkPolicy", "mlflow", "mlflow"),
    ("v1", "ConfigMap", "mlflow", "authentik-blueprint-mlflow"),
]
RELEASE, NAMESPACE = "mlflow", "mlflow"
_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "ownerReferences")


def _manifest(obj):
    """An object as a user would write it: no status, no server-set metadata."""
    obj = {k: v for k, v in obj.items() if k != "status"}
    obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in _SERVER_METADATA}
    annotations = {
        k: v
        for k, v in (obj["metadata"].get("annotations") or {}).items()
        if not k.startswith("kubectl.kubernetes.io/")
    }
    if annotations:
        obj["metadata"]["annotations"] = annotations
    else:
        obj["metadata"].pop("annotations", None)
    if obj["kind"] == "Namespace":
        obj.pop("spec", None)
    if obj["kind"] == "PersistentVolumeClaim":
        obj["spec"].pop("volumeName", None)
    return obj


def export(emulator, kubeconfig, workdir):
    """The managed objects (one YAML stream) and the release's values, from a converged cluster."""
    objects = []
    for api_version, kind, namespace, name in MANAGED:
        obj = emulator.get(api_version, kind, name, namespace)
        if obj is None:
            raise RuntimeError(f"{kind} {namespace}/{name} is not in the converged cluster")
        objects.append(_manifest(obj))
    manifests = Path(workdir) / "floor-objects.yaml"
    manifests.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    values = Path(workdir) / "floor-values.yaml"
    out = _run([HELM, "get", "values", RELEASE, "-n", NAMESPACE, "-o", "yaml"], kubeconfig, workdir)
    values.write_text(out.stdout)
    return manifests, values


def _run(cmd, kubeconfig, workdir, check=True):
    env = tool_env(
        {
            "KUBECONFIG": str(kubeconfig),
            "HELM_CACHE_HOME": str(Path(workdir) / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(Path(workdir) / "helm" / "config"),
            "HELM_DATA_HOME": str(Path(workdir) / "helm" / "data"),
        }
    )
    proc = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=600, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def floor_once(manifests, values, chart, workdir):
    """Fresh emulator: converge with the raw tools, then re-check. Returns {step: measurements}."""
    emulator = start_emulator()
    try:
        kubeconfig = emulator.write_kubeconfig(Path(workdir) / "floor-kubeconfig")
        out = {}
        emulator.reset_requests()
        t0 = time.monotonic()
        apply = [KUBECTL, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", manifests]
        # The namespace first: the other objects go into it.
        _run(apply, kubeconfig, workdir)
        _run(
            [
                HELM,
                "upgrade",
                "--install",
                RELEASE,
                chart,
                "-n",
                NAMESPACE,
                "-f",
                values,
                "--wait",
                "--timeout",
                "600s",
            ],
            kubeconfig,
            workdir,
        )
        _run(
            [
                KUBECTL,
                "wait",
                "-n",
                NAMESPACE,
                "--for=condition=Ready",
                "--timeout=600s",
                "cluster.postgresql.cnpg.io/mlflow-postgres",
            ],
            kubeconfig,
            workdir,
        )
        _run(
            [
                KUBECTL,
                "wait",
                "-n",
                "authentik",
                "--for=create",
                "--timeout=120s",
                "deployment/ak-outpost-mlflow-outpost",
            ],
            kubeconfig,
            workdir,
        )
        out["converge"] = {"wall_s": round(time.monotonic() - t0, 2), "requests": len(emulator.requests)}
        time.sleep(0.5)
        emulator.reset_requests()
        t0 = time.monotonic()
        diff = _run(
            [KUBECTL, "diff", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", manifests],
            kubeconfig,
            workdir,
            check=False,
        )
        _run([HELM, "get", "values", RELEASE, "-n", NAMESPACE], kubeconfig, workdir)
        out["recheck"] = {
            "wall_s": round(time.monotonic() - t0, 2),
            "requests": len(emulator.requests),
            # kubectl diff exits 0 when nothing differs, 1 when something does.
            "kubectl_diff_rc": diff.returncode,
        }
        if diff.returncode not in (0, 1):
            raise RuntimeError(f"kubectl diff failed ({diff.returncode}):\n{diff.stderr}")
        return out
    finally:
        emulator.stop()
