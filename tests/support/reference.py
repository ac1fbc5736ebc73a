"""The reference deployment (../shared/reference-deployment.md and the seed), with its defects
fixed, as data: the one place the tests take expected values from."""

NAMESPACE = "mlflow"
SECRET_NAME = "mlflow-secrets"
CLUSTER_NAME = "mlflow-postgres"
DB_HOST = f"{CLUSTER_NAME}-rw.{NAMESPACE}.svc.cluster.local"
# "the latest stable version" of the reference deployment: PostgreSQL 18, pinned (roles/cnpg_cluster/defaults).
POSTGRES_IMAGE = (
    "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-system-trixie"
    "@sha256:14cfefd0db8bbc617a4882c74a2811af361fc8d0fc1733062c982c6e746a3875"
)

POSTGRES_PARAMETERS = {
    "max_connections": "200",
    "track_io_timing": "on",
    "track_functions": "all",
    "log_statement": "ddl",
    "log_min_duration_statement": "1000ms",
    "log_min_messages": "INFO",
    "effective_cache_size": "512MB",
    "maintenance_work_mem": "64MB",
}
POSTGRES_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}

# MLflow Helm values. Fixed: credentials through the Secret, artifacts served by the server.
BACKEND_STORE = {
    "databaseMigration": False,
    "postgres": {"enabled": True, "host": DB_HOST, "port": 5432, "database": "mlflow", "driver": "psycopg2"},
    "existingDatabaseSecret": {"name": SECRET_NAME, "usernameKey": "username", "passwordKey": "password"},
}
ARTIFACT_ROOT = {
    "proxiedArtifactStorage": True,
    "defaultArtifactRoot": "/mlflow/artifacts",
    "defaultArtifactsDestination": "/mlflow/artifacts",
}
MLFLOW_RESOURCES = {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 1001,
    "runAsGroup": 1001,
    "privileged": False,
    "readOnlyRootFilesystem": False,
}
POD_SECURITY_CONTEXT = {"fsGroup": 1001, "fsGroupChangePolicy": "OnRootMismatch"}
SERVICE_MONITOR = {"enabled": True, "namespace": "prometheus-system", "labels": {"release": "kube-prometheus-stack"}}


# The parts playbooks/status.yml reports for the reference deployment, in its order.
STATUS_PARTS = [
    "Secret mlflow/mlflow-secrets",
    "CNPG Cluster mlflow/mlflow-postgres",
    "PostgreSQL pods",
    "PostgreSQL volumes",
    "PVC mlflow/mlflow-artifacts-pvc",
    "Helm release mlflow/mlflow",
    "MLflow pods",
    "MLflow /health via Service",
    "Blueprint mlflow/authentik-blueprint-mlflow",
    "authentik outpost pods",
    "HTTPRoute authentik/ak-outpost-mlflow-outpost",
]
