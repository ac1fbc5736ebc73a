# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one backoff formula of the collection: Kubernetes calls and 1Password calls wait the same way."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def backoff(attempt, base, cap):
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): base, 2*base, 4*base, ... at most ``cap``."""
    return min(cap, base * 2 ** (max(attempt, 1) - 1))
