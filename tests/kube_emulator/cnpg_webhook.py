"""CloudNativePG's mutating (defaulting) webhook for Cluster, as the operator's chart installs it.

CloudNativePG 1.30.0 registers a defaulting webhook for Cluster on CREATE and UPDATE
(internal/webhook/v1/cluster_webhook.go: ``ClusterCustomDefaulter.Default`` calls
``cluster.Default()``), and chart cloudnative-pg 0.29.0 creates it by default
(values.yaml ``webhook.mutating.create: true``). ``Cluster.Default`` is ``setDefaults(true)`` in
api/v1/cluster_defaults.go at tag v1.30.0 (commit 4b5e244a7d031f67e025c83c1555e7726ecbbfa1).
This module does what that function does to the fields a Cluster of this collection can carry,
so that what a real cluster stores is what the emulator stores:

- ``imageName``: ``versions.DefaultImageName`` when neither it nor ``imageCatalogRef`` is set
  (pkg/versions/versions.go);
- ``bootstrap``: ``defaultInitDB`` (database ``app``, owner = database, ``encoding: UTF8``,
  ``localeCollate: C``, ``localeCType: C``) unless ``recovery`` or ``pg_basebackup`` is used,
  whose ``database``/``owner`` get the same defaults (``defaultRecovery``/``defaultPgBaseBackup``);
- ``affinity.podAntiAffinityType: preferred`` when anti-affinity is on (or unset) and no type is set;
- ``backup.target: prefer-standby`` (``DefaultBackupTarget``) when a backup stanza has no target;
- ``postgresql.parameters``: ``CreatePostgresqlConfiguration`` with ``CnpgConfigurationSettings``
  (pkg/postgres/configuration.go): the global defaults below, the user's values over them (fixed
  ones kept, as ``PreserveFixedSettingsFromUser`` is true), then ``archive_mode``;
- ``logLevel: info``;
- ``monitoring.customQueriesConfigMap``: ``cnpg-default-monitoring``/``queries`` first, unless the
  default queries are disabled; the chart sets ``MONITORING_QUERIES_CONFIGMAP`` to that name
  (templates/deployment.yaml, values.yaml ``monitoringQueriesConfigMap.name``);
- ``replicationSlots.highAvailability`` (enabled, ``_cnpg_`` prefix) and
  ``replicationSlots.synchronizeReplicas`` (enabled) when absent;
- ``postgresql.synchronous.dataDurability: required`` when a synchronous stanza has none;
- ``probes.liveness.isolationCheck`` (enabled, 1000 ms timeouts) unless set.

Not done: plugins the operator is configured to include (none by default), tablespace owners and
the alpha annotations converted to spec (this collection sets none), and the validating webhook.
"""

import re

DEFAULT_IMAGE_NAME = "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie"
DEFAULT_APPLICATION_DATABASE = "app"
DEFAULT_MONITORING_CONFIGMAP = "cnpg-default-monitoring"
DEFAULT_MONITORING_KEY = "queries"
DEFAULT_BACKUP_TARGET = "prefer-standby"
# CnpgConfigurationSettings.GlobalDefaultSettings (LogPath is /controller/log, LogFileName postgres).
GLOBAL_DEFAULT_PARAMETERS = {
    "archive_timeout": "5min",
    "dynamic_shared_memory_type": "posix",
    "full_page_writes": "on",
    "logging_collector": "on",
    "log_destination": "csvlog",
    "log_directory": "/controller/log",
    "log_filename": "postgres",
    "log_rotation_age": "0",
    "log_rotation_size": "0",
    "log_truncate_on_rotation": "false",
    "max_parallel_workers": "32",
    "max_worker_processes": "32",
    "max_replication_slots": "32",
    "shared_memory_type": "mmap",
    "ssl_max_protocol_version": "TLSv1.3",
    "ssl_min_protocol_version": "TLSv1.3",
    "wal_keep_size": "512MB",
    "wal_level": "logical",
    "wal_log_hints": "on",
    "wal_sender_timeout": "5s",
    "wal_receiver_timeout": "5s",
    "shared_preload_libraries": "",
}
# The PostgreSQL major version comes from the image tag (GetPostgresqlMajorVersion); the
# parameters are only rewritten when it parses.
_MAJOR_FROM_TAG = re.compile(r":(\d+)(?:[.\-_][^/]*)?$")


def image_major_version(image):
    """The PostgreSQL major version in an image's tag, or None when the tag does not start with one."""
    match = _MAJOR_FROM_TAG.search(image.split("@", 1)[0])
    return int(match.group(1)) if match else None


def _major_version(spec):
    catalog = spec.get("imageCatalogRef")
    if isinstance(catalog, dict) and isinstance(catalog.get("major"), int):
        return catalog["major"]
    return image_major_version(spec.get("imageName") or DEFAULT_IMAGE_NAME)


def _wal_archiving_disabled(metadata):
    annotations = metadata.get("annotations") or {}
    return annotations.get("cnpg.io/skipWalArchiving") == "enabled"


def _default_initdb(bootstrap):
    initdb = bootstrap.get("initdb")
    if initdb is None:
        initdb = bootstrap["initdb"] = {"database": DEFAULT_APPLICATION_DATABASE, "owner": DEFAULT_APPLICATION_DATABASE}
    monolith = (initdb.get("import") or {}).get("type") == "monolith"
    if not initdb.get("database") and not monolith:
        initdb["database"] = DEFAULT_APPLICATION_DATABASE
    if not initdb.get("owner") and initdb.get("database"):
        initdb["owner"] = initdb["database"]
    for key, value in (("encoding", "UTF8"), ("localeCollate", "C"), ("localeCType", "C")):
        if not initdb.get(key):
            initdb[key] = value


def _default_database_owner(section):
    if not section.get("database"):
        section["database"] = DEFAULT_APPLICATION_DATABASE
    if not section.get("owner"):
        section["owner"] = section["database"]


def _default_parameters(cluster, spec):
    if _major_version(spec) is None:
        return
    postgresql = spec.setdefault("postgresql", {})
    parameters = dict(GLOBAL_DEFAULT_PARAMETERS)
    parameters.update({key: str(value) for key, value in (postgresql.get("parameters") or {}).items()})
    if _wal_archiving_disabled(cluster.get("metadata") or {}):
        parameters["archive_mode"] = "off"
    elif (spec.get("replica") or {}).get("enabled"):
        parameters["archive_mode"] = "always"
    else:
        parameters["archive_mode"] = "on"
    postgresql["parameters"] = parameters


def _default_monitoring(spec):
    monitoring = spec.get("monitoring")
    if isinstance(monitoring, dict) and monitoring.get("disableDefaultQueries"):
        return
    monitoring = spec.setdefault("monitoring", {}) if monitoring is None else monitoring
    config_maps = monitoring.get("customQueriesConfigMap") or []
    if not any(ref.get("name") == DEFAULT_MONITORING_CONFIGMAP for ref in config_maps):
        monitoring["customQueriesConfigMap"] = [
            {"name": DEFAULT_MONITORING_CONFIGMAP, "key": DEFAULT_MONITORING_KEY},
            *config_maps,
        ]


def default_cluster(cluster):
    """Apply the webhook's defaults to a Cluster (a dict), in place, keeping what the user set."""
    spec = cluster.setdefault("spec", {})
    if not spec.get("imageName") and not spec.get("imageCatalogRef"):
        spec["imageName"] = DEFAULT_IMAGE_NAME

    bootstrap = spec.get("bootstrap")
    if bootstrap is None:
        bootstrap = spec["bootstrap"] = {}
    if bootstrap.get("recovery") is not None:
        _default_database_owner(bootstrap["recovery"])
    elif bootstrap.get("pg_basebackup") is not None:
        _default_database_owner(bootstrap["pg_basebackup"])
    else:
        _default_initdb(bootstrap)

    affinity = spec.setdefault("affinity", {})
    if affinity.get("enablePodAntiAffinity", True) and not affinity.get("podAntiAffinityType"):
        affinity["podAntiAffinityType"] = "preferred"

    if isinstance(spec.get("backup"), dict) and not spec["backup"].get("target"):
        spec["backup"]["target"] = DEFAULT_BACKUP_TARGET

    _default_parameters(cluster, spec)

    if not spec.get("logLevel"):
        spec["logLevel"] = "info"

    _default_monitoring(spec)

    slots = spec.get("replicationSlots")
    if slots is None:
        slots = spec["replicationSlots"] = {}
    if slots.get("highAvailability") is None:
        slots["highAvailability"] = {"enabled": True, "slotPrefix": "_cnpg_"}
    if slots.get("synchronizeReplicas") is None:
        slots["synchronizeReplicas"] = {"enabled": True}

    synchronous = (spec.get("postgresql") or {}).get("synchronous")
    if isinstance(synchronous, dict) and not synchronous.get("dataDurability"):
        synchronous["dataDurability"] = "required"

    probes = spec.get("probes")
    if probes is None:
        probes = spec["probes"] = {}
    liveness = probes.get("liveness")
    if liveness is None:
        liveness = probes["liveness"] = {}
    if liveness.get("isolationCheck") is None:
        liveness["isolationCheck"] = {"enabled": True, "requestTimeout": 1000, "connectionTimeout": 1000}
    return cluster
