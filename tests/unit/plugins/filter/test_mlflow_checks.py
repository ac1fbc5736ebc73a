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


def test_autoscaling_counts_at_its_maximum_in_the_budget_and_on_the_volume():
    """10 pods on a ReadWriteOnce volume, and 10 x 4 x 15 = 600 connections against 180: both refused."""
    extra = {"autoscaling": {"enabled": True, "maxReplicas": 10}}
    budget, volume = problems(merged(**extra), extra)
    assert budget.startswith("mlflow_helm_workers is 4: MLflow could open 600 PostgreSQL connections")
    assert "600 PostgreSQL connections (10 replica(s) from mlflow_helm_values_extra.autoscaling.maxReplicas" in budget
    assert volume.startswith(
        "mlflow_helm_values_extra.autoscaling.maxReplicas is 10, but the artifact volume is ReadWriteOnce"
    )
    # On object storage with a small enough maximum, autoscaling is fine.
    small = {"autoscaling": {"enabled": True, "maxReplicas": 3}}
    assert problems(merged(**small), small, artifacts_store="s3") == []
    # Switched off, its maximum does not count.
    off = {"autoscaling": {"enabled": False, "maxReplicas": 10}}
    assert problems(merged(**off), off) == []


def test_a_credential_in_the_helm_values_is_refused_without_showing_it():
    extra = {"backendStore": {"postgres": {"password": "hunter2-in-clear"}}}
    (message,) = problems(merged(**extra), extra)
    assert message == (
        "mlflow_helm_values_extra.backendStore.postgres.password puts a credential into the Helm values, which "
        "Helm stores in the release for anyone who can read it: the database password comes from the Secret "
        "mlflow_helm_db_secret_name (written by mlflow_secrets). Remove it."
    )
    s3 = {"artifactRoot": {"s3": {"awsAccessKeyId": "AKIA", "awsSecretAccessKey": "x"}}}
    assert len(problems(merged(**s3), s3, artifacts_store="s3")) == 2
    # The empty strings the role's own templates set are no credential.
    empty = {"artifactRoot": {"s3": {"awsAccessKeyId": "", "awsSecretAccessKey": ""}}}
    assert problems(merged(**empty), empty, artifacts_store="s3") == []


@pytest.mark.parametrize(
    "name",
    ["OPENAI_API_KEY", "MLFLOW_TRACKING_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "MLFLOW_CRYPTO_KEK_PASSPHRASE"],
)
def test_an_environment_variable_named_as_a_secret_is_refused(name):
    extra_env = {name: "value-in-clear"}
    values = merged(extraEnvVars=dict(VALUES["extraEnvVars"], **extra_env))
    (message,) = problems(values, {}, extra_env)
    assert message.startswith("mlflow_helm_extra_env_vars." + name + " looks like a secret")
    assert "value-in-clear" not in message


@pytest.mark.parametrize(
    "name",
    [
        "KEYCLOAK_URL",
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
        "AWS_CA_BUNDLE",
        "MONKEY_PATCH",
        # Paths to a mounted Secret, not secrets: the role sets the first for GCS.
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AWS_SHARED_CREDENTIALS_FILE",
        "DB_PASSWORD_FILE",
    ],
)
def test_ordinary_environment_variables_pass(name):
    extra_env = {name: "x"}
    assert problems(merged(extraEnvVars=dict(VALUES["extraEnvVars"], **extra_env)), {}, extra_env) == []
