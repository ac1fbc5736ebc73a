#!/usr/bin/env bash
# make demo / make demo-down.
#   With Docker and kind: the kind scenario's create and converge (molecule/default), MLflow left
#   reachable through a port-forward.
#   Without them: site.yml converges on the Kubernetes API emulator (tests/kube_emulator) with the
#   real community-charts chart 1.11.5 (installed offline: scripts/mlflow_chart.py), then a real
#   PostgreSQL + real MLflow (started from the Deployment in the emulated cluster) + an authentik
#   outpost stand-in start from what it produced; the emulator's Service proxy forwards to them,
#   and apocrathia.mlflow.status reports on the whole.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$ROOT/.tools/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections" ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export SHARED_SCHEMAS_DIR="${SHARED_SCHEMAS_DIR:-$(cd "$ROOT/.." && pwd)/shared/schemas}"
# The servers run as unprivileged users, so the state lives in a world-traversable place.
STATE="${MLFLOW_DEMO_DIR:-${TMPDIR:-/tmp}/apocrathia-mlflow-demo}"
KUBECONFIG_FILE="$STATE/kubeconfig"
PORT_FORWARD_PORT=5000

have_kind() { command -v kind >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

up_kind() {
  molecule create -s default
  molecule converge -s default
  kubeconfig=$(ls -d "$HOME"/.ansible/tmp/molecule.*.default/kubeconfig 2>/dev/null | head -n1)
  echo
  echo "MLflow runs on the kind cluster. To reach it:"
  echo "  KUBECONFIG=$kubeconfig kubectl -n mlflow port-forward svc/mlflow $PORT_FORWARD_PORT:80"
  echo "  export MLFLOW_TRACKING_URI=http://localhost:$PORT_FORWARD_PORT"
  echo "Stop it with: make demo-down"
}

up_emulated() {
  mkdir -p "$STATE" && chmod 0755 "$STATE"
  if [ -f "$STATE/emulator.pid" ] && kill -0 "$(cat "$STATE/emulator.pid")" 2>/dev/null; then
    echo "A demo is already running (make demo-down stops it)."
  else
    rm -f "$KUBECONFIG_FILE"
    nohup python -m tests.kube_emulator serve --kubeconfig "$KUBECONFIG_FILE" --pidfile "$STATE/emulator.pid" \
      --crds-dir "$SHARED_SCHEMAS_DIR/cloudnative-pg" --crds-dir "$SHARED_SCHEMAS_DIR/gateway-api" \
      --crds-dir "$SHARED_SCHEMAS_DIR/prometheus-operator" \
      --storage-class standard=default --storage-class longhorn >"$STATE/emulator.log" 2>&1 &
    for _ in $(seq 1 100); do [ -s "$KUBECONFIG_FILE" ] && break; sleep 0.1; done
    [ -s "$KUBECONFIG_FILE" ] || { cat "$STATE/emulator.log" >&2; exit 1; }
  fi
  export K8S_AUTH_KUBECONFIG="$KUBECONFIG_FILE"
  # The molecule scenario's prepare and converge: the reference inventory, the `provided` secret
  # source and the real chart laid out for an offline install (no chart download on this machine).
  export MOLECULE_PROJECT_DIRECTORY="$ROOT"
  inventory="$STATE/inventory.yml"
  printf 'all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: %s\n' \
    "$ROOT/.venv/bin/python" >"$inventory"
  ansible-playbook -i "$inventory" molecule/emulated/prepare.yml
  ansible-playbook -i "$inventory" molecule/emulated/converge.yml -e molecule_authentik_present=true
  echo
  echo "Objects created (Kubernetes API emulator):"
  python - "$KUBECONFIG_FILE" <<'PY'
import sys
from kubernetes import config, dynamic
from kubernetes.client import api_client
client = dynamic.DynamicClient(api_client.ApiClient(configuration=config.load_kube_config(sys.argv[1]) or None))
for api_version, kind in (("v1", "Namespace"), ("v1", "Secret"), ("postgresql.cnpg.io/v1", "Cluster"),
                          ("monitoring.coreos.com/v1", "PodMonitor"), ("v1", "PersistentVolumeClaim"),
                          ("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"),
                          ("monitoring.coreos.com/v1", "ServiceMonitor"), ("gateway.networking.k8s.io/v1", "HTTPRoute")):
    for obj in client.resources.get(api_version=api_version, kind=kind).get().items:
        ns = obj.metadata.namespace or ""
        if ns in ("kube-system", "kube-public", "default") or obj.metadata.name in ("kube-system", "kube-public", "default"):
            continue
        print(f"  {kind:<22} {ns + '/' if ns else ''}{obj.metadata.name}")
PY
  echo
  python -m tests.harness up --state-dir "$STATE/stack" --kubeconfig "$KUBECONFIG_FILE"
  echo
  echo "Status (ansible-playbook -i inventory apocrathia.mlflow.status):"
  ansible-playbook -i inventory apocrathia.mlflow.status
  echo
  echo "NOTE: the Kubernetes side is simulated (tests/kube_emulator); PostgreSQL, MLflow and the outpost stand-in are real local processes."
  echo "Ask for the status again with:"
  echo "  K8S_AUTH_KUBECONFIG=$KUBECONFIG_FILE ansible-playbook -i inventory apocrathia.mlflow.status"
  echo "Stop everything with: make demo-down"
}

down() {
  if [ -d "$STATE/stack" ]; then python -m tests.harness down --state-dir "$STATE/stack" || true; fi
  if [ -f "$STATE/emulator.pid" ]; then
    kill "$(cat "$STATE/emulator.pid")" 2>/dev/null || true
    rm -f "$STATE/emulator.pid"
  fi
  if have_kind && [ -d molecule/default ]; then molecule destroy -s default || true; fi
  echo "Demo stopped."
}

case "${1:-up}" in
  up) if have_kind; then up_kind; else up_emulated; fi ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
