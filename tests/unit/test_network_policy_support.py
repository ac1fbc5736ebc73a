"""tests/support/network_policy.py follows Kubernetes' NetworkPolicy ingress semantics."""

import pytest

from tests.support.network_policy import admits, selects

TARGET = {"app": "mlflow"}


def policy(*peers, ports=None, namespace="mlflow"):
    rule = {"from": list(peers)} if peers else {}
    if ports is not None:
        rule["ports"] = ports
    return {
        "metadata": {"namespace": namespace},
        "spec": {"podSelector": {"matchLabels": TARGET}, "policyTypes": ["Ingress"], "ingress": [rule]},
    }


def reach(pol, namespace, labels, port=5000):
    return admits(pol, target_labels=TARGET, source_namespace=namespace, source_labels=labels, port=port)


def test_selectors():
    assert selects({}, {"a": "1"})
    assert selects({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"})
    assert not selects({"matchLabels": {"a": "1"}}, {"a": "2"})
    assert selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"})
    assert selects({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "x"})


def test_namespace_and_pod_selector_together_mean_those_pods_in_those_namespaces():
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "authentik"}},
        "podSelector": {"matchLabels": {"role": "outpost"}},
    }
    pol = policy(peer)
    assert reach(pol, "authentik", {"role": "outpost"})
    assert not reach(pol, "authentik", {"role": "server"})
    assert not reach(pol, "other", {"role": "outpost"})


def test_separate_peers_are_alternatives():
    pol = policy(
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "authentik"}}},
        {"podSelector": {"matchLabels": {"role": "outpost"}}},
    )
    assert reach(pol, "authentik", {"role": "anything"})  # the whole namespace
    assert reach(pol, "mlflow", {"role": "outpost"})  # podSelector alone: the policy's namespace
    assert not reach(pol, "other", {"role": "outpost"})


def test_ports_rules_without_from_and_unselected_targets():
    pol = policy({"podSelector": {}}, ports=[{"protocol": "TCP", "port": 5000}])
    assert reach(pol, "mlflow", {}) and not reach(pol, "mlflow", {}, port=8080)
    assert not reach(pol, "other", {})
    assert reach(policy(), "anywhere", {})  # no from, no ports: everything
    assert admits(pol, target_labels={"app": "other"}, source_namespace="x", source_labels={}, port=1)
    with pytest.raises(ValueError, match="ipBlock"):
        reach(policy({"ipBlock": {"cidr": "0.0.0.0/0"}}), "mlflow", {})
