#!/usr/bin/env python3
"""Lay out the community-charts mlflow chart 1.11.5 for an offline install.

The tests, molecule/emulated, `make demo` and the benchmarks install the real chart, not a
copy written here. Its source is, in this order:

1. `$MLFLOW_CHART_SOURCE`, or `../shared/charts/mlflow-1.11.5` beside the checkout (the
   developers' and CI's layout, see its SOURCES.md);
2. else each file fetched from GitHub at the pinned tag's commit, like scripts/fetch_schemas.py.

Either way every file must have the pinned git blob id (FILES), or this stops with a message
saying which file differs. A source that is neither there nor reachable is a clear failure.

The chart's Chart.yaml lists three dependencies (Bitnami postgresql and mysql, minio), each
behind a condition our values keep false. Their archives are not vendored and helm refuses a
chart whose listed dependencies are missing from `charts/`, so the copy made here has the
`dependencies:` list removed from Chart.yaml and no Chart.lock (as SOURCES.md says). The
templates, helpers, values.yaml and values.schema.json helm reads are the upstream bytes.

Usage: scripts/mlflow_chart.py [DEST]   (default: .cache/charts/mlflow-1.11.5); prints DEST.
"""

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = "1.11.5"
REPO = "community-charts/helm-charts"
COMMIT = "9d23d003453a3d863d2086691a26250921fd1169"  # tag mlflow-1.11.5
PREFIX = "charts/mlflow/"
DEFAULT_SOURCE = ROOT.parent / "shared" / "charts" / f"mlflow-{VERSION}"
DEFAULT_DEST = ROOT / ".cache" / "charts" / f"mlflow-{VERSION}"
# Every file helm reads (and the README/LICENSE), with its upstream git blob id at COMMIT.
FILES = {
    ".helmignore": "1405eb7abf27f8e08d1258e55e8adef2df5db85d",
    "Chart.lock": "fa39742d77d215a63c38e0bfa858da70d0ed7716",
    "Chart.yaml": "bfee793a6ed0abdefa7883b72db7a3ed0588b382",
    "LICENSE": "2c74cd52a143afbb9c1c58aed0b832505bbb7430",
    "README.md": "ed2648bdafb37e79304829f5424090d701f49ca5",
    "README.md.gotmpl": "9d58d13327a7eaf9e8de505dee6757a00e0bc742",
    "files/dbchecker.sh": "289ee61328f562c3e0715e3611779344863a5323",
    "templates/NOTES.txt": "97cc7630c9f6e7e8d9d2a385a4d54f42c7ce0ede",
    "templates/_helpers.tpl": "e43fee003df7b4eb6762f36b647ebc8e146c8fa6",
    "templates/auth_admin_secret.yaml": "59ed26a9a2a7712f71d37ef8596475980501a26b",
    "templates/auth_ini_configmap.yaml": "5dff28e609783127ed6cc4e65390e76acbeca7c0",
    "templates/auth_postgres_secret.yaml": "0ae4e04f8ee63102446c5acc7ef174b393c8a100",
    "templates/configmap.yaml": "8f353f457d824b2c01c9f1260d38c1579b6f0128",
    "templates/deployment.yaml": "71595f51bac438bbcdf68fc352549b23270289e2",
    "templates/extra-list.yaml": "25309a081d33b59a447364608213a49b13aeb1c2",
    "templates/flask_secret.yaml": "516699ae090f996bc2b67bcba609a1bc4b5cce99",
    "templates/hpa.yaml": "45a0005db6d98a6a324a19cc457a8aa997976da6",
    "templates/ingress.yaml": "02838a1b8d0f080e28990f56f694a12b32c47be8",
    "templates/oauth2-proxy-secret.yaml": "9e8768998d01875d26ecebc2ee1f5c42ec4f83b1",
    "templates/oidc_auth_db_secret.yaml": "05a693a3a757b34948a0a4feb8d51b8782a21957",
    "templates/oidc_auth_secret.yaml": "1fc13aa97cd63cf00fc2a7b531f2dfdc8552a24a",
    "templates/secret.yaml": "52a37350fef98dd59b976e0b1e3495732b743e85",
    "templates/service.yaml": "055209ae90e07acec93971ccdf556647710b5239",
    "templates/serviceaccount.yaml": "ad97e6d2bce82f59fbeb291b402e747e170a7763",
    "templates/servicemonitor.yaml": "ad62c84bf3cb0dec8abdacd722933b28c272951d",
    "templates/trusted_ca_cert_secret.yaml": "f25d9ac2b6923136267b919d3671a0a80400afeb",
    "values-kind.yaml": "f93ffc6bfcc0a061a612939b6d8733214714e2ea",
    "values.schema.json": "878316f36351dd030663b5e26bc2c4178dc63672",
    "values.yaml": "256f25e4e3bd3103f0749ae0dbc4671a92a25832",
}
MARKER = ".apocrathia-offline-copy"  # holds the commit the copy was made from


class ChartError(RuntimeError):
    pass


def blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def without_dependencies(chart_yaml):
    """Chart.yaml text with its top-level `dependencies:` list removed (everything else kept)."""
    out, skipping = [], False
    for line in chart_yaml.splitlines(keepends=True):
        if line.startswith("dependencies:"):
            skipping = True
            continue
        if skipping and (line[:1] in (" ", "-", "\t") or not line.strip()):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


def _read_local(source):
    files = {}
    for name, blob in FILES.items():
        path = source / name
        if not path.is_file():
            raise ChartError(f"{path} is missing: {source} is not the mlflow chart {VERSION} (see its SOURCES.md)")
        data = path.read_bytes()
        if blob_id(data) != blob:
            raise ChartError(
                f"{path} differs from upstream {REPO}@{COMMIT} {PREFIX}{name} (git blob {blob_id(data)}, pinned {blob})"
            )
        files[name] = data
    return files


def _fetch(name):
    url = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/{PREFIX}{name}"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URL
        data = response.read()
    if blob_id(data) != FILES[name]:
        raise ChartError(f"{url} has git blob {blob_id(data)}, pinned {FILES[name]}: refusing to use it")
    return data


def _fetch_all():
    try:
        return {name: _fetch(name) for name in FILES}
    except OSError as exc:
        raise ChartError(
            f"the mlflow chart {VERSION} is not beside the checkout ({DEFAULT_SOURCE}) and fetching it from "
            f"GitHub ({REPO}@{COMMIT}) failed: {exc}. Put the chart there (see ../shared/charts/SOURCES.md) "
            "or set MLFLOW_CHART_SOURCE to a directory holding it."
        ) from exc


def prepare(dest=DEFAULT_DEST, source=None):
    """Make `dest` the offline-installable copy; returns its path. Re-runs are cheap."""
    dest = Path(dest)
    if (dest / MARKER).is_file() and (dest / MARKER).read_text().strip() == COMMIT:
        return dest
    source = Path(source or os.environ.get("MLFLOW_CHART_SOURCE") or DEFAULT_SOURCE)
    files = _read_local(source) if source.is_dir() else _fetch_all()
    files.pop("Chart.lock")
    files["Chart.yaml"] = without_dependencies(files["Chart.yaml"].decode()).encode()
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".mlflow-chart-", dir=dest.parent))
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    (work / MARKER).write_text(COMMIT + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    work.rename(dest)
    return dest


def main(argv):
    try:
        print(prepare(argv[1] if len(argv) > 1 else DEFAULT_DEST))
    except ChartError as exc:
        print(f"mlflow_chart: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
