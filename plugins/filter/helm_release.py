# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The state of a Helm release, from the Secrets Helm stores it in, without running helm.

The records are read by module_utils/helm_release.py (helm's storage driver format, cited there).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.apocrathia.mlflow.plugins.module_utils.helm_release import (
    decode_release as _decode,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.helm_release import (
    revision as _revision,
)


def decode_release(secret):
    """The release JSON stored in one Helm release Secret."""
    try:
        return _decode(secret)
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
