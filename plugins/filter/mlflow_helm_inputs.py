# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""mlflow_helm_input_problems: the mlflow_helm role's checks of its variables, one message each.

Python rather than a list of Jinja conditions: the role's preflight evaluated about twenty
conditions and rendered every message (failed or not) in one task; here only the failed ones
are written. The messages are the role's, each naming the variable to change and the value found.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.parsing.convert_bool import boolean

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
HTTP_URL = re.compile(r"https?://")


def _int(value, default=0):
    """As Jinja's ``int`` filter: a whole number from an int, a float or a string of one, else ``default``."""
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


def _bool(value):
    return boolean(value, strict=False)


def _matches(pattern, value):
    return pattern.match("" if value is None else str(value)) is not None


def _empty(value):
    return value is None or len(value) == 0


def mlflow_helm_input_problems(settings):
    """What is wrong with the mlflow_helm variables, one message each; empty when nothing is.

    ``settings``: the role's variables by name (``mlflow_helm_*``), and what its vars derive from
    them: ``chart_is_local``, ``chart_is_repo``, ``artifacts_fields`` (Secret key -> 1Password
    field, after the store's default) and ``network_policy_namespaces``.
    """
    s = settings
    problems = []
    store = s["mlflow_helm_artifacts_store"]
    object_store = store != "pvc"
    chart_ref = s["mlflow_helm_chart_ref"]
    chart_is_local = _bool(s["chart_is_local"])
    chart_is_repo = _bool(s["chart_is_repo"])

    def check(failed, message):
        if failed:
            problems.append(message)

    check(
        not _matches(HOSTNAME, s["mlflow_helm_external_host"]),
        "mlflow_helm_external_host must be the host name MLflow is reached at through the proxy, without scheme or "
        "path (e.g. mlflow.example.com); got '{0}'.".format(s["mlflow_helm_external_host"]),
    )
    for name in ("mlflow_helm_release_name", "mlflow_helm_namespace"):
        check(
            not _matches(DNS_LABEL, s[name]),
            "{0} must be a DNS label (lower-case letters, digits and '-'); got '{1}'.".format(name, s[name]),
        )
    check(
        not _matches(DNS_LABEL, s["mlflow_helm_artifacts_pvc_name"]),
        "mlflow_helm_artifacts_pvc_name must be a DNS label; got '{0}'.".format(s["mlflow_helm_artifacts_pvc_name"]),
    )
    check(
        _empty(s["mlflow_helm_db_secret_name"]),
        "mlflow_helm_db_secret_name must name the database credentials Secret; it is empty.",
    )
    check(_empty(s["mlflow_helm_db_host"]), "mlflow_helm_db_host must be the PostgreSQL host; it is empty.")
    check(
        chart_is_local and not os.path.exists(chart_ref),
        "mlflow_helm_chart_ref '{0}' looks like a local chart, but there is no such directory or file.".format(
            chart_ref
        ),
    )
    check(
        not chart_is_local and len(str(s["mlflow_helm_chart_version"])) == 0,
        "mlflow_helm_chart_version must be set for the repository or OCI chart '{0}'; it is empty.".format(chart_ref),
    )
    parts = chart_ref.split("/")
    check(
        chart_is_repo and not (len(parts) == 2 and parts[0] == s["mlflow_helm_chart_repo_name"]),
        "mlflow_helm_chart_ref must be <repo>/<chart> with <repo> equal to mlflow_helm_chart_repo_name ('{0}'), an "
        "oci:// reference or a local chart; got '{1}'.".format(s["mlflow_helm_chart_repo_name"], chart_ref),
    )
    check(
        chart_is_repo and not _matches(HTTP_URL, s["mlflow_helm_chart_repo_url"]),
        "mlflow_helm_chart_repo_url must be an http(s) URL; got '{0}'.".format(s["mlflow_helm_chart_repo_url"]),
    )
    probe = s["mlflow_helm_liveness_probe"] or {}
    budget = _int(probe.get("initialDelaySeconds", 0)) + _int(probe.get("periodSeconds", 10)) * _int(
        probe.get("failureThreshold", 3)
    )
    check(
        budget < 60,
        "mlflow_helm_liveness_probe gives the server {0} s to start (initialDelaySeconds + periodSeconds x "
        "failureThreshold); it needs at least 60 (MLflow takes 10-30 s, more on a busy node).".format(budget),
    )
    check(
        object_store and _empty(s["mlflow_helm_artifacts_bucket"]),
        "mlflow_helm_artifacts_bucket must name the bucket or container with mlflow_helm_artifacts_store '{0}'; it "
        "is empty.".format(store),
    )
    check(
        store == "azure_blob" and _empty(s["mlflow_helm_artifacts_azure_storage_account"]),
        "mlflow_helm_artifacts_azure_storage_account must be set with mlflow_helm_artifacts_store 'azure_blob'; it "
        "is empty.",
    )
    endpoint = s["mlflow_helm_artifacts_s3_endpoint_url"]
    check(
        object_store and not _empty(endpoint) and not _matches(HTTP_URL, endpoint),
        "mlflow_helm_artifacts_s3_endpoint_url must be an http(s) URL; got '{0}'.".format(endpoint),
    )
    secret = s["mlflow_helm_artifacts_secret_name"]
    check(
        object_store and not _matches(DNS_LABEL, secret),
        "mlflow_helm_artifacts_secret_name must be a DNS label; got '{0}'.".format(secret),
    )
    check(
        object_store and secret == s["mlflow_helm_db_secret_name"],
        "mlflow_helm_artifacts_secret_name '{0}' is the database Secret's name (mlflow_helm_db_secret_name): "
        "choose another.".format(secret),
    )
    check(
        object_store and _empty(s["mlflow_helm_artifacts_onepassword_vault"]),
        "mlflow_helm_artifacts_onepassword_vault must name the 1Password vault of the object storage credentials; "
        "it is empty.",
    )
    check(
        object_store and _empty(s["mlflow_helm_artifacts_onepassword_item"]),
        "mlflow_helm_artifacts_onepassword_item must name the 1Password item of the object storage credentials; "
        "it is empty.",
    )
    check(
        object_store and _empty(s["artifacts_fields"]),
        "mlflow_helm_artifacts_onepassword_fields must map Secret keys to 1Password fields; it is empty.",
    )
    pdb = s["mlflow_helm_pdb_min_available"]
    replicas = s["mlflow_helm_replicas"]
    check(_int(pdb) < 1, "mlflow_helm_pdb_min_available must be at least 1; got {0}.".format(pdb))
    check(
        _int(replicas) > 1 and _int(pdb) >= _int(replicas),
        "mlflow_helm_pdb_min_available ({0}) must be lower than mlflow_helm_replicas ({1}), or no node could ever "
        "be drained.".format(pdb, replicas),
    )
    bad = [n for n in s["network_policy_namespaces"] or [] if not _matches(DNS_LABEL, n)]
    check(
        _bool(s["mlflow_helm_network_policy_enabled"]) and len(bad) > 0,
        "The namespaces MLflow accepts traffic from (mlflow_helm_network_policy_proxy_namespace, "
        "mlflow_helm_network_policy_monitoring_namespace, mlflow_helm_network_policy_extra_namespaces) must be DNS "
        "labels; these are not: {0}.".format(", ".join(str(n) for n in bad)),
    )
    return problems


class FilterModule(object):
    def filters(self):
        return {"mlflow_helm_input_problems": mlflow_helm_input_problems}
