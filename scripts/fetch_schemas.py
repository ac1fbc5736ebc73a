#!/usr/bin/env python3
"""Lay out the real schemas the tests validate against, at the pinned upstream commits.

Developers may have them in ../shared/schemas; a machine without that copy (a GitHub runner, a
fresh checkout) runs this to lay out the same tree, e.g. in .cache/schemas (`make schemas`). Every
file is checked against its pinned git blob id (what `git ls-tree <commit>` lists upstream) and
its pinned sha256 before it is written; a file that does not match stops the script with an
error and is not written. The kind scenario installs its Gateway API and prometheus-operator CRDs
from this tree, so they are checked the same way.

Usage:
  scripts/fetch_schemas.py DEST_DIR               download from raw.githubusercontent.com
  scripts/fetch_schemas.py DEST_DIR --from DIR    copy from a local tree (a mirror), same checks;
                                                  FETCH_SCHEMAS_FROM=DIR does the same
  scripts/fetch_schemas.py DEST_DIR --check       only check DEST_DIR (exit 1 when anything differs)
"""

import argparse
import hashlib
import os
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
# authentik has no release with this schema yet: main at 661fe469 (2026-06-27, "authentik 2026.8.0-rc1
# Blueprint schema"). Today's copy came from a mirror (sthagen/goauthentik-authentik). Checked that it
# names an upstream commit (docs/development.md, "Pinned upstream files"): the mirror keeps upstream's
# commit ids (its 5ccd66dd, an ancestor of 661fe469, is goauthentik/authentik's commit of that id with
# the same blueprints/schema.json), and 661fe469 is GitHub's squash merge of upstream PR #23490.
# 661fe469 itself could not be read from goauthentik/authentik here.
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

# path in the tree -> (git blob id, sha256). Computed from the upstream blobs at the commits above;
# the CloudNativePG ids are those `git ls-tree 4b5e244a config/crd/bases LICENSE` lists.
PINNED = {
    "authentik/LICENSE": (
        "66089a4c2afa9b024f52507c51e3413975670b3a",
        "bcf8a408c1e07975835399bcafa455c2d173fcd86a2dc0c79dcb88bc2bda94bc",
    ),
    "authentik/blueprints-schema.json": (
        "2f5a2615e04f7b324d31705a4b582033a87af2df",
        "75762b82a399291ecee8e1f6d25a4504b822d8b7250084660d0450ec5380c44f",
    ),
    "cloudnative-pg/LICENSE": (
        "d645695673349e3947e8e5ae42332d0ac3164cd7",
        "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    ),
    "cloudnative-pg/postgresql.cnpg.io_backups.yaml": (
        "ffe59ea881c254ad64c0a9539ea40a43aab5852a",
        "694bafce2eda4603629657c2141a89189c15250c74215002a6987538d3d78ff5",
    ),
    "cloudnative-pg/postgresql.cnpg.io_clusters.yaml": (
        "a65a1f0e93d46f092440ac42d1516a40822ca640",
        "ae47f4a00f6e998faef57e480f9a3960cd48ea16a79270861fc7442601507472",
    ),
    "cloudnative-pg/postgresql.cnpg.io_databases.yaml": (
        "5ec7f65d6df2bb50818811d596e252a5ece6023c",
        "53f7dfca6d23eb70246f41f1e7db596f8782341cd4fffb6ad990107cc8a588e7",
    ),
    "cloudnative-pg/postgresql.cnpg.io_poolers.yaml": (
        "76df8b6022738f00c46839f0d896d7f0e0ddd60a",
        "9e0dad05355f72dceb154a12b43ebe8a410d470133ad228bf711c1fdee221124",
    ),
    "cloudnative-pg/postgresql.cnpg.io_scheduledbackups.yaml": (
        "8447e78fca3768de9caa03d717251da230513fcb",
        "1dffb969a92ed6b09abe59d9c848ff97c6646c7824e75f8e0b8379df8473a145",
    ),
    "community-charts-mlflow/LICENSE": (
        "2c74cd52a143afbb9c1c58aed0b832505bbb7430",
        "9cbdd6a232850a75de454ac4cf9453eb70487b00b2c3ea5cb203f3c31354a769",
    ),
    "community-charts-mlflow/values.schema.json": (
        "878316f36351dd030663b5e26bc2c4178dc63672",
        "71c6a883fac3e537c4ec4a77b9b18b967e1f922e3776eecb17a703bc0d9c181c",
    ),
    "community-charts-mlflow/values.yaml": (
        "256f25e4e3bd3103f0749ae0dbc4671a92a25832",
        "fdf4291811bc4e5a793d0a750eedfb394626797dadeb9cb23fc34c029488fbcb",
    ),
    "gateway-api/LICENSE": (
        "a5949bd7a2f7892f215c10ce55399b527fb3dbd1",
        "20b6dde626f521dbb384f75e6d96c3d16789df3bf878b58bc2810614fb4db07c",
    ),
    "gateway-api/gateway.networking.k8s.io_gatewayclasses.yaml": (
        "ea55d0dad02d431952739c5bdac13db35fad3a3d",
        "53710048ba26f8620eed59d5e51b157ecf040daf5c6eef31a4b991e0808c4be5",
    ),
    "gateway-api/gateway.networking.k8s.io_gateways.yaml": (
        "6de4376f21fc8d304ac467f089686b84ccc5dbfb",
        "25b885f5870b8fff1ae82efa2628b2761cef3745900c2aecf8fb76629a01255a",
    ),
    "gateway-api/gateway.networking.k8s.io_httproutes.yaml": (
        "32145881f43cbc528911e5640ee37af75e06d9d7",
        "a424a0d6c953b162e71d1d97bb7e75012d8f1ac264e7274f2763d1b96ab39852",
    ),
    "onepassword-operator/LICENSE": (
        "5af71582f7698805b3306bfe46be37c9e2031be5",
        "019195ba155e96b90ad6b1b60aaced09bf43bca9f041f7cbbee7fd6f4be8a9ac",
    ),
    "onepassword-operator/onepassword.com_onepassworditems.yaml": (
        "c0c7f409afe71a712c2a7858a6fb4e8077e43b5b",
        "18d40e18088ad58eed1fc6a4dd5eb1de8e7cec71e53abc39d8ef09b61bc0de0b",
    ),
    "prometheus-operator/LICENSE": (
        "74e6ec6963979ae506d5a6b1d59adb7f3bdaf045",
        "d944a57b4a9807adbf98cf93ebe7b30e70b43d4742dda15640b86d099a7f65f3",
    ),
    "prometheus-operator/monitoring.coreos.com_podmonitors.yaml": (
        "5c1bde3d4a5f3131fd6c148ab933193b867173f2",
        "45a93443daa687d3654f7e9631909ff7edcdf3ec09c5e60251b74aa2722aee5d",
    ),
    "prometheus-operator/monitoring.coreos.com_servicemonitors.yaml": (
        "f5736255990a0e152851fadb55f84d6fd0f91d87",
        "a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32",
    ),
}


class Mismatch(Exception):
    pass


def blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def check(relative, data):
    want_blob, want_sha256 = PINNED[relative]
    got_blob, got_sha256 = blob_id(data), hashlib.sha256(data).hexdigest()
    if (got_blob, got_sha256) != (want_blob, want_sha256):
        raise Mismatch(
            f"{relative}: got blob {got_blob} sha256 {got_sha256}, pinned blob {want_blob} sha256 {want_sha256}"
        )


def download(repo, commit, path):
    url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URL
        return response.read()


def entries():
    """(path in the tree, repo, commit, upstream path) for every file, LICENSEs included."""
    for folder, ((repo, commit, prefix), files) in LAYOUT.items():
        yield f"{folder}/LICENSE", repo, commit, "LICENSE"
        for entry in files:
            source, target = entry if isinstance(entry, tuple) else (entry, entry)
            yield f"{folder}/{target}", repo, commit, prefix + source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default="../shared/schemas", type=Path)
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=os.environ.get("FETCH_SCHEMAS_FROM") or None,
        help="copy from this local tree instead of downloading (default: $FETCH_SCHEMAS_FROM)",
    )
    parser.add_argument("--check", action="store_true", help="only check the files already in DEST")
    args = parser.parse_args(argv)
    listed = {relative for relative, *_ in entries()}
    if listed != set(PINNED):
        raise SystemExit(f"fetch_schemas: LAYOUT and PINNED disagree: {sorted(listed ^ set(PINNED))}")
    problems = []
    for relative, repo, commit, upstream in entries():
        target = args.dest / relative
        try:
            if args.check:
                if not target.is_file():
                    raise Mismatch(f"{relative}: missing")
                check(relative, target.read_bytes())
                continue
            data = (args.source / relative).read_bytes() if args.source else download(repo, commit, upstream)
            check(relative, data)
        except (Mismatch, OSError) as error:
            problems.append(str(error))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{relative} blob {PINNED[relative][0]} ok")
    if problems:
        print("fetch_schemas: " + "\n  ".join(["these files do not match their pins:", *problems]), file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(PINNED)} files in {args.dest} match their pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
