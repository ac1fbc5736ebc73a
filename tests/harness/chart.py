"""The community-charts mlflow chart's server command, as one function.

`server_command(values)` returns the argv and environment the chart's Deployment gives the
MLflow container for these user-supplied values (chart 1.11.5, see "How the chart turns
values into the server command" in ../shared/reference-deployment.md). Everything that
starts a server "as the chart would" uses it. Check it again when the pinned chart moves;
tests/unit/test_harness_chart.py cross-checks it against `helm template` of the stand-in chart.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.paths import MLFLOW_CHART_VALUES
from tests.support.schemas import coalesce_values

CHART_NAME = "mlflow"
APP_VERSION = "3.15.1"  # appVersion of the pinned chart 1.11.5: the PyPI mlflow the harness runs


@dataclass(frozen=True)
class SecretKeyRef:
    """An env value the kubelet takes from a Secret (`valueFrom.secretKeyRef`)."""

    name: str
    key: str


def chart_defaults(path=MLFLOW_CHART_VALUES):
    return yaml.safe_load(Path(path).read_text()) or {}


def fullname(values, release):
    if values.get("fullnameOverride"):
        return values["fullnameOverride"][:63].rstrip("-")
    name = values.get("nameOverride") or CHART_NAME
    full = release if name in release else f"{release}-{name}"
    return full[:63].rstrip("-")


def kebabcase(key):
    """Sprig's kebabcase for the camelCase keys of extraArgs/extraFlags (serveArtifacts -> serve-artifacts)."""
    key = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", key)
    key = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", key)
    return key.replace("_", "-").lower()


def _gostr(value):
    """How Go templates print a scalar: true/false, numbers without quotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _allowed_hosts(values):
    hosts = values.get("serverAllowedHosts") or []
    if not hosts and values.get("ingress", {}).get("enabled"):
        hosts = [h["host"] for h in values["ingress"].get("hosts", []) if h.get("host")]
    return ",".join(hosts)


def _cors_origins(values):
    origins = values.get("corsAllowedOrigins") or []
    ingress = values.get("ingress", {})
    if not origins and ingress.get("enabled"):
        scheme = "https" if ingress.get("tls") else "http"
        origins = [f"{scheme}://{h['host']}" for h in ingress.get("hosts", []) if h.get("host")]
    return ",".join(origins)


def _artifact_arg(values):
    root = values.get("artifactRoot", {})
    prefix, location = "default-artifact-root", root.get("defaultArtifactRoot")
    if root.get("proxiedArtifactStorage"):
        prefix, location = "artifacts-destination", root.get("defaultArtifactsDestination")
    if root.get("azureBlob", {}).get("enabled"):
        az = root["azureBlob"]
        location = f"wasbs://{az['container']}@{az['storageAccount']}.blob.core.windows.net/{az.get('path', '')}"
    elif root.get("s3", {}).get("enabled"):
        location = f"s3://{root['s3']['bucket']}/{root['s3'].get('path', '')}"
    elif root.get("gcs", {}).get("enabled"):
        location = f"gs://{root['gcs']['bucket']}/{root['gcs'].get('path', '')}"
    return f"--{prefix}={location}"


def server_command(values, release="mlflow", *, defaults=None, app_version=APP_VERSION):
    """Return ``(argv, env)`` of the MLflow container for user-supplied ``values``.

    ``argv`` starts with the container's command (``mlflow``). ``env`` is what the process
    sees: the env ConfigMap, the env Secret and flask-secret Secret (envFrom), overridden by
    the container's ``env`` list (Kubernetes precedence). Values that come from a Secret are
    ``SecretKeyRef`` objects; ``resolve_env`` replaces them. Only the PostgreSQL backend is
    modelled: the roles use nothing else, and anything else raises ValueError.
    """
    v = coalesce_values(chart_defaults() if defaults is None else defaults, values)
    full = fullname(v, release)
    store = v.get("backendStore", {})
    pg = store.get("postgres", {})
    for other in ("mysql", "mssql"):
        if store.get(other, {}).get("enabled") or v.get(other, {}).get("enabled"):
            raise ValueError(f"backendStore {other} is not modelled by the harness")
    if v.get("postgresql", {}).get("enabled"):
        raise ValueError("the bundled bitnami postgresql is not modelled by the harness")
    for auth in ("auth", "ldapAuth", "oidcAuth", "oauth2Proxy"):
        if v.get(auth, {}).get("enabled"):
            raise ValueError(f"{auth} is not modelled by the harness")

    argv = ["mlflow", "server", f"--host={v.get('serverHost')}", f"--port={v['service']['containerPort']}"]
    if pg.get("enabled"):
        driver = f"+{pg['driver']}" if pg.get("driver") else ""
        argv.append(f"--backend-store-uri=postgresql{driver}://")
    else:
        argv.append(f"--backend-store-uri=sqlite:///{store.get('defaultSqlitePath')}")
    argv.append(_artifact_arg(v))
    if v.get("artifactRoot", {}).get("proxiedArtifactStorage"):
        argv.append("--serve-artifacts")
    if v.get("serviceMonitor", {}).get("enabled"):
        argv.append("--expose-prometheus=/mlflow/metrics")
    log = v.get("log", {})
    extra_args = v.get("extraArgs") or {}
    if log.get("enabled") and "gunicornOpts" not in extra_args and "uvicornOpts" not in extra_args:
        argv.append(f"--uvicorn-opts='--log-level={log.get('level')}'")
    for key in sorted(extra_args):  # Go templates range over a map in key order
        value = _gostr(extra_args[key])
        opts = {"uvicornOpts": "uvicorn-opts", "gunicornOpts": "gunicorn-opts"}
        if log.get("enabled") and key in opts:
            level = f"--log-level={log.get('level')}"
            if "--log-level" in value:
                value = re.sub(r"--log-level=\S*", level, value)
            else:
                value = f"{level} {value}"
            argv.append(f"--{opts[key]}='{value}'")
        else:
            argv.append(f"--{kebabcase(key)}={value}")
    argv.extend(f"--{kebabcase(flag)}" for flag in v.get("extraFlags") or [])

    # envFrom: <fullname>-env-configmap, <fullname>-env-secret, <fullname>-flask-server-secret-key
    env = {}
    if pg.get("enabled"):
        env.update(PGHOST=_gostr(pg["host"]), PGPORT=_gostr(pg["port"]), PGDATABASE=_gostr(pg["database"]))
    env["MLFLOW_CONFIGURE_LOGGING"] = _gostr(bool(log.get("enabled")))
    if log.get("enabled"):
        env["MLFLOW_LOGGING_LEVEL"] = str(log.get("level")).upper()
    if not v.get("telemetry", {}).get("enabled"):
        env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    if hosts := _allowed_hosts(v):
        env["MLFLOW_SERVER_ALLOWED_HOSTS"] = hosts
    if origins := _cors_origins(v):
        env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] = origins
    secret = store.get("existingDatabaseSecret", {})
    if pg.get("enabled") and not secret.get("name"):
        env.update(
            PGUSER=SecretKeyRef(f"{full}-env-secret", "PGUSER"),
            PGPASSWORD=SecretKeyRef(f"{full}-env-secret", "PGPASSWORD"),
        )
    flask = SecretKeyRef(f"{full}-flask-server-secret-key", "MLFLOW_FLASK_SERVER_SECRET_KEY")
    env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = flask

    # The container's env list, which wins over envFrom.
    env["MLFLOW_VERSION"] = _gostr(v.get("image", {}).get("tag") or app_version)
    if pg.get("enabled") and secret.get("name"):
        env["PGPASSWORD"] = SecretKeyRef(secret["name"], secret.get("passwordKey") or "password")
        env["PGUSER"] = SecretKeyRef(secret["name"], secret.get("usernameKey") or "username")
    for key, value in sorted((v.get("extraEnvVars") or {}).items()):
        env[key] = _gostr(value)
    return argv, env


@dataclass(frozen=True)
class ConfigMapMount:
    """A configMap volume of ``extraVolumes`` mounted in the MLflow container (``extraVolumeMounts``)."""

    mount_path: str
    configmap: str
    items: tuple  # ((key, path), ...); empty: every key as a file of its name


def config_map_mounts(values):
    """The configMap volumes the chart mounts into the MLflow container, in mount order."""
    volumes = {v.get("name"): v for v in values.get("extraVolumes") or []}
    mounts = []
    for mount in values.get("extraVolumeMounts") or []:
        volume = volumes.get(mount.get("name")) or {}
        if "configMap" in volume:
            items = tuple((i["key"], i["path"]) for i in volume["configMap"].get("items") or [])
            mounts.append(ConfigMapMount(mount["mountPath"], volume["configMap"]["name"], items))
    return mounts


def env_secret_data(values, release="mlflow"):
    """Data of the chart's `<fullname>-env-secret` (PG credentials when no existing secret is used)."""
    v = coalesce_values(chart_defaults(), values)
    pg = v.get("backendStore", {}).get("postgres", {})
    if pg.get("enabled") and not v["backendStore"].get("existingDatabaseSecret", {}).get("name"):
        return {"PGUSER": str(pg.get("user", "")), "PGPASSWORD": str(pg.get("password", ""))}
    return {}


def resolve_env(env, secrets):
    """Replace every SecretKeyRef with its value from ``secrets`` ({name: {key: value}})."""
    resolved = {}
    for name, value in env.items():
        if isinstance(value, SecretKeyRef):
            try:
                value = secrets[value.name][value.key]
            except KeyError:
                raise KeyError(
                    f"env {name} refers to Secret {value.name!r} key {value.key!r}, which is missing; "
                    "the pod would not start (CreateContainerConfigError)"
                ) from None
        resolved[name] = str(value)
    return resolved


def memory_limit_bytes(values):
    """``resources.limits.memory`` of the values as bytes (Kubernetes quantity), or None."""
    quantity = ((values.get("resources") or {}).get("limits") or {}).get("memory")
    return parse_quantity(quantity) if quantity is not None else None


_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "": 1,
}  # fmt: skip


def parse_quantity(quantity):
    match = re.fullmatch(r"\s*([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*([KMGTPE]i?|k)?\s*", str(quantity))
    if not match:
        raise ValueError(f"not a Kubernetes memory quantity: {quantity!r}")
    return int(float(match.group(1)) * _SUFFIXES[match.group(2) or ""])
