"""The roles' preflight rules (plugins/plugin_utils/role_checks.py, run by the action plugin
apocrathia.mlflow.preflight_checks): the defaults pass, and each bad value gets one message
naming its variable and the value found, the text the roles printed when these checks were
Jinja (tests/integration assert the same text end to end)."""

import copy
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleActionFail
from ansible_collections.apocrathia.mlflow.plugins.action.preflight_checks import run_checks
from ansible_collections.apocrathia.mlflow.plugins.plugin_utils import role_checks

ROLES = Path(__file__).resolve().parents[4] / "roles"

secrets_problems = role_checks.mlflow_secrets_problems
cnpg_problems = role_checks.cnpg_cluster_problems
live_problems = role_checks.cnpg_cluster_live_problems
authentik_problems = role_checks.authentik_proxy_problems

# The roles' defaults, templated (as the action plugin passes them).
SECRETS = {
    "mlflow_secrets_source": "provided",
    "mlflow_secrets_namespace": "mlflow",
    "mlflow_secrets_name": "mlflow-secrets",
    "mlflow_secrets_onepassword_vault": "Secrets",
    "mlflow_secrets_onepassword_item": "mlflow-secrets",
    "mlflow_secrets_onepassword_username_field": "username",
    "mlflow_secrets_onepassword_password_field": "password",
    "mlflow_secrets_operator_item_path": "vaults/Secrets/items/mlflow-secrets",
    "mlflow_secrets_operator_timeout": 120,
    "mlflow_secrets_expected_username": "mlflow",
    "mlflow_secrets_username": "mlflow",
    "mlflow_secrets_password_length": 32,
}
CNPG = {
    "cnpg_cluster_name": "mlflow-postgres",
    "cnpg_cluster_namespace": "mlflow",
    "cnpg_cluster_image_name": "ghcr.io/cloudnative-pg/postgresql:17",
    "cnpg_cluster_instances": 1,
    "cnpg_cluster_storage_class": "longhorn",
    "cnpg_cluster_storage_size": "20Gi",
    "cnpg_cluster_postgresql_parameters": {"max_connections": "200", "shared_buffers": "256MB"},
    "cnpg_cluster_affinity": {"enablePodAntiAffinity": True, "podAntiAffinityType": "preferred"},
    "cnpg_cluster_database": "mlflow",
    "cnpg_cluster_owner": "mlflow",
    "cnpg_cluster_secret_name": "mlflow-secrets",
    "cnpg_cluster_wait_timeout": 600,
    "cnpg_cluster_allow_major_upgrade": False,
    "cnpg_cluster_allow_storage_shrink": False,
    "cnpg_cluster_network_policy_enabled": True,
    "cnpg_cluster_network_policy_client_labels": {"app.kubernetes.io/name": "mlflow"},
    "cnpg_cluster_operator_namespace": "cnpg-system",
    "cnpg_cluster_operator_pod_labels": {"app.kubernetes.io/name": "cloudnative-pg"},
    "cnpg_cluster_network_policy_monitoring_namespace": "prometheus-system",
    "cnpg_cluster_backup_method": "none",
    "cnpg_cluster_backup_schedule": "0 0 3 * * *",
    "cnpg_cluster_backup_volume_snapshot_class": "",
    "cnpg_cluster_backup_barman_destination_path": "",
    "cnpg_cluster_backup_barman_endpoint_url": "",
    "cnpg_cluster_backup_barman_secret_name": "mlflow-postgres-backup-credentials",
    "cnpg_cluster_backup_onepassword_vault": "Secrets",
    "cnpg_cluster_backup_onepassword_item": "mlflow-postgres-backup",
    "cnpg_cluster_backup_onepassword_access_key_id_field": "access_key_id",
    "cnpg_cluster_backup_onepassword_secret_access_key_field": "secret_access_key",
}
AUTHENTIK = {
    "authentik_proxy_external_host": "https://mlflow.example.com",
    "authentik_proxy_authentik_host": "https://auth.example.com",
    "authentik_proxy_internal_host": "http://mlflow.mlflow.svc.cluster.local:5000",
    "authentik_proxy_application_launch_url": "https://mlflow.example.com",
    "authentik_proxy_namespace": "mlflow",
    "authentik_proxy_kubernetes_namespace": "authentik",
    "authentik_proxy_configmap_name": "authentik-blueprint-mlflow",
    "authentik_proxy_configmap_key": "mlflow.yaml",
    "authentik_proxy_configmap_labels": {"authentik_blueprint": "true"},
    "authentik_proxy_application_slug": "mlflow",
    "authentik_proxy_object_naming_template": "ak-outpost-%(name)s",
    "authentik_proxy_outpost_name": "mlflow-outpost",
    "authentik_proxy_wait": False,
    "authentik_proxy_httproute_parent_refs": [{"name": "main-gateway", "namespace": "cilium-system"}],
    "authentik_proxy_wait_timeout": 300,
    "authentik_proxy_wait_delay": 5,
}


def changed(base, **changes):
    settings = copy.deepcopy(base)
    settings.update(changes)
    return settings


def test_the_defaults_pass():
    assert secrets_problems(SECRETS) == []
    assert secrets_problems(changed(SECRETS, mlflow_secrets_source="onepassword")) == []
    assert secrets_problems(changed(SECRETS, mlflow_secrets_source="operator")) == []
    assert cnpg_problems(CNPG) == []
    assert authentik_problems(AUTHENTIK) == []


# --- mlflow_secrets ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"mlflow_secrets_namespace": "ML"},
            "mlflow_secrets_namespace must be a DNS label (lower-case letters, digits and '-'); got 'ML'.",
        ),
        (
            {"mlflow_secrets_name": "-x"},
            "mlflow_secrets_name must be a DNS subdomain (lower-case letters, digits, '-' and '.'); got '-x'.",
        ),
        (
            {"mlflow_secrets_username": "", "mlflow_secrets_expected_username": ""},
            "mlflow_secrets_username must not be empty with the 'provided' source.",
        ),
        ({"mlflow_secrets_password_length": 8}, "mlflow_secrets_password_length must be at least 16; got 8."),
        (
            {"mlflow_secrets_username": "someone-else"},
            "mlflow_secrets_username is 'someone-else'; it must be 'mlflow', the database owner "
            "(mlflow_database_owner) that CloudNativePG creates with this Secret's password.",
        ),
    ],
)
def test_secrets_provided_source(changes, message):
    assert secrets_problems(changed(SECRETS, **changes)) == [message]


def test_secrets_no_expected_user_name_accepts_any():
    assert secrets_problems(changed(SECRETS, mlflow_secrets_expected_username="", mlflow_secrets_username="x")) == []


@pytest.mark.parametrize("source", ["onepassword", "operator"])
def test_secrets_item_sources_name_the_empty_item_variables(source):
    empty = {
        "mlflow_secrets_onepassword_vault": "",
        "mlflow_secrets_onepassword_item": "",
        "mlflow_secrets_onepassword_username_field": "",
        "mlflow_secrets_onepassword_password_field": "",
    }
    found = secrets_problems(changed(SECRETS, mlflow_secrets_source=source, **empty))
    assert found[:4] == [
        f"mlflow_secrets_onepassword_vault must name the 1Password vault with the '{source}' source; it is empty.",
        f"mlflow_secrets_onepassword_item must name the 1Password item with the '{source}' source; it is empty.",
        "mlflow_secrets_onepassword_username_field must name the item's user name field; it is empty.",
        "mlflow_secrets_onepassword_password_field must name the item's password field; it is empty.",
    ]
    # The 'provided' rules do not apply to the item sources.
    assert secrets_problems(changed(SECRETS, mlflow_secrets_source=source, mlflow_secrets_password_length=1)) == []


def test_secrets_operator_rules():
    found = secrets_problems(
        changed(
            SECRETS,
            mlflow_secrets_source="operator",
            mlflow_secrets_operator_item_path="Secrets/mlflow",
            mlflow_secrets_operator_timeout="0",
        )
    )
    assert found == [
        "mlflow_secrets_operator_item_path must look like vaults/<vault>/items/<item>; got 'Secrets/mlflow'.",
        "mlflow_secrets_operator_timeout must be a positive number of seconds; got 0.",
    ]
    # Not checked for the other sources.
    assert secrets_problems(changed(SECRETS, mlflow_secrets_operator_item_path="x")) == []


# --- cnpg_cluster -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"cnpg_cluster_storage_size": "20GB"},
            "cnpg_cluster_storage_size must be a Kubernetes quantity such as 20Gi; got '20GB'.",
        ),
        ({"cnpg_cluster_instances": 0}, "cnpg_cluster_instances must be at least 1; got 0."),
        (
            {"cnpg_cluster_name": "Postgres"},
            "cnpg_cluster_name must be a DNS label (lower-case letters, digits and '-'); got 'Postgres'.",
        ),
        (
            {"cnpg_cluster_affinity": {"podAntiAffinityType": "always"}},
            "cnpg_cluster_affinity.podAntiAffinityType must be 'preferred' or 'required'; got 'always'.",
        ),
        (
            {"cnpg_cluster_postgresql_parameters": {"max_connections": 200, "work_mem": "4MB", "fsync": True}},
            "Every value of cnpg_cluster_postgresql_parameters must be a quoted string (the Cluster API takes "
            'strings), e.g. max_connections: "200"; these are not: max_connections, fsync.',
        ),
        (
            {"cnpg_cluster_postgresql_parameters": {"max_connections": "many"}},
            "cnpg_cluster_postgresql_parameters.max_connections must be a positive number; got 'many'.",
        ),
        (
            {"cnpg_cluster_wait_timeout": -1},
            "cnpg_cluster_wait_timeout must be a positive number of seconds; got -1.",
        ),
        (
            {"cnpg_cluster_network_policy_monitoring_namespace": "Prometheus"},
            "cnpg_cluster_network_policy_monitoring_namespace must be empty or a namespace name; got 'Prometheus'.",
        ),
        (
            {"cnpg_cluster_operator_pod_labels": {}},
            "cnpg_cluster_operator_pod_labels must hold the labels of the CloudNativePG operator's pods; it is empty.",
        ),
    ],
)
def test_cnpg_one_message_names_the_one_wrong_variable(changes, message):
    assert cnpg_problems(changed(CNPG, **changes)) == [message]


def test_cnpg_network_policy_rules_apply_only_with_the_policy():
    off = changed(
        CNPG,
        cnpg_cluster_network_policy_enabled="false",
        cnpg_cluster_operator_pod_labels={},
        cnpg_cluster_network_policy_client_labels={},
        cnpg_cluster_operator_namespace="",
    )
    assert cnpg_problems(off) == []


def test_cnpg_backup_rules():
    snapshot = changed(CNPG, cnpg_cluster_backup_method="volume_snapshot", cnpg_cluster_backup_schedule="0 3 * * *")
    assert cnpg_problems(snapshot) == [
        "cnpg_cluster_backup_schedule must be a six-field cron expression with seconds first, e.g. "
        "\"0 0 3 * * *\"; got '0 3 * * *'.",
        "cnpg_cluster_backup_volume_snapshot_class must name the VolumeSnapshotClass of the PostgreSQL volumes' "
        "storage (e.g. longhorn-snapshot-vsc) with cnpg_cluster_backup_method volume_snapshot; it is empty.",
    ]
    barman = changed(
        CNPG,
        cnpg_cluster_backup_method="barman_object_store",
        cnpg_cluster_backup_barman_destination_path="bucket/path",
        cnpg_cluster_backup_barman_endpoint_url="minio:9000",
        cnpg_cluster_backup_barman_secret_name="mlflow-secrets",
        cnpg_cluster_backup_onepassword_item="",
    )
    assert cnpg_problems(barman) == [
        "cnpg_cluster_backup_barman_destination_path must be s3://<bucket>[/<path>]; got 'bucket/path'.",
        "cnpg_cluster_backup_barman_endpoint_url must be empty or an http(s) URL; got 'minio:9000'.",
        "cnpg_cluster_backup_barman_secret_name 'mlflow-secrets' is the database Secret's name "
        "(cnpg_cluster_secret_name): choose another.",
        "cnpg_cluster_backup_onepassword_item must name the 1Password item of the backup credentials; it is empty.",
    ]
    good = changed(
        CNPG,
        cnpg_cluster_backup_method="barman_object_store",
        cnpg_cluster_backup_barman_destination_path="s3://bucket/mlflow",
        cnpg_cluster_backup_barman_endpoint_url="https://minio.example.com",
    )
    assert cnpg_problems(good) == []


# --- cnpg_cluster: what the cluster has, and the running Cluster ------------------------------
def found(cluster=None, api=True, classes=("longhorn",), snapshot_class=None):
    result = {
        "cluster": {"api_found": api, "exists": cluster is not None, "resources": [cluster] if cluster else []},
        "storage_classes": {"resources": [{"metadata": {"name": name}} for name in classes]},
    }
    if snapshot_class is not None:
        result["snapshot_class"] = snapshot_class
    return result


def running(image="ghcr.io/cloudnative-pg/postgresql:17", size="20Gi"):
    return {"spec": {"imageName": image, "storage": {"size": size}}}


def test_live_nothing_to_say_on_a_first_run_or_an_unchanged_cluster():
    assert live_problems(found(), CNPG) == {"problems": [], "notices": []}
    assert live_problems(found(running()), CNPG) == {"problems": [], "notices": []}
    # Growing, a minor update, or a digest (no major version to compare) pass.
    bigger = changed(CNPG, cnpg_cluster_storage_size="30Gi", cnpg_cluster_image_name="ghcr.io/x/postgresql:17.5")
    assert live_problems(found(running()), bigger)["problems"] == []
    digest = changed(CNPG, cnpg_cluster_image_name="ghcr.io/x/postgresql@sha256:abc")
    assert live_problems(found(running()), digest)["problems"] == []


PINNED_18 = (
    "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-system-trixie"
    "@sha256:14cfefd0db8bbc617a4882c74a2811af361fc8d0fc1733062c982c6e746a3875"
)


def test_live_major_of_a_tag_and_digest_comes_from_the_tag():
    """The digest's hex (here starting '14') is no version: 17 to 18 is an upgrade, and 18 to a bare
    digest has no major to compare."""
    upgrade = changed(CNPG, cnpg_cluster_image_name=PINNED_18)
    (message,) = live_problems(found(running()), upgrade)["problems"]
    assert "runs PostgreSQL 17 and cnpg_cluster_image_name '" + PINNED_18 + "' is PostgreSQL 18" in message
    by_digest_only = changed(
        CNPG,
        cnpg_cluster_image_name="ghcr.io/cloudnative-pg/postgresql@sha256:"
        "14cfefd0db8bbc617a4882c74a2811af361fc8d0fc1733062c982c6e746a3875",
    )
    assert live_problems(found(running(PINNED_18)), by_digest_only)["problems"] == []


def test_live_missing_operator_and_storage_class():
    result = live_problems(found(api=False, classes=("standard",)), CNPG)
    assert result["problems"] == [
        "CloudNativePG is not installed: the CRD clusters.postgresql.cnpg.io is missing. Install the CloudNativePG "
        "operator (https://cloudnative-pg.io/documentation/current/installation_upgrade/) before deploying MLflow.",
        "cnpg_cluster_storage_class is 'longhorn', which does not exist in the cluster: create it, or name an "
        "existing class (standard).",
    ]


def test_live_snapshot_class():
    snapshots = changed(
        CNPG,
        cnpg_cluster_backup_method="volume_snapshot",
        cnpg_cluster_backup_volume_snapshot_class="longhorn-snapshot-vsc",
    )
    (no_api,) = live_problems(found(snapshot_class={"api_found": False, "exists": False}), snapshots)["problems"]
    assert no_api.startswith("cnpg_cluster_backup_method is volume_snapshot but the cluster does not serve")
    (missing,) = live_problems(found(snapshot_class={"api_found": True, "exists": False}), snapshots)["problems"]
    assert missing.startswith("cnpg_cluster_backup_volume_snapshot_class is 'longhorn-snapshot-vsc', which")
    assert live_problems(found(snapshot_class={"api_found": True, "exists": True}), snapshots)["problems"] == []


def test_live_major_upgrade_needs_the_switch():
    upgrade = changed(CNPG, cnpg_cluster_image_name="ghcr.io/cloudnative-pg/postgresql:18")
    (message,) = live_problems(found(running()), upgrade)["problems"]
    assert message.startswith(
        "Cluster mlflow/mlflow-postgres runs PostgreSQL 17 and cnpg_cluster_image_name "
        "'ghcr.io/cloudnative-pg/postgresql:18' is PostgreSQL 18: CloudNativePG would run an offline in-place"
    )
    assert message.endswith(
        "re-run with cnpg_cluster_allow_major_upgrade=true; or, to stay on PostgreSQL 17, set "
        "cnpg_cluster_image_name to the image the Cluster runs (ghcr.io/cloudnative-pg/postgresql:17)."
    )
    allowed = changed(upgrade, cnpg_cluster_allow_major_upgrade=True)
    assert live_problems(found(running()), allowed) == {"problems": [], "notices": []}


def test_live_major_downgrade_is_refused_even_when_upgrades_are_allowed():
    downgrade = changed(
        CNPG, cnpg_cluster_image_name="ghcr.io/cloudnative-pg/postgresql:16.4", cnpg_cluster_allow_major_upgrade=True
    )
    (message,) = live_problems(found(running("ghcr.io/cloudnative-pg/postgresql:17.2")), downgrade)["problems"]
    assert message == (
        "Cluster mlflow/mlflow-postgres runs PostgreSQL 17 (ghcr.io/cloudnative-pg/postgresql:17.2); "
        "cnpg_cluster_image_name 'ghcr.io/cloudnative-pg/postgresql:16.4' is major version 16. PostgreSQL "
        "cannot go back to an older major version: restore a backup of the older version into a new Cluster "
        "instead (docs/backup-restore.md)."
    )


def test_live_smaller_volume_is_refused_unless_allowed_then_a_notice():
    smaller = changed(CNPG, cnpg_cluster_storage_size="10Gi")
    (message,) = live_problems(found(running()), smaller)["problems"]
    assert message.startswith("cnpg_cluster_storage_size 10Gi is smaller than the running Cluster's 20Gi.")
    allowed = changed(smaller, cnpg_cluster_allow_storage_shrink=True)
    assert live_problems(found(running()), allowed) == {
        "problems": [],
        "notices": [
            "Notice: cnpg_cluster_allow_storage_shrink is set; spec.storage.size becomes 10Gi (was 20Gi). The "
            "existing volumes keep their size; only instances created from now on get the smaller one."
        ],
    }
    # Units are compared, not strings: 20480Mi is 20Gi, 21G is more than 19.5Gi.
    assert live_problems(found(running()), changed(CNPG, cnpg_cluster_storage_size="20480Mi"))["problems"] == []
    assert live_problems(found(running(size="19.5Gi")), changed(CNPG, cnpg_cluster_storage_size="21G")) == {
        "problems": [],
        "notices": [],
    }


# --- authentik_proxy --------------------------------------------------------------------------
def test_authentik_reports_every_problem_once():
    bad = changed(
        AUTHENTIK,
        authentik_proxy_external_host="mlflow.example.com",
        authentik_proxy_authentik_host="",
        authentik_proxy_kubernetes_namespace="Authentik",
        authentik_proxy_httproute_parent_refs=[{"namespace": "cilium-system"}],
    )
    assert authentik_problems(bad) == [
        "authentik_proxy_external_host must be the URL users open, like https://mlflow.example.com "
        "(got 'mlflow.example.com').",
        "authentik_proxy_authentik_host must be the URL of authentik, like https://auth.example.com (got '').",
        "authentik_proxy_kubernetes_namespace must be a Kubernetes namespace name (got 'Authentik').",
        "Every entry of authentik_proxy_httproute_parent_refs needs a name (the Gateway's name).",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"authentik_proxy_httproute_parent_refs": ["main-gateway"]},
            "authentik_proxy_httproute_parent_refs must be a list of mappings like "
            "{name: my-gateway, namespace: gateway-system, sectionName: https}.",
        ),
        (
            {"authentik_proxy_httproute_parent_refs": [{"name": "gw", "hostname": "x", "weight": 1}]},
            "authentik_proxy_httproute_parent_refs has unknown key(s) hostname, weight; allowed: "
            "group, kind, namespace, name, sectionName, port.",
        ),
        (
            {"authentik_proxy_configmap_labels": {"authentik_blueprint": True}},
            'authentik_proxy_configmap_labels values must be strings: quote them, e.g. authentik_blueprint: "true".',
        ),
        (
            {"authentik_proxy_configmap_key": "mlflow.json"},
            "authentik_proxy_configmap_key must be a ConfigMap key ending in .yaml or .yml, which authentik's "
            "sidecar needs (got 'mlflow.json').",
        ),
        (
            {"authentik_proxy_wait_timeout": 2},
            "authentik_proxy_wait_timeout (2) must be at least authentik_proxy_wait_delay (5).",
        ),
        (
            {"authentik_proxy_application_launch_url": "ftp://x"},
            "authentik_proxy_application_launch_url must be empty or an http(s) URL (got 'ftp://x').",
        ),
        (
            {"authentik_proxy_application_slug": "ml flow"},
            "authentik_proxy_application_slug may only hold letters, digits, '-' and '_' (got 'ml flow').",
        ),
        (
            {"authentik_proxy_object_naming_template": "ak_outpost-%(name)s"},
            "authentik_proxy_object_naming_template and authentik_proxy_outpost_name give "
            "'ak_outpost-mlflow-outpost', which is not a valid Kubernetes object name.",
        ),
    ],
)
def test_authentik_one_message_names_the_one_wrong_variable(changes, message):
    assert authentik_problems(changed(AUTHENTIK, **changes)) == [message]


def test_authentik_naming_template():
    no_name = changed(AUTHENTIK, authentik_proxy_object_naming_template="outpost")
    assert authentik_problems(no_name) == [
        "authentik_proxy_object_naming_template must contain %(name)s, the outpost name (got 'outpost')."
    ]
    # %(uuid)s is only known once authentik created the outpost: not a name to wait for.
    uuid = changed(AUTHENTIK, authentik_proxy_object_naming_template="ak-%(name)s-%(uuid)s")
    assert authentik_problems(uuid) == [
        "authentik_proxy_object_naming_template and authentik_proxy_outpost_name give "
        "'ak-mlflow-outpost-%(uuid)s', which is not a valid Kubernetes object name."
    ]
    waiting = authentik_problems(changed(uuid, authentik_proxy_wait=True))
    assert len(waiting) == 2 and waiting[1].startswith("authentik_proxy_wait needs the outpost's object names")


# --- what the action plugin reads and runs ----------------------------------------------------
@pytest.mark.parametrize("role", sorted(role_checks.VARIABLES))
def test_every_variable_read_is_an_option_of_the_role(role):
    """A misspelt name would be read as missing and pass silently: each one must be documented."""
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = specs["preflight"]["options"]
    # What the role derives from its options (``_<role>_*``) is defined in its vars.
    derived = yaml.safe_load((ROLES / role / "vars" / "main.yml").read_text()) or {}
    read = role_checks.VARIABLES[role]
    assert [name for name in read if name not in options and not (name.startswith("_") and name in derived)] == []
    # Credentials are never read by these checks (no_log tasks check them).
    assert [name for name in read if name in options and options[name].get("no_log")] == []
    assert "mlflow_secrets_password" not in role_checks.VARIABLES[role]


def test_the_unit_test_settings_are_what_the_action_reads():
    assert sorted(SECRETS) == sorted(role_checks.VARIABLES["mlflow_secrets"])
    assert sorted(CNPG) == sorted(role_checks.VARIABLES["cnpg_cluster"])
    assert sorted(AUTHENTIK) == sorted(role_checks.VARIABLES["authentik_proxy"])


def test_run_checks_picks_the_variable_or_the_cluster_checks():
    assert run_checks("cnpg_cluster", changed(CNPG, cnpg_cluster_instances=0)) == (
        ["cnpg_cluster_instances must be at least 1; got 0."],
        [],
    )
    allowed = changed(CNPG, cnpg_cluster_storage_size="10Gi", cnpg_cluster_allow_storage_shrink=True)
    problems, notices = run_checks("cnpg_cluster", allowed, found(running()))
    assert problems == [] and len(notices) == 1
    with pytest.raises(AnsibleActionFail, match="only read by the checks of cnpg_cluster and mlflow_helm"):
        run_checks("authentik_proxy", AUTHENTIK, found())


def test_the_documented_roles_are_those_with_checks():
    """The module file (documentation only) lists the roles the action plugin checks."""
    from ansible_collections.apocrathia.mlflow.plugins.modules import preflight_checks

    documented = yaml.safe_load(preflight_checks.DOCUMENTATION)["options"]["role"]["choices"]
    assert sorted(documented) == sorted(role_checks.VARIABLES) == sorted(role_checks.CHECKS)
