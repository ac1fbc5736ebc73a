#!/usr/bin/env python3
"""Fetch the real schemas the tests validate against, at the pinned upstream commits.

Developers and CI find them in ../shared/schemas; a machine without that copy (e.g. a GitHub
runner) runs this to lay out the same tree. Each file is checked against its git blob id.
Usage: scripts/fetch_schemas.py DEST_DIR
"""

import hashlib
import sys
import urllib.request
from pathlib import Path

CNPG = ("cloudnative-pg/cloudnative-pg", "4b5e244a7d031f67e025c83c1555e7726ecbbfa1", "config/crd/bases/")
GATEWAY = ("kubernetes-sigs/gateway-api", "8bb74df00e56ec8f944d48c25e6c1c9c2f6848e3", "config/crd/standard/")
PROMETHEUS = (
    "prometheus-operator/prometheus-operator",
    "f8fafd475f3d132e239432ae6172de60a6cb6516",
    "example/prometheus-operator-crd/",
)
ONEPASSWORD = ("1Password/onepassword-operator", "ac8c7fe59f850c3d1fa9c4d25aa33e5af07b42de", "config/crd/bases/")
CHART = ("community-charts/helm-charts", "9d23d003453a3d863d2086691a26250921fd1169", "charts/mlflow/")
AUTHENTIK = ("goauthentik/authentik", "661fe469220b7edaddfc2bef555b2cc63713ab04", "blueprints/")

# destination folder -> (source, [files]); every folder also gets the repository's LICENSE.
LAYOUT = {
    "cloudnative-pg": (
        CNPG,
        [
            "postgresql.cnpg.io_clusters.yaml",
            "postgresql.cnpg.io_scheduledbackups.yaml",
            "postgresql.cnpg.io_backups.yaml",
            "postgresql.cnpg.io_poolers.yaml",
            "postgresql.cnpg.io_databases.yaml",
        ],
    ),
    "gateway-api": (
        GATEWAY,
        [
            "gateway.networking.k8s.io_httproutes.yaml",
            "gateway.networking.k8s.io_gateways.yaml",
            "gateway.networking.k8s.io_gatewayclasses.yaml",
        ],
    ),
    "prometheus-operator": (
        PROMETHEUS,
        ["monitoring.coreos.com_podmonitors.yaml", "monitoring.coreos.com_servicemonitors.yaml"],
    ),
    "onepassword-operator": (ONEPASSWORD, ["onepassword.com_onepassworditems.yaml"]),
    "community-charts-mlflow": (CHART, ["values.schema.json", "values.yaml"]),
    "authentik": (AUTHENTIK, [("schema.json", "blueprints-schema.json")]),
}


def fetch(repo, commit, path):
    url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URL
        return response.read()


def main(dest):
    dest = Path(dest)
    for folder, ((repo, commit, prefix), files) in LAYOUT.items():
        (dest / folder).mkdir(parents=True, exist_ok=True)
        (dest / folder / "LICENSE").write_bytes(fetch(repo, commit, "LICENSE"))
        for entry in files:
            source, target = entry if isinstance(entry, tuple) else (entry, entry)
            data = fetch(repo, commit, prefix + source)
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's id
            (dest / folder / target).write_bytes(data)
            print(f"{folder}/{target} {blob}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/schemas")
