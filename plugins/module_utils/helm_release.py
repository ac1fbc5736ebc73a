# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Helm's release records, read from the Secrets of its default storage driver, without running helm.

Helm 3 and 4 store each revision of a release in a Secret of type ``helm.sh/release.v1``,
labelled ``owner=helm``, ``name=<release>``, ``version=<revision>``, ``status=<status>``; its
``data.release`` is the release as JSON, gzipped and base64-encoded (on top of the Secret's own
base64). helm's storage driver: pkg/storage/driver/secrets.go and util.go (encodeRelease,
decodeRelease; records stored before compression are not gzipped). Used by the helm_release
filter, the object engine's ``helm_release`` lookups (module_utils/k8s_engine.py) and
module_utils/mlflow_status (status).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import json

RELEASE_TYPE = "helm.sh/release.v1"
_GZIP_MAGIC = b"\x1f\x8b"


def revision(secret):
    """The revision in a release Secret's ``version`` label, 0 when it has none."""
    labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
    try:
        return int(labels.get("version", 0))
    except (TypeError, ValueError):
        return 0


def decode_release(secret):
    """The release JSON stored in one Helm release Secret (as the API returns it).

    Raises KeyError, ValueError or OSError when the Secret does not hold a readable release.
    """
    raw = base64.b64decode(base64.b64decode((secret.get("data") or {})["release"]))
    if raw[:2] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
    return json.loads(raw)


def release_status(secrets):
    """The newest revision among a release's Secrets, shaped like kubernetes.core.helm_info's ``status``, or {}.

    Only the status, the chart and the values the release was installed with: not the rendered
    manifests nor the hooks, which hold what the chart generates (a Flask server key, for one).
    Raises ValueError, naming the Secret, when the newest one does not hold a readable release.
    """
    secrets = [s for s in secrets or [] if isinstance(s, dict) and s.get("type", RELEASE_TYPE) == RELEASE_TYPE]
    if not secrets:
        return {}
    newest = max(secrets, key=revision)
    try:
        release = decode_release(newest)
    except (KeyError, ValueError, OSError) as e:
        name = (newest.get("metadata") or {}).get("name")
        raise ValueError("Secret {0} is not a readable Helm release: {1}".format(name, e)) from e
    return summary(release)


def summary(release):
    """A release record (as stored, or as ``helm ... --output json`` prints it) shaped like
    kubernetes.core.helm_info's ``status``: its status, chart and values, not its manifests."""
    metadata = (release.get("chart") or {}).get("metadata") or {}
    info = release.get("info") or {}
    return {
        "name": release.get("name"),
        "namespace": release.get("namespace"),
        "revision": str(release.get("version")),
        "status": info.get("status"),
        "updated": info.get("last_deployed"),
        "chart": "{0}-{1}".format(metadata.get("name"), metadata.get("version")),
        "app_version": metadata.get("appVersion"),
        "values": release.get("config") or {},
    }
