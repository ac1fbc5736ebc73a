# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Preflight checks on what is actually sent, each problem one message naming its variable.

- mlflow_values_problems: the final Helm values of the mlflow_helm role (after
  mlflow_helm_values_extra and every other override) against the database connection budget
  (autoscaling counted at its maximum), the artifact volume's access mode, and credentials, which
  never travel in Helm values;
- storage_class_problem: whether a PVC's storage class (named, or the cluster's default) exists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# SQLAlchemy applies only truthy pool settings (mlflow/store/db/utils.py): 0 or unset means its
# defaults, a pool of 5 plus 10 overflow connections.
SQLALCHEMY_POOL_SIZE = 5
SQLALCHEMY_MAX_OVERFLOW = 10

# Helm value -> the mlflow_helm variable it is built from (templates/values.yml.j2).
_ROLE_VARIABLES = {
    ("replicaCount",): "mlflow_helm_replicas",
    ("extraArgs", "workers"): "mlflow_helm_workers",
    ("extraEnvVars", "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"): "mlflow_helm_db_pool_size",
    ("extraEnvVars", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"): "mlflow_helm_db_max_overflow",
    ("strategy",): "mlflow_helm_strategy",
}
# Helm values of the mlflow chart 1.11.5 (values.yaml) that hold a credential in clear. Helm keeps
# its values in the release record, readable by anyone who may read the release's Secrets (and
# printed by helm get values): the collection passes every credential through Secrets instead.
_DATABASE = "the database password comes from the Secret mlflow_helm_db_secret_name (written by mlflow_secrets)"
_OBJECT_STORE = (
    "object storage credentials come from the Secret mlflow_helm_artifacts_secret_name (written by mlflow_secrets)"
)
_UNUSED = "the collection does not use this part of the chart"
_CREDENTIAL_VALUES = {
    ("backendStore", "postgres", "password"): _DATABASE,
    ("backendStore", "mysql", "password"): _DATABASE,
    ("backendStore", "mssql", "password"): _DATABASE,
    ("artifactRoot", "s3", "awsAccessKeyId"): _OBJECT_STORE,
    ("artifactRoot", "s3", "awsSecretAccessKey"): _OBJECT_STORE,
    ("artifactRoot", "azureBlob", "accessKey"): _OBJECT_STORE,
    ("artifactRoot", "azureBlob", "connectionString"): _OBJECT_STORE,
    ("flaskServerSecretKey",): "the chart generates one when it is empty",
    ("postgresql", "auth", "password"): _UNUSED,
    ("mysql", "auth", "password"): _UNUSED,
    ("auth", "adminPassword"): _UNUSED,
    ("auth", "postgres", "password"): _UNUSED,
    ("oauth2Proxy", "cookieSecret"): _UNUSED,
    ("oauth2Proxy", "provider", "clientSecret"): _UNUSED,
    ("oidcAuth", "clientSecret"): _UNUSED,
    ("oidcAuth", "database", "postgres", "password"): _UNUSED,
    ("minio", "rootPassword"): _UNUSED,
}
# An environment variable whose name has one of these words (split at underscores) holds a secret,
# unless its last word says it names a file (DB_PASSWORD_FILE: a path, as is
# GOOGLE_APPLICATION_CREDENTIALS, which the role sets for GCS and whose name has none of these words).
_SECRET_NAME_WORDS = {"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "KEY", "APIKEY"}
_REFERENCE_LAST_WORDS = {"FILE", "PATH", "DIR"}
_DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _get(data, path):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _source(path, extra, extra_env):
    """The variable a value comes from: mlflow_helm_values_extra wins, then mlflow_helm_extra_env_vars."""
    if _get(extra, path) is not None:
        return "mlflow_helm_values_extra." + ".".join(path)
    if path[0] == "extraEnvVars" and _get(extra_env, path[1:]) is not None:
        return "mlflow_helm_extra_env_vars." + ".".join(path[1:])
    return _ROLE_VARIABLES.get(path) or "the Helm value " + ".".join(path)


def _credential_problems(values, extra, extra_env):
    """One message per credential found in clear in the final Helm values (its value never shown)."""
    problems = []
    for path, where in sorted(_CREDENTIAL_VALUES.items()):
        if _get(values, path) not in (None, ""):
            problems.append(
                "{0} puts a credential into the Helm values, which Helm stores in the release for anyone who "
                "can read it: {1}. Remove it.".format(_source(path, extra, extra_env), where)
            )
    env = _get(values, ("extraEnvVars",))
    for name in sorted(env) if isinstance(env, dict) else []:
        parts = str(name).upper().replace("-", "_").split("_")
        words = set(parts)
        if words & _SECRET_NAME_WORDS and parts[-1] not in _REFERENCE_LAST_WORDS and env[name] not in (None, ""):
            problems.append(
                "{0} looks like a secret (its name says {1}) and would be stored in the Helm values in clear. "
                "Put it in a Secret and name that Secret in mlflow_helm_values_extra.extraSecretNamesForEnvFrom "
                "instead.".format(
                    _source(("extraEnvVars", name), extra, extra_env), " and ".join(sorted(words & _SECRET_NAME_WORDS))
                )
            )
    return problems


def _whole(value):
    """An int from an int or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def mlflow_values_problems(
    values,
    extra=None,
    extra_env=None,
    db_max_connections=200,
    db_reserved_connections=20,
    artifacts_store="pvc",
    pvc_access_modes=("ReadWriteOnce",),
):
    """Problems of the final Helm values, one message each; empty when there are none."""
    values = values or {}
    extra = extra or {}
    extra_env = extra_env or {}
    problems = []

    def found(path, minimum):
        raw = _get(values, path)
        number = _whole(raw)
        if number is None or number < minimum:
            problems.append(
                "{0} must be a whole number of at least {1}; found {2!r}.".format(
                    _source(path, extra, extra_env), minimum, raw
                )
            )
            return None
        return number

    replicas = found(("replicaCount",), 1)
    replicas_path = ("replicaCount",)
    autoscaling = _get(values, ("autoscaling",)) or {}
    if isinstance(autoscaling, dict) and autoscaling.get("enabled") is True:
        # The HorizontalPodAutoscaler may run up to maxReplicas pods: count them all.
        most = found(("autoscaling", "maxReplicas"), 1)
        if most is not None and replicas is not None and most > replicas:
            replicas, replicas_path = most, ("autoscaling", "maxReplicas")
    workers = found(("extraArgs", "workers"), 1)
    pool = found(("extraEnvVars", "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"), 0)
    overflow = found(("extraEnvVars", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"), 0)

    if None not in (replicas, workers, pool, overflow):
        per_worker = (pool or SQLALCHEMY_POOL_SIZE) + (overflow or SQLALCHEMY_MAX_OVERFLOW)
        connections = replicas * workers * per_worker
        budget = int(db_max_connections) - int(db_reserved_connections)
        if connections > budget:
            workers_var = _source(("extraArgs", "workers"), extra, extra_env)
            replicas_var = _source(replicas_path, extra, extra_env)
            problems.append(
                "{workers_var} is {workers}: MLflow could open {connections} PostgreSQL connections "
                "({replicas} replica(s) from {replicas_var} x {workers} workers x {per_worker} per worker, "
                "pool + overflow), more than the budget of {budget} (mlflow_helm_db_max_connections {maximum} "
                "minus mlflow_helm_db_reserved_connections {reserved}). Lower {workers_var}, or raise "
                "mlflow_database_max_connections.".format(
                    workers_var=workers_var,
                    workers=workers,
                    connections=connections,
                    replicas=replicas,
                    replicas_var=replicas_var,
                    per_worker=per_worker,
                    budget=budget,
                    maximum=db_max_connections,
                    reserved=db_reserved_connections,
                )
            )

    strategy = _get(values, ("strategy",)) or {}
    strategy_var = _source(("strategy",), extra, extra_env)
    if strategy.get("type", "RollingUpdate") not in ("Recreate", "RollingUpdate"):
        problems.append(
            "{0}.type must be Recreate or RollingUpdate; found {1!r}.".format(strategy_var, strategy.get("type"))
        )

    one_pod_volume = artifacts_store == "pvc" and "ReadWriteMany" not in (pvc_access_modes or [])
    if one_pod_volume and replicas is not None and replicas > 1:
        problems.append(
            "{0} is {1}, but the artifact volume is {2} (mlflow_helm_artifacts_pvc_access_modes), which one pod "
            "at a time can mount. More than one replica needs object storage: set mlflow_helm_artifacts_store "
            "to s3, gcs or azure_blob.".format(
                _source(replicas_path, extra, extra_env), replicas, ", ".join(pvc_access_modes or [])
            )
        )
    surge = str((strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"))
    if one_pod_volume and strategy.get("type", "RollingUpdate") == "RollingUpdate" and surge not in ("0", "0%"):
        problems.append(
            "{0}.rollingUpdate.maxSurge is {1}: an update would start a second pod that cannot mount the "
            "{2} artifact volume. Use type Recreate, or RollingUpdate with maxSurge 0.".format(
                strategy_var, surge, ", ".join(pvc_access_modes or [])
            )
        )
    return problems + _credential_problems(values, extra, extra_env)


def storage_class_problem(classes, name, variable):
    """Why a PVC with storage class ``name`` (empty: the default) could not bind, or '' when it can."""
    names = [((sc or {}).get("metadata") or {}).get("name") for sc in classes or []]
    if name:
        if name in names:
            return ""
        return "{0} is '{1}', which does not exist in the cluster: create it, or name an existing class ({2}).".format(
            variable, name, ", ".join(sorted(n for n in names if n)) or "there is none"
        )
    for sc in classes or []:
        annotations = ((sc or {}).get("metadata") or {}).get("annotations") or {}
        if any(str(annotations.get(key, "")).lower() == "true" for key in _DEFAULT_CLASS_ANNOTATIONS):
            return ""
    return "{0} is empty and the cluster has no default StorageClass: set {0} to an existing class.".format(variable)


class FilterModule(object):
    def filters(self):
        return {
            "mlflow_values_problems": mlflow_values_problems,
            "storage_class_problem": storage_class_problem,
        }
