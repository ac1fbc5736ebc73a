# -*- coding: utf-8 -*-
# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options of plugins.module_utils.onepassword.onepassword_argument_spec().
    DOCUMENTATION = r"""
options:
  service_account_token:
    description:
      - Token of the 1Password service account to authenticate with (it starts with C(ops_)).
      - If not set, the value of the E(OP_SERVICE_ACCOUNT_TOKEN) environment variable is used.
      - The token is never logged nor included in an error message.
    type: str
  integration_name:
    description:
      - Name of the integration reported to 1Password with every request (visible in the
        service account's activity log).
    type: str
    default: apocrathia.mlflow
  integration_version:
    description:
      - Version of the integration reported to 1Password.
      - Defaults to the version of this collection, which the action plugin reads on the controller
        from the collection's C(MANIFEST.json) (C(galaxy.yml) in a source checkout).
    type: str
  timeout:
    description:
      - Seconds to wait for each call to 1Password before treating it as a network failure.
    type: int
    default: 30
  retries:
    description:
      - How many times a call is retried after a rate limit or a network failure before the
        module fails. V(0) disables retries.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds to wait before the first retry. The wait doubles at every retry, up to 30 seconds.
    type: float
    default: 1.0
requirements:
  - onepassword-sdk >= 0.4.0 (the official 1Password Python SDK)
  - Linux with glibc 2.32 or newer on x86_64 or aarch64, or macOS
notes:
  - The module authenticates with a 1Password service account; the vaults it can read are the
    ones shared with that service account.
"""
