"""A Deployment's containers as the kubelet would start them: command, args, environment, mounts.

The harness knows nothing about the chart. What a process runs is what the cluster holds (or,
for a changed set of values, what `helm template` of the real chart renders):

- `from_cluster(kubeconfig, namespace, name)`: the Deployment and the ConfigMaps and Secrets of
  its namespace, read through the API (emulated or real);
- `render(values, ...)`: `helm template` of the community-charts chart as installed offline
  (scripts/mlflow_chart.py), with the Secrets the values refer to from elsewhere;
- `container(workload, name)`: the container's argv and environment resolved as the kubelet
  does (pkg/kubelet/kubelet_pods.go `makeEnvironmentVariables`, kubernetes v1.32): `envFrom`
  sources in order (keys with the source's prefix; keys that are not valid variable names are
  skipped), then `env` in order (`value` with `$(VAR)` expansion over what is defined so far,
  `valueFrom` configMapKeyRef/secretKeyRef/fieldRef/resourceFieldRef); a missing ConfigMap,
  Secret or key that is not `optional` is the pod's CreateContainerConfigError. `command` and
  `args` get `$(VAR)` expansion (`$$` escapes). The volume mounts come with their volumes, and
  `volume_files` gives the files of a configMap or secret volume.

Not done: the service links the kubelet also injects (`<SERVICE>_SERVICE_HOST`, ...,
`enableServiceLinks`), image ENTRYPOINT/CMD (a container without `command` is refused here),
the downward API beyond the fields below, projected volumes, subPath.
"""

import base64
import re
import subprocess
from dataclasses import dataclass, field

import yaml

from tests.support import paths

ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # validation.IsEnvVarName
EXPANSION = re.compile(r"\$\$|\$\(([^)]*)\)")


class ContainerConfigError(RuntimeError):
    """What the kubelet reports as CreateContainerConfigError: the pod would not start."""


@dataclass
class Workload:
    deployment: dict
    configmaps: dict = field(default_factory=dict)  # {name: {key: value}}
    secrets: dict = field(default_factory=dict, repr=False)  # {name: {key: decoded value}}
    source: str = ""

    @property
    def namespace(self):
        return self.deployment["metadata"].get("namespace") or "default"

    @property
    def pod_spec(self):
        return self.deployment["spec"]["template"]["spec"]


@dataclass
class Container:
    name: str
    image: str
    argv: list
    env: dict = field(repr=False)
    mounts: list  # [(mountPath, volume dict, readOnly)]
    ports: dict  # {port name or str(number): containerPort}
    resources: dict


def _decode(secret):
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return data


def from_objects(objects, name, source=""):
    """A Workload from a list of manifests (the Deployment `name`, every ConfigMap and Secret)."""
    objects = [o for o in objects if o]
    deployments = [o for o in objects if o.get("kind") == "Deployment" and o["metadata"]["name"] == name]
    if not deployments:
        raise LookupError(f"no Deployment {name!r} among {sorted({o.get('kind', '?') for o in objects})}")
    return Workload(
        deployment=deployments[0],
        configmaps={o["metadata"]["name"]: dict(o.get("data") or {}) for o in objects if o.get("kind") == "ConfigMap"},
        secrets={o["metadata"]["name"]: _decode(o) for o in objects if o.get("kind") == "Secret"},
        source=source,
    )


def from_cluster(kubeconfig, namespace="mlflow", name="mlflow"):
    """The Deployment and the ConfigMaps and Secrets of its namespace, as the cluster holds them now."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        objects = [api.sanitize_for_serialization(apps.read_namespaced_deployment(name, namespace))]
        objects[0].update(kind="Deployment", apiVersion="apps/v1")
        for item in core.list_namespaced_config_map(namespace).items:
            objects.append(dict(api.sanitize_for_serialization(item), kind="ConfigMap"))
        for item in core.list_namespaced_secret(namespace).items:
            objects.append(dict(api.sanitize_for_serialization(item), kind="Secret"))
    finally:
        api.close()
    return from_objects(objects, name, source=f"Deployment {namespace}/{name} in the cluster ({kubeconfig})")


def render(
    values, *, release="mlflow", namespace="mlflow", secrets=None, configmaps=None, chart=None, helm=None, name=None
):
    """`helm template` of the real chart with `values`; Secrets and ConfigMaps it does not render come
    from `secrets` and `configmaps` ({name: {key: value}}, e.g. the database Secret the values name,
    or a ConfigMap the values mount)."""
    chart = chart or paths.mlflow_chart()
    cmd = [str(helm or paths.HELM), "template", release, str(chart), "--namespace", namespace, "--values", "-"]
    proc = subprocess.run(
        cmd, input=yaml.safe_dump(values), capture_output=True, text=True, env=paths.tool_env(), timeout=120,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"helm template failed: {proc.stderr.strip()}")
    objects = list(yaml.safe_load_all(proc.stdout))
    workload = from_objects(objects, name or _fullname(objects), source="helm template of the chart")
    for secret_name, data in (secrets or {}).items():
        workload.secrets.setdefault(secret_name, dict(data))
    for configmap_name, data in (configmaps or {}).items():
        workload.configmaps.setdefault(configmap_name, dict(data))
    return workload


def _fullname(objects):
    deployments = [o for o in objects if o and o.get("kind") == "Deployment"]
    if len(deployments) != 1:
        raise LookupError(f"expected one Deployment in the rendered chart, found {len(deployments)}")
    return deployments[0]["metadata"]["name"]


def expand(text, env):
    """Kubernetes `$(VAR)` expansion (third_party/forked/golang/expansion): unknown references stay."""

    def one(match):
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return EXPANSION.sub(one, str(text))


def _lookup(kind, sources, ref, what):
    data = sources.get(ref.get("name"))
    if data is None:
        if ref.get("optional"):
            return None
        raise ContainerConfigError(f'{kind} "{ref.get("name")}" not found ({what})')
    if "key" in ref:
        if ref["key"] not in data:
            if ref.get("optional"):
                return None
            raise ContainerConfigError(f"couldn't find key {ref['key']} in {kind} {ref.get('name')} ({what})")
        return data[ref["key"]]
    return data


def _field(workload, path):
    meta = workload.deployment["spec"]["template"].get("metadata") or {}
    values = {
        "metadata.name": f"{workload.deployment['metadata']['name']}-0",
        "metadata.namespace": workload.namespace,
        "spec.serviceAccountName": workload.pod_spec.get("serviceAccountName", "default"),
        "spec.nodeName": "localhost",
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path not in values:
        raise ContainerConfigError(f"fieldRef {path} is not emulated by the harness")
    return values[path]


def _resource_field(container, ref):
    resource = ref["resource"]
    kind, _, name = resource.partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if value is None:
        raise ContainerConfigError(f"resourceFieldRef {resource} has no value (node allocatable is not emulated)")
    divisor = parse_quantity(ref.get("divisor") or "1")
    return str(max(1, -(-parse_quantity(value) // divisor)))  # the kubelet rounds up


def resolve_env(workload, container):
    env = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = _lookup("configmap", workload.configmaps, source["configMapRef"], "envFrom")
        else:
            data = _lookup("secret", workload.secrets, source["secretRef"], "envFrom")
        for key, value in (data or {}).items():
            if ENV_NAME.match(prefix + key):
                env[prefix + key] = str(value)
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(item.get("value", ""), env)
            continue
        ref = item["valueFrom"]
        what = f"env {name}"
        if "configMapKeyRef" in ref:
            value = _lookup("configmap", workload.configmaps, ref["configMapKeyRef"], what)
        elif "secretKeyRef" in ref:
            value = _lookup("secret", workload.secrets, ref["secretKeyRef"], what)
        elif "fieldRef" in ref:
            value = _field(workload, ref["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in ref:
            value = _resource_field(container, ref["resourceFieldRef"])
        else:
            raise ContainerConfigError(f"{what}: unsupported valueFrom {sorted(ref)}")
        if value is not None:
            env[name] = str(value)
    return env


def container(workload, name):
    """The container `name` of the workload's pod template, resolved as the kubelet starts it."""
    spec = workload.pod_spec
    found = [c for c in spec.get("containers") or [] if c["name"] == name]
    if not found:
        raise LookupError(f"no container {name!r} in Deployment {workload.deployment['metadata']['name']}")
    c = found[0]
    if not c.get("command"):
        raise ContainerConfigError(f"container {name} has no command: the image's ENTRYPOINT is not known here")
    env = resolve_env(workload, c)
    argv = [expand(a, env) for a in [*c["command"], *(c.get("args") or [])]]
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    mounts = []
    for mount in c.get("volumeMounts") or []:
        if mount["name"] not in volumes:
            raise ContainerConfigError(f"volumeMount {mount['mountPath']} names the unknown volume {mount['name']}")
        if mount.get("subPath") or mount.get("subPathExpr"):
            raise ContainerConfigError(f"volumeMount {mount['mountPath']}: subPath is not emulated by the harness")
        mounts.append((mount["mountPath"], volumes[mount["name"]], bool(mount.get("readOnly"))))
    ports = {}
    for port in c.get("ports") or []:
        ports[str(port["containerPort"])] = port["containerPort"]
        if port.get("name"):
            ports[port["name"]] = port["containerPort"]
    return Container(name, c.get("image", ""), argv, env, mounts, ports, c.get("resources") or {})


def volume_files(workload, volume):
    """The files the kubelet writes into a configMap or secret volume, {relative path: text}; {}
    for other kinds. With `items`, only those keys at their paths; else every key as a file of its
    name. A missing object or key stops the pod unless the volume is `optional`."""
    for kind, sources, ref in (("configMap", workload.configmaps, "name"), ("secret", workload.secrets, "secretName")):
        if kind not in volume:
            continue
        source = volume[kind] or {}
        optional = bool(source.get("optional"))
        if source.get(ref) not in sources:
            if optional:
                return {}
            raise ContainerConfigError(f"volume {volume['name']}: {kind} {source.get(ref)!r} not found")
        data = sources[source[ref]]
        if not source.get("items"):
            return dict(data)
        files = {}
        for item in source["items"]:
            if item["key"] not in data:
                if optional:
                    continue
                raise ContainerConfigError(
                    f"volume {volume['name']}: {kind} {source[ref]!r} has no key {item['key']!r}"
                )
            files[item["path"]] = data[item["key"]]
        return files
    return {}


_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "m": 1e-3, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "": 1,
}  # fmt: skip


def parse_quantity(quantity):
    """A Kubernetes quantity as a number (bytes for memory, cores for cpu; `500m` is 0.5)."""
    match = re.fullmatch(r"\s*([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*([KMGTPE]i?|k|m)?\s*", str(quantity))
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    value = float(match.group(1)) * _SUFFIXES[match.group(2) or ""]
    return int(value) if value == int(value) else value


def memory_limit_bytes(container):
    """`resources.limits.memory` of a Container as bytes, or None."""
    quantity = (container.resources.get("limits") or {}).get("memory")
    return int(parse_quantity(quantity)) if quantity is not None else None
