"""The emulator's stand-in for CloudNativePG 1.30's defaulting webhook (api/v1/cluster_defaults.go)."""

import copy

from tests.kube_emulator.cnpg_webhook import default_cluster


def cluster(**spec):
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "pg"}, "spec": spec}


def test_initdb_gets_encoding_and_locale_and_keeps_what_was_set():
    spec = default_cluster(
        cluster(
            imageName="ghcr.io/cloudnative-pg/postgresql:17",
            bootstrap={"initdb": {"database": "mlflow", "owner": "mlflow"}},
        )
    )["spec"]
    assert spec["bootstrap"]["initdb"] == {
        "database": "mlflow",
        "owner": "mlflow",
        "encoding": "UTF8",
        "localeCollate": "C",
        "localeCType": "C",
    }


def test_an_empty_cluster_gets_the_app_database_and_the_default_image():
    spec = default_cluster(cluster())["spec"]
    assert spec["imageName"] == "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie"
    assert spec["bootstrap"]["initdb"]["database"] == "app" and spec["bootstrap"]["initdb"]["owner"] == "app"
    assert spec["affinity"] == {"podAntiAffinityType": "preferred"}
    assert spec["logLevel"] == "info"
    assert spec["replicationSlots"] == {
        "highAvailability": {"enabled": True, "slotPrefix": "_cnpg_"},
        "synchronizeReplicas": {"enabled": True},
    }
    assert spec["probes"]["liveness"]["isolationCheck"] == {
        "enabled": True,
        "requestTimeout": 1000,
        "connectionTimeout": 1000,
    }


def test_parameters_keep_the_users_values_over_the_operators_defaults():
    spec = default_cluster(
        cluster(imageName="ghcr.io/cloudnative-pg/postgresql:17", postgresql={"parameters": {"wal_keep_size": "1GB"}})
    )["spec"]
    parameters = spec["postgresql"]["parameters"]
    assert parameters["wal_keep_size"] == "1GB"
    assert parameters["wal_level"] == "logical" and parameters["log_destination"] == "csvlog"
    assert parameters["archive_mode"] == "on"


def test_parameters_are_left_alone_when_the_major_version_is_unknown():
    spec = default_cluster(cluster(imageName="example/postgres:latest", postgresql={"parameters": {"a": "1"}}))["spec"]
    assert spec["postgresql"]["parameters"] == {"a": "1"}


def test_recovery_is_defaulted_instead_of_initdb():
    spec = default_cluster(cluster(bootstrap={"recovery": {"source": "old"}}))["spec"]
    assert spec["bootstrap"] == {"recovery": {"source": "old", "database": "app", "owner": "app"}}


def test_default_monitoring_queries_unless_disabled():
    on = default_cluster(cluster(monitoring={"customQueriesConfigMap": [{"name": "mine", "key": "q"}]}))["spec"]
    assert on["monitoring"]["customQueriesConfigMap"] == [
        {"name": "cnpg-default-monitoring", "key": "queries"},
        {"name": "mine", "key": "q"},
    ]
    off = default_cluster(cluster(monitoring={"disableDefaultQueries": True}))["spec"]
    assert off["monitoring"] == {"disableDefaultQueries": True}


def test_defaulting_twice_changes_nothing():
    """The webhook runs on every update: a second pass must be a no-op (idempotent converges)."""
    once = default_cluster(cluster(imageName="ghcr.io/cloudnative-pg/postgresql:17"))
    assert default_cluster(copy.deepcopy(once)) == once
