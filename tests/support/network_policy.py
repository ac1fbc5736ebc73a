"""Which pods a NetworkPolicy admits: Kubernetes' ingress rules, evaluated on labels.

The emulator stores NetworkPolicies but has no network. This answers, for a policy and a
source pod, what a CNI that enforces policies would do (the semantics of
https://kubernetes.io/docs/concepts/services-networking/network-policies/): a peer with only
podSelector means pods in the policy's namespace, only namespaceSelector means every pod of
those namespaces, both means those pods in those namespaces; a rule without `from` or `ports`
admits every source or port. ipBlock peers are refused (ValueError): whether a CNI matches pod
IPs against them varies, so they are not modelled. Namespaces carry the
`kubernetes.io/metadata.name` label, as the API server sets it on every namespace.
"""


def selects(selector, labels):
    """Whether a LabelSelector matches ``labels``; an empty selector matches everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def namespace_labels(name, labels=None):
    return {"kubernetes.io/metadata.name": name, **(labels or {})}


def _peer_matches(peer, policy_namespace, source_namespace, source_labels, ns_labels):
    if "ipBlock" in peer:
        raise ValueError(f"ipBlock peers are not modelled: {peer}")
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], ns_labels):
            return False
    elif source_namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector", {}), source_labels)


def _port_matches(rule, port, protocol):
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("port") in (None, port) and p.get("protocol", "TCP") == protocol for p in ports)


def admits(policy, *, target_labels, source_namespace, source_labels, port, protocol="TCP", source_ns_labels=None):
    """Whether ``policy`` lets a pod (``source_namespace``, ``source_labels``) reach a pod with
    ``target_labels`` in the policy's namespace on ``port``. A policy that does not select the
    target, or does not govern Ingress, says nothing: True."""
    spec, namespace = policy["spec"], policy["metadata"]["namespace"]
    if not selects(spec.get("podSelector", {}), target_labels):
        return True
    if "Ingress" not in (spec.get("policyTypes") or ["Ingress"]):
        return True
    ns_labels = source_ns_labels or namespace_labels(source_namespace)
    for rule in spec.get("ingress") or []:
        peers = rule.get("from")
        if not _port_matches(rule, port, protocol):
            continue
        if not peers or any(_peer_matches(p, namespace, source_namespace, source_labels, ns_labels) for p in peers):
            return True
    return False
