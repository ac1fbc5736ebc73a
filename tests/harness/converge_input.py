"""Read what the roles produced in a converge, from the cluster (emulated or real), via its kubeconfig.

- the Secret `mlflow-secrets` (username, password);
- the Helm release's user-supplied values, from helm's own storage: the newest deployed
  release Secret `sh.helm.release.v1.<release>.v<N>` holds base64(gzip(JSON)) with `config`
  (the values) and `manifest` (what helm rendered);
- the CNPG Cluster `mlflow-postgres` (spec.postgresql.parameters, spec.bootstrap.initdb);
- the authentik blueprint ConfigMap's proxy provider (internal_host, external_host,
  intercept_header_auth), which the outpost stand-in follows;
- the MLflow Deployment with the ConfigMaps and Secrets of its namespace (pod.from_cluster):
  what the MLflow process is started from.
Nothing here is a hand-written copy of those values.
"""

import base64
import gzip
import json

import yaml
from kubernetes import client, config

from tests.harness import pod
from tests.harness.deployment_input import DeploymentInput

CNPG = {"group": "postgresql.cnpg.io", "version": "v1", "plural": "clusters"}


class _AnyTagLoader(yaml.SafeLoader):
    """Blueprints carry authentik's custom tags (!Find, !KeyOf, ...): keep them as placeholders."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix}")


def _api(kubeconfig):
    return config.new_client_from_config(config_file=str(kubeconfig))


def decode_secret(secret):
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def decode_helm_release(encoded):
    """A helm v3 storage blob (the Secret's `release` value after the API's base64) -> release dict."""
    raw = base64.b64decode(encoded)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def helm_release(core, namespace, release):
    """The newest deployed release of ``release`` as helm stores it (driver: secret)."""
    secrets = core.list_namespaced_secret(namespace, label_selector=f"owner=helm,name={release}").items
    deployed = [s for s in secrets if (s.metadata.labels or {}).get("status") == "deployed"]
    if not deployed:
        found = sorted(s.metadata.name for s in secrets)
        raise LookupError(f"no deployed helm release {release!r} in namespace {namespace!r} (release secrets: {found})")
    newest = max(deployed, key=lambda s: int((s.metadata.labels or {}).get("version", "0")))
    return decode_helm_release(base64.b64decode(newest.data["release"]))


def blueprint_provider(configmap):
    """attrs of the proxy provider entry in the blueprint ConfigMap."""
    for key, text in (configmap.data or {}).items():
        document = yaml.load(text, Loader=_AnyTagLoader)  # noqa: S506 - a SafeLoader subclass
        for entry in (document or {}).get("entries") or []:
            if entry.get("model") == "authentik_providers_proxy.proxyprovider":
                return dict(entry.get("attrs") or {}, _configmap_key=key)
    raise LookupError(f"ConfigMap {configmap.metadata.name} has no authentik_providers_proxy.proxyprovider entry")


def read_converge(
    kubeconfig,
    *,
    namespace="mlflow",
    release="mlflow",
    secret="mlflow-secrets",  # noqa: S107 - the Secret's name
    cluster="mlflow-postgres",
    blueprint_configmap="authentik-blueprint-mlflow",
):
    api = _api(kubeconfig)
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    secrets = {secret: decode_secret(core.read_namespaced_secret(secret, namespace))}
    stored = helm_release(core, namespace, release)
    values = stored.get("config") or {}
    # Any other Secret the values refer to (existingDatabaseSecret may name another one).
    other = ((values.get("backendStore") or {}).get("existingDatabaseSecret") or {}).get("name")
    if other and other not in secrets:
        secrets[other] = decode_secret(core.read_namespaced_secret(other, namespace))
    cnpg = custom.get_namespaced_custom_object(namespace=namespace, name=cluster, **CNPG)
    initdb_secret = (
        (((cnpg.get("spec") or {}).get("bootstrap") or {}).get("initdb") or {}).get("secret", {}).get("name")
    )
    if initdb_secret and initdb_secret not in secrets:
        secrets[initdb_secret] = decode_secret(core.read_namespaced_secret(initdb_secret, namespace))
    provider = blueprint_provider(core.read_namespaced_config_map(blueprint_configmap, namespace))
    workload = pod.from_cluster(kubeconfig, namespace, release_deployment_name(stored))
    return DeploymentInput(
        values=values,
        secrets=secrets,
        cluster_spec=cnpg.get("spec") or {},
        provider=provider,
        namespace=namespace,
        release=release,
        source=f"converge ({kubeconfig})",
        workload=workload,
        configmaps=workload.configmaps,
        extra={
            # hooks (the flask secret) are stored apart from the manifest
            "helm_manifest": "\n---\n".join(
                [stored.get("manifest", "")] + [h.get("manifest", "") for h in stored.get("hooks") or []]
            ),
            "helm_version": stored.get("version"),
            "chart": ((stored.get("chart") or {}).get("metadata") or {}),
        },
    )


def release_deployment_name(stored):
    """The name of the Deployment helm rendered in the release (the chart's fullname)."""
    for doc in yaml.safe_load_all(stored.get("manifest") or ""):
        if doc and doc.get("kind") == "Deployment":
            return doc["metadata"]["name"]
    raise LookupError("the helm release renders no Deployment")
