#!/usr/bin/env bash
# Builds the local cluster's binaries from the Go modules in tools/cluster (their go.sum is the pin)
# into .tools/bin: kube-apiserver, kube-controller-manager, kube-scheduler and kubectl v1.36.1,
# etcd v3.6.16 and kwok v0.8.0, and copies kwok's stages to .tools/share/kwok/stages.yaml.
# Called by scripts/bootstrap.sh. Skipped when the stamp matches the pins and this script and every
# binary is there; a cold build takes several minutes on two cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODULES="$ROOT/tools/cluster"
BIN="$ROOT/.tools/bin"
STAGES="$ROOT/.tools/share/kwok/stages.yaml"
STAMP="$ROOT/.tools/cluster-tools.sha256"
GO_MIN_MINOR=26
K8S_VERSION="v1.36.1"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)

say() { printf '==> %s\n' "$*"; }
die() { printf 'build_cluster_tools: %s\n' "$*" >&2; exit 1; }

# --- Go 1.26 or newer ----------------------------------------------------------------
GO=$(command -v go || true)
# The official tarball's place, when it is not on PATH (a fresh shell without /usr/local/go/bin).
[ -z "$GO" ] && [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go
[ -n "$GO" ] || die "Go 1.$GO_MIN_MINOR or newer is needed to build the local cluster (kube-apiserver, etcd, kwok), and 'go' is not on PATH. Install it from https://go.dev/dl/, put its bin directory on PATH, then run 'make setup' again."
go_version=$("$GO" env GOVERSION)
go_minor=$(sed -n 's/^go1\.\([0-9]*\).*/\1/p' <<<"$go_version")
if [ -z "$go_minor" ] || [ "$go_minor" -lt "$GO_MIN_MINOR" ]; then
  die "Go 1.$GO_MIN_MINOR or newer is needed to build the local cluster; $GO is $go_version. Install a newer Go from https://go.dev/dl/, then run 'make setup' again."
fi
# A Go that is too old must fail above, not fetch a toolchain; -mod=readonly makes go.sum the pin
# (a missing or different checksum fails instead of being added).
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

# --- skipped when nothing changed ------------------------------------------------------
pins_sum=$(cat "$MODULES"/*/go.mod "$MODULES"/*/go.sum "$0" | sha256sum | cut -d' ' -f1)
missing=()
for name in "${BINARIES[@]}"; do [ -x "$BIN/$name" ] || missing+=("$name"); done
if [ "$(cat "$STAMP" 2>/dev/null)" = "$pins_sum" ] && [ ${#missing[@]} -eq 0 ] && [ -f "$STAGES" ]; then
  exit 0
fi

mkdir -p "$BIN" "$(dirname "$STAGES")"
rm -f "$STAMP"
say "building the local cluster with $go_version: ${BINARIES[*]} (a cold build takes about 10 minutes on two cores and 5 GB of Go caches; later runs reuse them)"

# Without the version the API server reports v0.0.0-master+\$Format:%H\$, which kubectl and helm
# cannot parse; client-go's copy is what kubectl prints as its client version.
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=36"
done
# No -trimpath: it changes every package's build cache key, and a warm cache is worth more here
# than paths stripped from binaries that never leave this machine.
build() {
  local module=$1 started=$SECONDS
  shift
  say "  go build in tools/cluster/$module: $*"
  (cd "$MODULES/$module" && "$GO" build "$@") || die "go build in tools/cluster/$module failed (see above). If it says 'missing go.sum entry', the pins in tools/cluster/$module are incomplete: add them there with 'go get' and commit go.sum."
  say "  done in $((SECONDS - started)) s"
}
build kubernetes -ldflags "${ldflags# }" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
build etcd -o "$BIN/etcd" go.etcd.io/etcd/server/v3
build kwok -o "$BIN/kwok" sigs.k8s.io/kwok/cmd/kwok

# kwok ships its stages in the module, not in the binary; without them it exits "no stages found".
# One file, in the order of each kustomization: a Node goes Ready and keeps its heartbeat, a Pod
# bound to it goes Running and Ready.
kwok_dir=$(cd "$MODULES/kwok" && "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
{
  echo "# kwok's stages, copied from $(basename "$kwok_dir") by scripts/build_cluster_tools.sh"
  for stage in node/fast node/heartbeat pod/general; do
    for file in $(sed -n 's/^- \(.*\.yaml\)$/\1/p' "$kwok_dir/kustomize/stage/$stage/kustomization.yaml"); do
      echo "---"
      cat "$kwok_dir/kustomize/stage/$stage/$file"
    done
  done
} >"$STAGES.tmp"
mv "$STAGES.tmp" "$STAGES"

server_version=$("$BIN/kube-apiserver" --version)
[ "$server_version" = "Kubernetes $K8S_VERSION" ] || die "the built kube-apiserver reports '$server_version', not 'Kubernetes $K8S_VERSION': the -X flags above no longer match k8s.io/component-base/version."
echo "$pins_sum" >"$STAMP"
say "built $server_version, $("$BIN/etcd" --version | head -n 1), $("$BIN/kwok" --version 2>&1 | head -n 1)"
