# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The state of a Helm release, from the Secrets Helm stores it in, without running helm.

Helm 3 and 4 store each revision of a release in a Secret of type ``helm.sh/release.v1``,
labelled ``owner=helm``, ``name=<release>``, ``version=<revision>``, ``status=<status>``; its
``data.release`` is the release as JSON, gzipped and base64-encoded (on top of the Secret's own
base64). helm's storage driver: pkg/storage/driver/secrets.go and util.go (encodeRelease).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import json

from ansible.errors import AnsibleFilterError

_GZIP_MAGIC = b"\x1f\x8b"


def _revision(secret):
    labels = (secret.get("metadata") or {}).get("labels") or {}
    try:
        return int(labels.get("version", 0))
    except ValueError:
        return 0


def decode_release(secret):
    """The release JSON stored in one Helm release Secret."""
    try:
        raw = base64.b64decode(base64.b64decode((secret.get("data") or {})["release"]))
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
        return json.loads(raw)
    except (KeyError, ValueError, OSError) as e:
        name = (secret.get("metadata") or {}).get("name")
        raise AnsibleFilterError("Secret {0} is not a readable Helm release: {1}".format(name, e)) from e


def helm_release(secrets):
    """The newest revision of a release, shaped like kubernetes.core.helm_info's ``status``, or {}.

    ``secrets``: the release's Secrets (label selector ``owner=helm,name=<release>``).
    """
    secrets = [
        s for s in secrets or [] if isinstance(s, dict) and s.get("type", "helm.sh/release.v1") == "helm.sh/release.v1"
    ]
    if not secrets:
        return {}
    release = decode_release(max(secrets, key=_revision))
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


class FilterModule(object):
    def filters(self):
        return {"helm_release": helm_release}
