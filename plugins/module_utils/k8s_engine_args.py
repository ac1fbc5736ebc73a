# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The options of apocrathia.mlflow.k8s_objects: one argument spec for the action plugin and the
documentation module (so ansible-test checks the documentation against what is enforced)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

_REF = dict(
    api_version=dict(type="str", required=True),
    kind=dict(type="str", required=True),
    name=dict(type="str"),
    namespace=dict(type="str"),
)


def argument_spec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        definitions=dict(type="list", elements="dict", default=[]),
        absent=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(_REF, name=dict(type="str", required=True)),
        ),
        lookups=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                _REF,
                key=dict(type="str", no_log=False),
                label_selector=dict(type="str"),
                digest=dict(type="bool", default=False),
                metadata_only=dict(type="bool", default=False),
                helm_release=dict(type="bool", default=False),
            ),
        ),
        namespace=dict(type="str"),
        namespace_labels=dict(type="dict", default={"app.kubernetes.io/name": "mlflow"}),
        return_live=dict(type="bool", default=False),
        skip_unserved=dict(type="bool", default=False),
    )
    return spec


def auth_options(args):
    """The connection options given (kubernetes.core reads K8S_AUTH_* from the environment for the rest)."""
    return {name: args[name] for name in AUTH_ARG_SPEC if args.get(name) is not None}
