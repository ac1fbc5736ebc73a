# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The names the deployment's objects get from the shared settings, in one place.

Roles, site.yml, status.yml and teardown.yml derive every name with these filters:

- mlflow_fullname: the chart's fullname (its Deployment and Service), the rule of
  ``mlflow.fullname`` in the community-charts chart's templates/_helpers.tpl
  (../shared/charts/mlflow-1.11.5);
- mlflow_service_hosts: the in-cluster host names of the MLflow Service;
- cnpg_rw_host: the read-write Service CloudNativePG creates for a Cluster (``<cluster>-rw``);
- authentik_outpost_object_name: the name authentik gives the outpost's Deployment, Service
  and HTTPRoute (authentik/outposts/controllers/k8s/base.py: the object naming template
  applied to the slugified outpost name, lower-cased);
- authentik_outpost_pod_label: the value of the ``goauthentik.io/outpost-name`` label authentik
  puts on the outpost's pods (authentik/outposts/controllers/k8s/deployment.py,
  ``get_pod_meta``: the slugified outpost name), which MLflow's NetworkPolicy selects.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import unicodedata

from ansible.errors import AnsibleFilterError

# The chart's name (Chart.yaml), used by mlflow.fullname when nameOverride is not set.
CHART_NAME = "mlflow"


def _text(value, what):
    if not isinstance(value, str) or not value:
        raise AnsibleFilterError("{0} must be a non-empty string, got {1!r}".format(what, value))
    return value


def _trunc63(name):
    """Helm's ``trunc 63 | trimSuffix "-"``."""
    name = name[:63]
    return name[:-1] if name.endswith("-") else name


def mlflow_fullname(release_name, values=None):
    """The chart's fullname for a release, given the Helm values (fullnameOverride, nameOverride)."""
    release_name = _text(release_name, "release_name")
    values = values or {}
    if values.get("fullnameOverride"):
        return _trunc63(str(values["fullnameOverride"]))
    name = values.get("nameOverride") or CHART_NAME
    if name in release_name:
        return _trunc63(release_name)
    return _trunc63("{0}-{1}".format(release_name, name))


def mlflow_service_hosts(fullname, namespace, cluster_domain="cluster.local"):
    """Every name in-cluster clients may use for the Service: bare, with its namespace, .svc and the domain."""
    fullname = _text(fullname, "fullname")
    namespace = _text(namespace, "namespace")
    return [
        fullname,
        "{0}.{1}".format(fullname, namespace),
        "{0}.{1}.svc".format(fullname, namespace),
        "{0}.{1}.svc.{2}".format(fullname, namespace, _text(cluster_domain, "cluster_domain")),
    ]


def cnpg_rw_host(cluster_name, namespace, cluster_domain="cluster.local"):
    """The fully qualified name of a CloudNativePG Cluster's read-write Service."""
    return "{0}-rw.{1}.svc.{2}".format(
        _text(cluster_name, "cluster_name"), _text(namespace, "namespace"), _text(cluster_domain, "cluster_domain")
    )


def _slugify(value):
    """django.utils.text.slugify (what authentik applies to the outpost name)."""
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value.lower())
    return re.sub(r"[-\s]+", "-", value).strip("-_")


def authentik_outpost_object_name(outpost_name, naming_template="ak-outpost-%(name)s"):
    """The name of the Deployment, Service and HTTPRoute authentik creates for an outpost.

    ``%(uuid)s`` in the template cannot be known before authentik creates the outpost; it is
    left in place, so the name is not a valid object name and preflight refuses waiting for it.
    """
    outpost_name = _text(outpost_name, "outpost_name")
    naming_template = _text(naming_template, "naming_template")
    return naming_template.replace("%(name)s", _slugify(outpost_name)).lower()


def authentik_outpost_pod_label(outpost_name):
    """The value of the ``goauthentik.io/outpost-name`` label of the outpost's pods."""
    return _slugify(_text(outpost_name, "outpost_name"))


class FilterModule(object):
    def filters(self):
        return {
            "mlflow_fullname": mlflow_fullname,
            "mlflow_service_hosts": mlflow_service_hosts,
            "cnpg_rw_host": cnpg_rw_host,
            "authentik_outpost_object_name": authentik_outpost_object_name,
            "authentik_outpost_pod_label": authentik_outpost_pod_label,
        }
