# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the mlflow_model_serving role: check the model entries, fill in their defaults."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.apocrathia.mlflow.plugins.module_utils.mlflow_registry import (
    ModelUriError,
    parse_model_uri,
)

# A Service name is an RFC 1035 label: it starts with a letter.
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
KEYS = (
    "name",
    "model_uri",
    "replicas",
    "resources",
    "image",
    "port",
    "workers",
    "timeout",
    "allow_from",
    "expose_host",
)
ALLOW_KEYS = ("namespace", "pod_labels")


def _int(value, low, high):
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high and str(number) == str(value).strip() else None


def _allow_from_problems(where, rules):
    if not isinstance(rules, list):
        return [
            "{0}.allow_from must be a list of {{namespace: ..., pod_labels: {{...}}}} (got {1!r})".format(where, rules)
        ]
    problems = []
    for j, rule in enumerate(rules):
        at = "{0}.allow_from[{1}]".format(where, j)
        if not isinstance(rule, dict) or not rule:
            problems.append("{0} must be a mapping with namespace and/or pod_labels (got {1!r})".format(at, rule))
            continue
        unknown = sorted(set(rule) - set(ALLOW_KEYS))
        if unknown:
            problems.append(
                "{0} has unknown key(s) {1}; allowed: {2}".format(at, ", ".join(unknown), ", ".join(ALLOW_KEYS))
            )
        if "namespace" in rule and not (isinstance(rule["namespace"], str) and DNS_1123_LABEL.match(rule["namespace"])):
            problems.append("{0}.namespace must be a namespace name (got {1!r})".format(at, rule["namespace"]))
        labels = rule.get("pod_labels", {})
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            problems.append("{0}.pod_labels must map label names to strings (got {1!r})".format(at, labels))
    return problems


def model_serving_problems(models, variable="mlflow_model_serving_models", reserved_names=()):
    """Messages about the entries; ``reserved_names`` are object names already taken (the tracking server's)."""
    if not isinstance(models, list):
        return ["{0} must be a list of models (got {1!r})".format(variable, models)]
    problems, seen = [], {}
    for i, entry in enumerate(models):
        where = "{0}[{1}]".format(variable, i)
        if not isinstance(entry, dict):
            problems.append("{0} must be a mapping with at least name and model_uri (got {1!r})".format(where, entry))
            continue
        name = entry.get("name")
        if isinstance(name, str) and name:
            where = "{0} ({1})".format(where, name)
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            problems.append(
                "{0} has unknown key(s) {1}; allowed: {2}".format(where, ", ".join(unknown), ", ".join(KEYS))
            )
        if not (isinstance(name, str) and DNS_1035_LABEL.match(name)):
            problems.append(
                "{0}.name must be a DNS label (lower-case letters, digits and '-', starting with a letter, "
                "at most 63 characters; got {1!r})".format(where, name)
            )
        elif name in reserved_names:
            problems.append("{0}.name '{1}' is the name of MLflow's own Service: choose another".format(where, name))
        elif name in seen:
            problems.append("{0}.name '{1}' is also the name of {2}[{3}]".format(where, name, variable, seen[name]))
        else:
            seen[name] = i
        try:
            parse_model_uri(entry.get("model_uri"))
        except ModelUriError as e:
            problems.append("{0}.model_uri: {1}".format(where, e))
        for key, low, high in (("replicas", 0, 1000), ("port", 1, 65535), ("workers", 1, 64), ("timeout", 1, 86400)):
            if key in entry and _int(entry[key], low, high) is None:
                problems.append(
                    "{0}.{1} must be a whole number from {2} to {3} (got {4!r})".format(
                        where, key, low, high, entry[key]
                    )
                )
        if "resources" in entry and not isinstance(entry["resources"], dict):
            problems.append(
                "{0}.resources must be a mapping with requests and limits (got {1!r})".format(where, entry["resources"])
            )
        if "image" in entry and not (isinstance(entry["image"], str) and entry["image"].strip()):
            problems.append("{0}.image must be an image reference (got {1!r})".format(where, entry["image"]))
        if (
            "expose_host" in entry
            and entry["expose_host"]
            and not (isinstance(entry["expose_host"], str) and HOSTNAME.match(entry["expose_host"]))
        ):
            problems.append(
                "{0}.expose_host must be a host name without scheme or path (got {1!r})".format(
                    where, entry["expose_host"]
                )
            )
        if "allow_from" in entry:
            problems.extend(_allow_from_problems(where, entry["allow_from"]))
    return problems


def model_serving_entries(models, defaults):
    """The entries with every key filled in from ``defaults`` (the role's mlflow_model_serving_* values)."""
    problems = model_serving_problems(models)
    if problems:
        raise AnsibleFilterError("; ".join(problems))
    out = []
    for entry in models:
        merged = dict(defaults)
        merged.update(entry)
        for key in ("replicas", "port", "workers", "timeout"):
            merged[key] = int(merged[key])
        merged["expose_host"] = merged.get("expose_host") or ""
        merged["registered_name"] = parse_model_uri(entry["model_uri"])["name"]
        out.append(merged)
    return out


def model_serving_peers(rules, extra_namespaces=()):
    """NetworkPolicy ``from`` peers for ``allow_from`` rules (namespace, pod labels or both), plus whole namespaces."""
    peers = []
    for rule in rules:
        peer = {}
        if rule.get("namespace"):
            peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": rule["namespace"]}}
        if rule.get("pod_labels"):
            peer["podSelector"] = {"matchLabels": dict(rule["pod_labels"])}
        peers.append(peer)
    for namespace in extra_namespaces:
        peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
        if peer not in peers:
            peers.append(peer)
    return peers


def model_serving_refs(names, namespace):
    """The Deployment, Service and NetworkPolicy of each named model server (to remove them)."""
    kinds = (("apps/v1", "Deployment"), ("v1", "Service"), ("networking.k8s.io/v1", "NetworkPolicy"))
    return [
        {"api_version": api_version, "kind": kind, "name": name, "namespace": namespace}
        for name in names
        for api_version, kind in kinds
    ]


def model_serving_authentik_providers(models, namespace, cluster_domain, default_port):
    """authentik_proxy_additional_providers entries for the models with expose_host (invalid entries are skipped:
    the role's preflight reports them)."""
    out = []
    for entry in models if isinstance(models, list) else []:
        if not isinstance(entry, dict) or not entry.get("expose_host") or not isinstance(entry.get("name"), str):
            continue
        port = entry.get("port", default_port)
        out.append(
            {
                "name": "MLflow model {0}".format(entry["name"]),
                "slug": "mlflow-model-{0}".format(entry["name"]),
                "external_host": "https://{0}".format(entry["expose_host"]),
                "internal_host": "http://{0}.{1}.svc.{2}:{3}".format(entry["name"], namespace, cluster_domain, port),
            }
        )
    return out


def model_serving_gone(deployments, listed, selector):
    """Names of the Deployments carrying every label of ``selector`` that are not ``listed``."""
    gone = []
    for deployment in deployments or []:
        meta = deployment.get("metadata") or {}
        labels = meta.get("labels") or {}
        if all(labels.get(k) == v for k, v in selector.items()) and meta.get("name") not in listed:
            gone.append(meta["name"])
    return sorted(gone)


class FilterModule(object):
    def filters(self):
        return {
            "model_serving_problems": model_serving_problems,
            "model_serving_entries": model_serving_entries,
            "model_serving_peers": model_serving_peers,
            "model_serving_refs": model_serving_refs,
            "model_serving_gone": model_serving_gone,
            "model_serving_authentik_providers": model_serving_authentik_providers,
        }
