"""Preflight checks on the final Helm values and on storage classes name one variable each."""

import pytest
from ansible_collections.apocrathia.mlflow.plugins.filter.mlflow_checks import FilterModule

FILTERS = FilterModule().filters()
problems = FILTERS["mlflow_values_problems"]
storage_class_problem = FILTERS["storage_class_problem"]

# What templates/values.yml.j2 renders with the role's defaults (the parts checked here).
VALUES = {
    "replicaCount": 1,
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
    "extraArgs": {"workers": "4"},
    "extraEnvVars": {"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "5", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": "10"},
}


def merged(**changes):
    values = {k: (dict(v) if isinstance(v, dict) else v) for k, v in VALUES.items()}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key].update(value)
        else:
            values[key] = value
    return values


def test_the_defaults_pass():
    assert problems(VALUES) == []


def test_workers_from_values_extra_exceed_the_budget():
    extra = {"extraArgs": {"workers": "64"}}
    (message,) = problems(merged(**extra), extra)
    assert message.startswith("mlflow_helm_values_extra.extraArgs.workers is 64:")
    assert "960 PostgreSQL connections" in message and "budget of 180" in message


def test_workers_from_the_role_variable_are_named_as_such():
    (message,) = problems(merged(extraArgs={"workers": "13"}))
    assert message.startswith("mlflow_helm_workers is 13:") and "195 PostgreSQL connections" in message


def test_a_zero_pool_counts_as_sqlalchemy_default():
    assert problems(merged(extraEnvVars={"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "0"})) == []
    (message,) = problems(
        merged(extraArgs={"workers": "12"}, extraEnvVars={"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "0"}),
        db_max_connections=190,
    )
    assert "180 PostgreSQL connections" in message and "budget of 170" in message


def test_replicas_on_a_read_write_once_volume_need_object_storage():
    extra = {"replicaCount": 3}
    (message,) = problems(merged(**extra), extra)
    assert message.startswith("mlflow_helm_values_extra.replicaCount is 3")
    assert "object storage" in message and "mlflow_helm_artifacts_store" in message


def test_replicas_are_fine_with_object_storage_or_a_read_write_many_volume():
    assert problems(merged(replicaCount=3), artifacts_store="s3") == []
    assert problems(merged(replicaCount=3), pvc_access_modes=["ReadWriteMany"]) == []


def test_a_surging_update_on_a_read_write_once_volume_is_refused():
    extra = {"strategy": {"rollingUpdate": {"maxSurge": "25%"}}}
    values = merged(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}})
    (message,) = problems(values, extra)
    assert message.startswith("mlflow_helm_values_extra.strategy.rollingUpdate.maxSurge is 25%")
    assert problems(merged(strategy={"type": "Recreate"})) == []


@pytest.mark.parametrize(
    ("changes", "variable", "value"),
    [
        ({"extraArgs": {"workers": "many"}}, "mlflow_helm_workers", "'many'"),
        ({"replicaCount": 0}, "mlflow_helm_replicas", "0"),
        ({"extraEnvVars": {"MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": "-1"}}, "mlflow_helm_db_max_overflow", "'-1'"),
    ],
)
def test_bad_numbers_name_their_variable_only(changes, variable, value):
    (message,) = problems(merged(**changes))
    assert (
        message
        == f"{variable} must be a whole number of at least {0 if 'OVERFLOW' in str(changes) else 1}; found {value}."
    )


def test_a_pool_variable_set_through_extra_env_vars_is_named():
    env = {"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "x"}
    (message,) = problems(merged(extraEnvVars=env), extra_env=env)
    assert message.startswith("mlflow_helm_extra_env_vars.MLFLOW_SQLALCHEMYSTORE_POOL_SIZE must be")


CLASSES = [
    {"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}},
    {"metadata": {"name": "longhorn"}},
]


def test_storage_class_named_or_default():
    assert storage_class_problem(CLASSES, "longhorn", "v") == ""
    assert storage_class_problem(CLASSES, "", "v") == ""
    assert storage_class_problem(CLASSES, "fast", "cnpg_cluster_storage_class") == (
        "cnpg_cluster_storage_class is 'fast', which does not exist in the cluster: create it, "
        "or name an existing class (longhorn, standard)."
    )
    assert storage_class_problem(CLASSES[1:], "", "v") == (
        "v is empty and the cluster has no default StorageClass: set v to an existing class."
    )
