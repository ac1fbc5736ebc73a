"""Validate what a converge of apocrathia.mlflow.site left in a cluster against the real schemas.

`python -m tests.support.deployed_objects [--namespace mlflow]` reads the objects with the
kubeconfig in K8S_AUTH_KUBECONFIG (or KUBECONFIG) and checks each one: Kubernetes objects
against kubernetes-validate and the CRDs in ../shared/schemas, the Helm release's values against
the chart's values.schema.json, the authentik blueprint against authentik's blueprint schema.
Molecule's verify step (molecule/emulated/verify.yml, shared with the kind scenario) runs it.
Prints one line per object, never a Secret's values; exits 1 on any problem.
"""

import argparse
import base64
import gzip
import json
import os
import sys

from kubernetes import config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from tests.support import paths
from tests.support.schemas import (
    SchemaValidationError,
    load_blueprint,
    validate_blueprint,
    validate_chart_values,
    validate_k8s_object,
)

CRD_FILES = [
    paths.CNPG_CRDS / "postgresql.cnpg.io_clusters.yaml",
    paths.PROMETHEUS_CRDS / "monitoring.coreos.com_podmonitors.yaml",
    paths.PROMETHEUS_CRDS / "monitoring.coreos.com_servicemonitors.yaml",
]
# (api_version, kind, where): what the collection creates, directly or through Helm.
KINDS = [
    ("v1", "Namespace", "cluster"),
    ("v1", "Secret", "namespace"),
    ("postgresql.cnpg.io/v1", "Cluster", "namespace"),
    ("monitoring.coreos.com/v1", "PodMonitor", "namespace"),
    ("v1", "PersistentVolumeClaim", "namespace"),
    ("apps/v1", "Deployment", "namespace"),
    ("v1", "Service", "namespace"),
    ("v1", "ConfigMap", "namespace"),
    ("v1", "ServiceAccount", "namespace"),
    ("monitoring.coreos.com/v1", "ServiceMonitor", "all"),
]
# Objects the cluster itself adds to every namespace.
SKIP = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def _api():
    kubeconfig = os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG")
    return DynamicClient(config.new_client_from_config(config_file=kubeconfig))


def _list(api, api_version, kind, namespace):
    try:
        resource = api.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        return []
    return resource.get(namespace=namespace).to_dict().get("items", [])


def deployed_objects(api, namespace):
    for api_version, kind, where in KINDS:
        if where == "cluster":
            items = [o for o in _list(api, api_version, kind, None) if o["metadata"]["name"] == namespace]
        else:
            items = _list(api, api_version, kind, None if where == "all" else namespace)
            if where == "all":
                items = [
                    o
                    for o in items
                    if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/instance") in (None, "mlflow")
                ]
        for obj in items:
            if (kind, obj["metadata"]["name"]) in SKIP:
                continue
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            yield obj


def helm_values(secret):
    raw = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    release = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return release.get("config") or {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="mlflow")
    args = parser.parse_args(argv)
    api = _api()
    problems, checked = [], 0
    for obj in deployed_objects(api, args.namespace):
        meta = obj["metadata"]
        label = f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}"
        try:
            validate_k8s_object(obj, CRD_FILES)
            if obj["kind"] == "Secret" and (meta.get("labels") or {}).get("owner") == "helm":
                validate_chart_values(helm_values(obj))
                label += " (Helm release: values valid for the chart)"
            if obj["kind"] == "ConfigMap" and (meta.get("labels") or {}).get("authentik_blueprint") == "true":
                for text in (obj.get("data") or {}).values():
                    validate_blueprint(load_blueprint(text))
                label += " (authentik blueprint valid)"
        except SchemaValidationError as error:
            problems.append(str(error))
            print(f"INVALID {label}")
            continue
        checked += 1
        print(f"valid   {label}")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{checked} object(s) valid, {len(problems)} invalid")
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
