# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The preflight checks of the roles' variables, one message per problem naming its variable.

The action plugin apocrathia.mlflow.preflight_checks reads the variables of ``VARIABLES[role]``
(templated, by name) and fails with the list of problems these functions return, so a role's
preflight is one task instead of a Jinja list of checks:

- mlflow_secrets_problems: the mlflow_secrets variables (the password and the 1Password token are
  checked apart, in no_log tasks);
- cnpg_cluster_problems: the cnpg_cluster variables;
- cnpg_cluster_live_problems: what the cluster has (the CloudNativePG CRD, the storage class, the
  VolumeSnapshotClass) and the changes to a running Cluster that cannot be undone (a PostgreSQL
  major version change, a smaller volume), with the notice an allowed smaller volume gets;
- mlflow_helm_problems: the mlflow_helm variables (the final Helm values are checked by
  apocrathia.mlflow.helm_release);
- mlflow_helm_live_problems: what the cluster has (the artifact volume's storage class, the
  ServiceMonitor's namespace);
- authentik_proxy_problems: the authentik_proxy variables.

Jinja's ``int``, ``bool`` and ``match`` semantics are kept (``_int``, ``_bool``, ``_match``), so a
value is judged as the Jinja checks these replace judged it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

# The storage class rule is mlflow_helm's too, and the outpost's object name the roles' and the
# playbooks': one copy of each, in the filters.
from ansible.errors import AnsibleFilterError
from ansible_collections.apocrathia.mlflow.plugins.filter.mlflow_checks import storage_class_problem
from ansible_collections.apocrathia.mlflow.plugins.filter.mlflow_names import authentik_outpost_object_name

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
URL = r"^https?://[^/?#\s]+(/[^?#\s]*)?$"
SLUG = r"^[-a-zA-Z0-9_]+$"
HOST_NAME = r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
HTTP_URL_START = r"https?://"
PARENT_REF_KEYS = ("group", "kind", "namespace", "name", "sectionName", "port")
QUANTITY_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
CNPG_CRD = "clusters.postgresql.cnpg.io"
# The PostgreSQL major version of an image tag (postgresql:17.2 -> 17, postgresql:18.6-202608170814-system-trixie@sha256:...
# -> 18, as CloudNativePG reads it from the tag); none for a reference by digest alone or another tag.
_MAJOR = re.compile(r":([0-9]+)[^:/]*$")


def _int(value, default=0):
    """Jinja's ``int`` filter: an int, else the int of a float, else ``default``."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


def _bool(value):
    """Ansible's ``bool`` filter."""
    if isinstance(value, bool):
        return value
    return str(value).lower().strip() in ("yes", "on", "1", "true", "y", "t")


def _match(value, pattern):
    """Jinja's ``match`` test (anchored at the start only, like re.match)."""
    return re.match(pattern, "" if value is None else str(value)) is not None


def _empty(value):
    return value is None or len(value) == 0


def _problems(checks):
    return [message for failed, message in checks if failed]


def mlflow_secrets_problems(s):
    """Problems with the mlflow_secrets variables ``s`` (name -> value)."""
    source = s.get("mlflow_secrets_source")
    item_source = source in ("onepassword", "operator")
    provided = source == "provided"
    operator = source == "operator"
    expected = s.get("mlflow_secrets_expected_username") or ""
    return _problems(
        [
            (
                not _match(s.get("mlflow_secrets_namespace"), DNS_LABEL),
                "mlflow_secrets_namespace must be a DNS label (lower-case letters, digits and '-'); got '{0}'.".format(
                    s.get("mlflow_secrets_namespace")
                ),
            ),
            (
                not _match(s.get("mlflow_secrets_name"), DNS_SUBDOMAIN),
                "mlflow_secrets_name must be a DNS subdomain (lower-case letters, digits, '-' and '.'); "
                "got '{0}'.".format(s.get("mlflow_secrets_name")),
            ),
            (
                item_source and _empty(s.get("mlflow_secrets_onepassword_vault")),
                "mlflow_secrets_onepassword_vault must name the 1Password vault with the '{0}' source; "
                "it is empty.".format(source),
            ),
            (
                item_source and _empty(s.get("mlflow_secrets_onepassword_item")),
                "mlflow_secrets_onepassword_item must name the 1Password item with the '{0}' source; "
                "it is empty.".format(source),
            ),
            (
                item_source and _empty(s.get("mlflow_secrets_onepassword_username_field")),
                "mlflow_secrets_onepassword_username_field must name the item's user name field; it is empty.",
            ),
            (
                item_source and _empty(s.get("mlflow_secrets_onepassword_password_field")),
                "mlflow_secrets_onepassword_password_field must name the item's password field; it is empty.",
            ),
            (
                provided and _empty(s.get("mlflow_secrets_username")),
                "mlflow_secrets_username must not be empty with the 'provided' source.",
            ),
            (
                provided and _int(s.get("mlflow_secrets_password_length")) < 16,
                "mlflow_secrets_password_length must be at least 16; got {0}.".format(
                    s.get("mlflow_secrets_password_length")
                ),
            ),
            (
                provided and len(expected) > 0 and s.get("mlflow_secrets_username") != expected,
                "mlflow_secrets_username is '{0}'; it must be '{1}', the database owner (mlflow_database_owner) "
                "that CloudNativePG creates with this Secret's password.".format(
                    s.get("mlflow_secrets_username"), expected
                ),
            ),
            (
                operator and not _match(s.get("mlflow_secrets_operator_item_path"), r"^vaults/[^/]+/items/[^/]+$"),
                "mlflow_secrets_operator_item_path must look like vaults/<vault>/items/<item>; got '{0}'.".format(
                    s.get("mlflow_secrets_operator_item_path")
                ),
            ),
            (
                operator and _int(s.get("mlflow_secrets_operator_timeout")) <= 0,
                "mlflow_secrets_operator_timeout must be a positive number of seconds; got {0}.".format(
                    s.get("mlflow_secrets_operator_timeout")
                ),
            ),
        ]
    )


def cnpg_cluster_problems(s):
    """Problems with the cnpg_cluster variables ``s`` (name -> value)."""
    parameters = s.get("cnpg_cluster_postgresql_parameters") or {}
    not_strings = [key for key, value in parameters.items() if not isinstance(value, str)]
    affinity = s.get("cnpg_cluster_affinity") or {}
    method = s.get("cnpg_cluster_backup_method")
    barman = method == "barman_object_store"
    policy = _bool(s.get("cnpg_cluster_network_policy_enabled"))
    endpoint = s.get("cnpg_cluster_backup_barman_endpoint_url") or ""
    monitoring = s.get("cnpg_cluster_network_policy_monitoring_namespace") or ""
    barman_secret = s.get("cnpg_cluster_backup_barman_secret_name")
    return _problems(
        [
            (
                not _match(s.get("cnpg_cluster_name"), DNS_LABEL),
                "cnpg_cluster_name must be a DNS label (lower-case letters, digits and '-'); got '{0}'.".format(
                    s.get("cnpg_cluster_name")
                ),
            ),
            (
                not _match(s.get("cnpg_cluster_namespace"), DNS_LABEL),
                "cnpg_cluster_namespace must be a DNS label (lower-case letters, digits and '-'); got '{0}'.".format(
                    s.get("cnpg_cluster_namespace")
                ),
            ),
            (
                _int(s.get("cnpg_cluster_instances")) < 1,
                "cnpg_cluster_instances must be at least 1; got {0}.".format(s.get("cnpg_cluster_instances")),
            ),
            (
                not _match(s.get("cnpg_cluster_storage_size"), QUANTITY),
                "cnpg_cluster_storage_size must be a Kubernetes quantity such as 20Gi; got '{0}'.".format(
                    s.get("cnpg_cluster_storage_size")
                ),
            ),
            (
                _empty(s.get("cnpg_cluster_image_name")),
                "cnpg_cluster_image_name must name the PostgreSQL image; it is empty.",
            ),
            (_empty(s.get("cnpg_cluster_database")), "cnpg_cluster_database must name the database; it is empty."),
            (_empty(s.get("cnpg_cluster_owner")), "cnpg_cluster_owner must name the database owner; it is empty."),
            (
                _empty(s.get("cnpg_cluster_secret_name")),
                "cnpg_cluster_secret_name must name the credentials Secret; it is empty.",
            ),
            (
                affinity.get("podAntiAffinityType", "preferred") not in ("preferred", "required"),
                "cnpg_cluster_affinity.podAntiAffinityType must be 'preferred' or 'required'; got '{0}'.".format(
                    affinity.get("podAntiAffinityType", "")
                ),
            ),
            (
                _int(s.get("cnpg_cluster_wait_timeout")) <= 0,
                "cnpg_cluster_wait_timeout must be a positive number of seconds; got {0}.".format(
                    s.get("cnpg_cluster_wait_timeout")
                ),
            ),
            (
                len(not_strings) > 0,
                "Every value of cnpg_cluster_postgresql_parameters must be a quoted string (the Cluster API takes "
                'strings), e.g. max_connections: "200"; these are not: {0}.'.format(", ".join(not_strings)),
            ),
            (
                _int(parameters.get("max_connections", "100")) <= 0,
                "cnpg_cluster_postgresql_parameters.max_connections must be a positive number; got '{0}'.".format(
                    parameters.get("max_connections", "")
                ),
            ),
            (
                method != "none" and len(str(s.get("cnpg_cluster_backup_schedule") or "").split()) != 6,
                "cnpg_cluster_backup_schedule must be a six-field cron expression with seconds first, e.g. "
                "\"0 0 3 * * *\"; got '{0}'.".format(s.get("cnpg_cluster_backup_schedule")),
            ),
            (
                method == "volume_snapshot" and _empty(s.get("cnpg_cluster_backup_volume_snapshot_class")),
                "cnpg_cluster_backup_volume_snapshot_class must name the VolumeSnapshotClass of the PostgreSQL "
                "volumes' storage (e.g. longhorn-snapshot-vsc) with cnpg_cluster_backup_method volume_snapshot; "
                "it is empty.",
            ),
            (
                barman and not _match(s.get("cnpg_cluster_backup_barman_destination_path"), r"^s3://[^/]+"),
                "cnpg_cluster_backup_barman_destination_path must be s3://<bucket>[/<path>]; got '{0}'.".format(
                    s.get("cnpg_cluster_backup_barman_destination_path")
                ),
            ),
            (
                barman and len(endpoint) > 0 and not _match(endpoint, r"https?://"),
                "cnpg_cluster_backup_barman_endpoint_url must be empty or an http(s) URL; got '{0}'.".format(endpoint),
            ),
            (
                barman and not _match(barman_secret, DNS_LABEL),
                "cnpg_cluster_backup_barman_secret_name must be a DNS label; got '{0}'.".format(barman_secret),
            ),
            (
                barman and barman_secret == s.get("cnpg_cluster_secret_name"),
                "cnpg_cluster_backup_barman_secret_name '{0}' is the database Secret's name "
                "(cnpg_cluster_secret_name): choose another.".format(barman_secret),
            ),
            (
                barman and _empty(s.get("cnpg_cluster_backup_onepassword_vault")),
                "cnpg_cluster_backup_onepassword_vault must name the 1Password vault of the backup credentials; "
                "it is empty.",
            ),
            (
                barman and _empty(s.get("cnpg_cluster_backup_onepassword_item")),
                "cnpg_cluster_backup_onepassword_item must name the 1Password item of the backup credentials; "
                "it is empty.",
            ),
            (
                barman and _empty(s.get("cnpg_cluster_backup_onepassword_access_key_id_field")),
                "cnpg_cluster_backup_onepassword_access_key_id_field must name the item's access key id field; "
                "it is empty.",
            ),
            (
                barman and _empty(s.get("cnpg_cluster_backup_onepassword_secret_access_key_field")),
                "cnpg_cluster_backup_onepassword_secret_access_key_field must name the item's secret access key "
                "field; it is empty.",
            ),
            (
                policy and not _match(s.get("cnpg_cluster_operator_namespace"), DNS_LABEL),
                "cnpg_cluster_operator_namespace must be the CloudNativePG operator's namespace; got '{0}'.".format(
                    s.get("cnpg_cluster_operator_namespace")
                ),
            ),
            (
                policy and _empty(s.get("cnpg_cluster_network_policy_client_labels")),
                "cnpg_cluster_network_policy_client_labels must hold the labels of MLflow's pods; it is empty.",
            ),
            (
                policy and _empty(s.get("cnpg_cluster_operator_pod_labels")),
                "cnpg_cluster_operator_pod_labels must hold the labels of the CloudNativePG operator's pods; "
                "it is empty.",
            ),
            (
                policy and len(monitoring) > 0 and not _match(monitoring, DNS_LABEL),
                "cnpg_cluster_network_policy_monitoring_namespace must be empty or a namespace name; got '{0}'.".format(
                    monitoring
                ),
            ),
        ]
    )


def _major(image):
    found = _MAJOR.search((image or "").split("@", 1)[0])
    return found.group(1) if found else ""


def _bytes(quantity):
    """A Kubernetes quantity in bytes (0 when it has no number; an unknown suffix counts as 1)."""
    quantity = str(quantity or "")
    number = re.match(r"^[0-9.]+", quantity)
    try:
        value = float(number.group(0)) if number else 0.0
    except ValueError:
        value = 0.0
    return value * QUANTITY_UNITS.get(quantity[number.end() if number else 0 :], 1)


def cnpg_cluster_live_problems(found, s):
    """What the cluster lacks and the irreversible changes to the running Cluster.

    ``found`` is the ``found`` of the preflight's k8s_objects read (keys ``cluster``,
    ``storage_classes`` and, with volume snapshot backups, ``snapshot_class``); ``s`` the
    cnpg_cluster variables. Returns ``{'problems': [...], 'notices': [...]}``.
    """
    found = found or {}
    cluster = found.get("cluster") or {}
    snapshots = s.get("cnpg_cluster_backup_method") == "volume_snapshot"
    snapshot_class = found.get("snapshot_class") or {}
    ref = "{0}/{1}".format(s.get("cnpg_cluster_namespace"), s.get("cnpg_cluster_name"))
    image = s.get("cnpg_cluster_image_name")
    size = s.get("cnpg_cluster_storage_size")
    problems = []
    if not cluster.get("api_found"):
        problems.append(
            "CloudNativePG is not installed: the CRD {0} is missing. Install the CloudNativePG operator "
            "(https://cloudnative-pg.io/documentation/current/installation_upgrade/) before deploying "
            "MLflow.".format(CNPG_CRD)
        )
    storage_class = storage_class_problem(
        (found.get("storage_classes") or {}).get("resources") or [],
        s.get("cnpg_cluster_storage_class"),
        "cnpg_cluster_storage_class",
    )
    if storage_class:
        problems.append(storage_class)
    if snapshots and not snapshot_class.get("api_found"):
        problems.append(
            "cnpg_cluster_backup_method is volume_snapshot but the cluster does not serve "
            "snapshot.storage.k8s.io/v1 VolumeSnapshotClass: install the external-snapshotter CRDs and "
            "controller (Longhorn documents this), or use barman_object_store."
        )
    if snapshots and snapshot_class.get("api_found") and not snapshot_class.get("exists"):
        problems.append(
            "cnpg_cluster_backup_volume_snapshot_class is '{0}', which does not exist: create it for your "
            "storage (Longhorn: driver.longhorn.io, parameters type: snap or bak), or name an existing "
            "one.".format(s.get("cnpg_cluster_backup_volume_snapshot_class"))
        )
    notices = []
    resources = cluster.get("resources") or []
    if resources:
        spec = resources[0].get("spec") or {}
        live_image = spec.get("imageName", "")
        live_major, new_major = _major(live_image), _major(image)
        if live_major and new_major and int(new_major) < int(live_major):
            problems.append(
                "Cluster {0} runs PostgreSQL {1} ({2}); cnpg_cluster_image_name '{3}' is major version {4}. "
                "PostgreSQL cannot go back to an older major version: restore a backup of the older version "
                "into a new Cluster instead (docs/backup-restore.md).".format(
                    ref, live_major, live_image, image, new_major
                )
            )
        if (
            live_major
            and new_major
            and int(new_major) > int(live_major)
            and not _bool(s.get("cnpg_cluster_allow_major_upgrade"))
        ):
            problems.append(
                "Cluster {0} runs PostgreSQL {1} and cnpg_cluster_image_name '{2}' is PostgreSQL {3}: "
                "CloudNativePG would run an offline in-place major upgrade (all instances stopped, pg_upgrade, "
                "no way back). Take a backup, then re-run with cnpg_cluster_allow_major_upgrade=true; or, to "
                "stay on PostgreSQL {1}, set cnpg_cluster_image_name to the image the Cluster runs ({4}).".format(
                    ref, live_major, image, new_major, live_image
                )
            )
        live_size = (spec.get("storage") or {}).get("size", size)
        if _bytes(size) < _bytes(live_size):
            if _bool(s.get("cnpg_cluster_allow_storage_shrink")):
                notices.append(
                    "Notice: cnpg_cluster_allow_storage_shrink is set; spec.storage.size becomes {0} (was {1}). "
                    "The existing volumes keep their size; only instances created from now on get the smaller "
                    "one.".format(size, live_size)
                )
            else:
                problems.append(
                    "cnpg_cluster_storage_size {0} is smaller than the running Cluster's {1}. Neither Kubernetes "
                    "nor CloudNativePG can shrink a volume: the new size would only apply to instances created "
                    "later (after destroying an instance and its volume, one at a time). Keep {1}, or re-run "
                    "with cnpg_cluster_allow_storage_shrink=true to write the smaller size for new "
                    "instances.".format(size, live_size)
                )
    return {"problems": problems, "notices": notices}


def authentik_proxy_problems(s):
    """Problems with the authentik_proxy variables ``s`` (name -> value)."""
    refs = s.get("authentik_proxy_httproute_parent_refs") or []
    mappings = [ref for ref in refs if isinstance(ref, dict)]
    refs_are_mappings = len(mappings) == len(refs)
    keys = []
    for ref in mappings:
        keys.extend(key for key in ref if key not in keys)
    unknown = [key for key in keys if key not in PARENT_REF_KEYS]
    labels = s.get("authentik_proxy_configmap_labels") or {}
    launch_url = s.get("authentik_proxy_application_launch_url") or ""
    template = str(s.get("authentik_proxy_object_naming_template") or "")
    try:
        object_name = authentik_outpost_object_name(s.get("authentik_proxy_outpost_name"), template)
    except AnsibleFilterError:  # an empty or non-text name or template: refused below as not a valid name
        object_name = "{0}".format(template)
    wait = _bool(s.get("authentik_proxy_wait"))
    return _problems(
        [
            (
                not _match(s.get("authentik_proxy_external_host"), URL),
                "authentik_proxy_external_host must be the URL users open, like https://mlflow.example.com "
                "(got '{0}').".format(s.get("authentik_proxy_external_host")),
            ),
            (
                not _match(s.get("authentik_proxy_authentik_host"), URL),
                "authentik_proxy_authentik_host must be the URL of authentik, like https://auth.example.com "
                "(got '{0}').".format(s.get("authentik_proxy_authentik_host")),
            ),
            (
                not _match(s.get("authentik_proxy_internal_host"), URL),
                "authentik_proxy_internal_host must be an http(s) URL of the MLflow Service (got '{0}').".format(
                    s.get("authentik_proxy_internal_host")
                ),
            ),
            (
                len(launch_url) > 0 and not _match(launch_url, URL),
                "authentik_proxy_application_launch_url must be empty or an http(s) URL (got '{0}').".format(
                    launch_url
                ),
            ),
            (
                not _match(s.get("authentik_proxy_namespace"), DNS_LABEL),
                "authentik_proxy_namespace must be a Kubernetes namespace name (lower-case letters, digits and "
                "'-'; got '{0}').".format(s.get("authentik_proxy_namespace")),
            ),
            (
                not _match(s.get("authentik_proxy_kubernetes_namespace"), DNS_LABEL),
                "authentik_proxy_kubernetes_namespace must be a Kubernetes namespace name (got '{0}').".format(
                    s.get("authentik_proxy_kubernetes_namespace")
                ),
            ),
            (
                not _match(s.get("authentik_proxy_configmap_name"), DNS_SUBDOMAIN),
                "authentik_proxy_configmap_name must be a Kubernetes object name (got '{0}').".format(
                    s.get("authentik_proxy_configmap_name")
                ),
            ),
            (
                not _match(s.get("authentik_proxy_configmap_key"), r"^[-._a-zA-Z0-9]+\.ya?ml$"),
                "authentik_proxy_configmap_key must be a ConfigMap key ending in .yaml or .yml, which authentik's "
                "sidecar needs (got '{0}').".format(s.get("authentik_proxy_configmap_key")),
            ),
            (
                any(not isinstance(value, str) for value in labels.values()),
                "authentik_proxy_configmap_labels values must be strings: quote them, e.g. "
                'authentik_blueprint: "true".',
            ),
            (
                not _match(s.get("authentik_proxy_application_slug"), SLUG),
                "authentik_proxy_application_slug may only hold letters, digits, '-' and '_' (got '{0}').".format(
                    s.get("authentik_proxy_application_slug")
                ),
            ),
            (
                "%(name)s" not in template,
                "authentik_proxy_object_naming_template must contain %(name)s, the outpost name (got '{0}').".format(
                    template
                ),
            ),
            (
                not _match(object_name, DNS_LABEL),
                "authentik_proxy_object_naming_template and authentik_proxy_outpost_name give '{0}', which is not "
                "a valid Kubernetes object name.".format(object_name),
            ),
            (
                wait and "%(uuid)s" in template,
                "authentik_proxy_wait needs the outpost's object names, which depend on its UUID when "
                "authentik_proxy_object_naming_template uses %(uuid)s: turn the wait off or drop %(uuid)s.",
            ),
            (
                not refs_are_mappings,
                "authentik_proxy_httproute_parent_refs must be a list of mappings like "
                "{name: my-gateway, namespace: gateway-system, sectionName: https}.",
            ),
            (
                refs_are_mappings and any("name" not in ref for ref in refs),
                "Every entry of authentik_proxy_httproute_parent_refs needs a name (the Gateway's name).",
            ),
            (
                len(unknown) > 0,
                "authentik_proxy_httproute_parent_refs has unknown key(s) {0}; allowed: {1}.".format(
                    ", ".join(unknown), ", ".join(PARENT_REF_KEYS)
                ),
            ),
            (
                _int(s.get("authentik_proxy_wait_timeout")) < _int(s.get("authentik_proxy_wait_delay")),
                "authentik_proxy_wait_timeout ({0}) must be at least authentik_proxy_wait_delay ({1}).".format(
                    s.get("authentik_proxy_wait_timeout"), s.get("authentik_proxy_wait_delay")
                ),
            ),
        ]
    )


# The variables each role's checks read (all of them options of the role's argument_specs).
def mlflow_helm_problems(s):
    """Problems with the mlflow_helm variables ``s`` (name -> value), with what the role's vars
    derive from them: ``_mlflow_helm_chart_is_local``, ``_mlflow_helm_chart_is_repo``,
    ``_mlflow_helm_artifacts_fields`` (Secret key -> 1Password field, after the store's default) and
    ``_mlflow_helm_network_policy_namespaces``."""
    problems = []
    store = s["mlflow_helm_artifacts_store"]
    object_store = store != "pvc"
    chart_ref = s["mlflow_helm_chart_ref"]
    chart_is_local = _bool(s["_mlflow_helm_chart_is_local"])
    chart_is_repo = _bool(s["_mlflow_helm_chart_is_repo"])

    def check(failed, message):
        if failed:
            problems.append(message)

    check(
        not _match(s["mlflow_helm_external_host"], HOST_NAME),
        "mlflow_helm_external_host must be the host name MLflow is reached at through the proxy, without scheme or "
        "path (e.g. mlflow.example.com); got '{0}'.".format(s["mlflow_helm_external_host"]),
    )
    for name in ("mlflow_helm_release_name", "mlflow_helm_namespace"):
        check(
            not _match(s[name], DNS_LABEL),
            "{0} must be a DNS label (lower-case letters, digits and '-'); got '{1}'.".format(name, s[name]),
        )
    check(
        not _match(s["mlflow_helm_artifacts_pvc_name"], DNS_LABEL),
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
        chart_is_repo and not _match(s["mlflow_helm_chart_repo_url"], HTTP_URL_START),
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
        object_store and not _empty(endpoint) and not _match(endpoint, HTTP_URL_START),
        "mlflow_helm_artifacts_s3_endpoint_url must be an http(s) URL; got '{0}'.".format(endpoint),
    )
    secret = s["mlflow_helm_artifacts_secret_name"]
    check(
        object_store and not _match(secret, DNS_LABEL),
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
        object_store and _empty(s["_mlflow_helm_artifacts_fields"]),
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
    bad = [n for n in s["_mlflow_helm_network_policy_namespaces"] or [] if not _match(n, DNS_LABEL)]
    check(
        _bool(s["mlflow_helm_network_policy_enabled"]) and len(bad) > 0,
        "The namespaces MLflow accepts traffic from (mlflow_helm_network_policy_proxy_namespace, "
        "mlflow_helm_network_policy_monitoring_namespace, mlflow_helm_network_policy_extra_namespaces) must be DNS "
        "labels; these are not: {0}.".format(", ".join(str(n) for n in bad)),
    )
    return problems


def mlflow_helm_live_problems(found, s):
    """What the cluster lacks for mlflow_helm: the artifact volume's storage class and the
    ServiceMonitor's namespace.

    ``found`` is the ``found`` of the preflight's k8s_objects read (keys ``storage_classes``,
    ``service_monitor`` and ``service_monitor_namespace``); ``s`` the mlflow_helm variables.
    Returns ``{'problems': [...], 'notices': []}``.
    """
    found = found or {}
    problems = []
    if s.get("mlflow_helm_artifacts_store") == "pvc":
        storage_class = storage_class_problem(
            (found.get("storage_classes") or {}).get("resources") or [],
            s.get("mlflow_helm_artifacts_pvc_storage_class"),
            "mlflow_helm_artifacts_pvc_storage_class",
        )
        if storage_class:
            problems.append(storage_class)
    monitor_api = (found.get("service_monitor") or {}).get("api_found")
    if (
        _bool(s.get("mlflow_helm_service_monitor_enabled"))
        and monitor_api
        and not (found.get("service_monitor_namespace") or {}).get("exists")
    ):
        problems.append(
            "mlflow_helm_service_monitor_namespace is '{0}', which does not exist: set it to the namespace your "
            "Prometheus watches, or set mlflow_helm_service_monitor_enabled to false.".format(
                s.get("mlflow_helm_service_monitor_namespace")
            )
        )
    return {"problems": problems, "notices": []}


VARIABLES = {
    "mlflow_secrets": (
        "mlflow_secrets_source",
        "mlflow_secrets_namespace",
        "mlflow_secrets_name",
        "mlflow_secrets_onepassword_vault",
        "mlflow_secrets_onepassword_item",
        "mlflow_secrets_onepassword_username_field",
        "mlflow_secrets_onepassword_password_field",
        "mlflow_secrets_operator_item_path",
        "mlflow_secrets_operator_timeout",
        "mlflow_secrets_expected_username",
        "mlflow_secrets_username",
        "mlflow_secrets_password_length",
    ),
    "cnpg_cluster": tuple(
        "cnpg_cluster_" + name
        for name in (
            "name namespace image_name instances storage_class storage_size postgresql_parameters affinity "
            "database owner secret_name wait_timeout allow_major_upgrade allow_storage_shrink "
            "network_policy_enabled network_policy_client_labels operator_namespace operator_pod_labels "
            "network_policy_monitoring_namespace backup_method backup_schedule backup_volume_snapshot_class "
            "backup_barman_destination_path backup_barman_endpoint_url backup_barman_secret_name "
            "backup_onepassword_vault backup_onepassword_item backup_onepassword_access_key_id_field "
            "backup_onepassword_secret_access_key_field"
        ).split()
    ),
    "mlflow_helm": tuple(
        "mlflow_helm_" + name
        for name in (
            "external_host release_name namespace artifacts_pvc_name db_secret_name db_host chart_ref chart_version "
            "chart_repo_name chart_repo_url liveness_probe artifacts_store artifacts_bucket "
            "artifacts_azure_storage_account artifacts_s3_endpoint_url artifacts_secret_name "
            "artifacts_onepassword_vault artifacts_onepassword_item pdb_min_available replicas "
            "network_policy_enabled artifacts_pvc_storage_class service_monitor_enabled service_monitor_namespace"
        ).split()
    )
    + tuple(
        "_mlflow_helm_" + name
        for name in "chart_is_local chart_is_repo artifacts_fields network_policy_namespaces".split()
    ),
    "authentik_proxy": tuple(
        "authentik_proxy_" + name
        for name in (
            "external_host authentik_host internal_host application_launch_url namespace kubernetes_namespace "
            "configmap_name configmap_key configmap_labels application_slug object_naming_template outpost_name "
            "wait httproute_parent_refs wait_timeout wait_delay"
        ).split()
    ),
}
CHECKS = {
    "mlflow_secrets": mlflow_secrets_problems,
    "cnpg_cluster": cnpg_cluster_problems,
    "mlflow_helm": mlflow_helm_problems,
    "authentik_proxy": authentik_proxy_problems,
}
# What the cluster has (``found``, the preflight's read), for the roles that check it this way.
LIVE_CHECKS = {
    "cnpg_cluster": cnpg_cluster_live_problems,
    "mlflow_helm": mlflow_helm_live_problems,
}
