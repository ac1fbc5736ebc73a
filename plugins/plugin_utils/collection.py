# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection's own version, read on the controller from the one place it is written.

galaxy.yml is the source. ``ansible-galaxy collection build`` copies it into MANIFEST.json,
which is what an installed collection has; a source checkout (or a collections path linked to
one) has galaxy.yml itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import yaml

# plugins/plugin_utils/collection.py -> the collection's root
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_cache = {}


def collection_version(root=COLLECTION_ROOT):
    """The version in ``root``/MANIFEST.json, else in ``root``/galaxy.yml; ValueError when neither has one."""
    if root in _cache:
        return _cache[root]
    version = None
    manifest = os.path.join(root, "MANIFEST.json")
    galaxy = os.path.join(root, "galaxy.yml")
    if os.path.exists(manifest):
        with open(manifest) as handle:
            version = (json.load(handle).get("collection_info") or {}).get("version")
    elif os.path.exists(galaxy):
        with open(galaxy) as handle:
            version = (yaml.safe_load(handle) or {}).get("version")
    if not version:
        raise ValueError("no collection version in {0} (MANIFEST.json or galaxy.yml)".format(root))
    _cache[root] = str(version)
    return _cache[root]
