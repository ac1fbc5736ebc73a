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
    release_status,
)


def helm_release(secrets):
    """The newest revision of a release, shaped like kubernetes.core.helm_info's ``status``, or {}.

    ``secrets``: the release's Secrets (label selector ``owner=helm,name=<release>``).
    """
    try:
        return release_status(secrets)
    except ValueError as e:
        raise AnsibleFilterError(str(e)) from e


class FilterModule(object):
    def filters(self):
        return {"helm_release": helm_release}
