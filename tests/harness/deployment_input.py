"""What the harness needs from a converge, in one object.

`converge_input.read_converge()` fills it from the emulated cluster (the real input).
`intended_input()` builds the same shape by hand, following the roles' intent in issue 5,
for the unit tests and for `python -m tests.harness up` without a kubeconfig; the
integration tests never use it.
"""

import copy
import secrets as token
from dataclasses import dataclass, field

from tests.support import reference

EXTERNAL_HOST = "mlflow.gateway.services.apocrathia.com"
# CloudNativePG 1.30's logging defaults (CnpgConfigurationSettings in pkg/postgres/configuration.go).
POD_LOGGING_PARAMETERS = frozenset(
    (
        "logging_collector",
        "log_destination",
        "log_directory",
        "log_filename",
        "log_rotation_age",
        "log_rotation_size",
        "log_truncate_on_rotation",
    )
)
NAMESPACE = "mlflow"


@dataclass
class DeploymentInput:
    values: dict  # the Helm release's user-supplied values
    secrets: dict = field(repr=False)  # {Secret name: {key: value}} in the release namespace
    cluster_spec: dict  # the CNPG Cluster's spec
    provider: dict  # the blueprint's proxy provider attrs: internal_host, external_host, intercept_header_auth
    namespace: str = NAMESPACE
    release: str = "mlflow"
    source: str = "intended"
    extra: dict = field(default_factory=dict, repr=False)
    # The Deployment and its ConfigMaps/Secrets as the cluster holds them (pod.from_cluster);
    # None when the values were changed here or never converged: then `helm template` renders it.
    workload: object = field(default=None, repr=False)
    # The namespace's ConfigMaps the chart does not render (e.g. the audit middleware the role
    # applies), for a rendered workload's configMap volumes: {name: {key: value}}.
    configmaps: dict = field(default_factory=dict, repr=False)

    @property
    def pg_parameters(self):
        """The Cluster's parameters for the local server, less the pod's own logging set-up.

        CloudNativePG's defaulting webhook adds its logging defaults to every Cluster (logging
        collector on, csvlog into /controller/log: tests/kube_emulator/cnpg_webhook.py); in the pod
        the instance manager reads that pipe and writes the lines to the container's stdout
        (pkg/management/postgres/logpipe/logpipe.go at v1.30.0). The local server has no
        /controller and logs to its own file instead, so those settings are left out.
        """
        parameters = dict((self.cluster_spec.get("postgresql") or {}).get("parameters") or {})
        return {name: value for name, value in parameters.items() if name not in POD_LOGGING_PARAMETERS}

    @property
    def initdb(self):
        return dict((self.cluster_spec.get("bootstrap") or {}).get("initdb") or {})

    def db_credentials(self):
        """(owner, password, database) as CNPG's initdb bootstrap takes them from its secret."""
        initdb = self.initdb
        secret_name = (initdb.get("secret") or {}).get("name")
        if not secret_name or secret_name not in self.secrets:
            raise KeyError(
                f"bootstrap.initdb.secret {secret_name!r} not found among the Secrets {sorted(self.secrets)}"
            )
        data = self.secrets[secret_name]
        owner = initdb.get("owner") or data["username"]
        if data.get("username") != owner:
            raise ValueError(
                f"Secret {secret_name} username {data.get('username')!r} differs from initdb owner {owner!r}"
            )
        return owner, data["password"], initdb.get("database") or "app"

    def pg_service_host(self):
        return self.values["backendStore"]["postgres"]["host"]

    def with_values(self, **changes):
        """A copy whose Helm values have top-level keys replaced or deep-merged (dict values merge).

        Its workload is what the real chart renders for the new values (`helm template`)."""
        from tests.support.schemas import coalesce_values

        new = copy.deepcopy(self)
        new.values = coalesce_values(new.values, changes)
        new.workload = None
        return new

    def pod_workload(self):
        """The Deployment the MLflow process starts from: the cluster's, else the chart's rendering."""
        from tests.harness import pod

        if self.workload is None:
            self.workload = pod.render(
                self.values, release=self.release, namespace=self.namespace, secrets=self.secrets,
                configmaps=self.configmaps,
            )  # fmt: skip
        return self.workload


def in_cluster_hosts(service="mlflow", namespace=NAMESPACE, port=80):
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    return [h for name in names for h in (name, f"{name}:{port}")]


def intended_input(password=None):
    """The roles' intent (issue 5) as a converge would produce it. Development baseline only."""
    password = password or token.token_urlsafe(24)
    values = {
        "image": {"repository": "burakince/mlflow", "pullPolicy": "IfNotPresent"},
        "replicaCount": 1,
        "resources": reference.MLFLOW_RESOURCES,
        "service": {"type": "ClusterIP", "port": 80, "containerPort": 5000, "containerPortName": "mlflow"},
        "backendStore": reference.BACKEND_STORE,
        "artifactRoot": reference.ARTIFACT_ROOT,
        "serverAllowedHosts": [EXTERNAL_HOST, *in_cluster_hosts()],
        "corsAllowedOrigins": [f"https://{EXTERNAL_HOST}"],
        "extraArgs": {"workers": "2"},
        "extraEnvVars": {
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "5",
            "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": "10",
        },
        "log": {"enabled": True, "level": "info"},
        "telemetry": {"enabled": False},
        "serviceMonitor": reference.SERVICE_MONITOR,
    }
    cluster_spec = {
        "instances": 1,
        "imageName": reference.POSTGRES_IMAGE,
        "postgresql": {"parameters": dict(reference.POSTGRES_PARAMETERS)},
        "bootstrap": {"initdb": {"database": "mlflow", "owner": "mlflow", "secret": {"name": "mlflow-secrets"}}},
    }
    provider = {
        "internal_host": f"http://mlflow.{NAMESPACE}.svc.cluster.local:80",
        "external_host": f"https://{EXTERNAL_HOST}",
        "intercept_header_auth": True,
    }
    secrets = {"mlflow-secrets": {"username": "mlflow", "password": password}}
    # Deep copies: callers change these, and the reference constants must stay as they are.
    return DeploymentInput(copy.deepcopy(values), secrets, copy.deepcopy(cluster_spec), provider)
