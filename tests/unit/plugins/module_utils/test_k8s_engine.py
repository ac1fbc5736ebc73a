"""The object engine's pure parts: manifest checks, digests, and what diffs and results show."""

import base64
import hashlib
import json

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import K8sError
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_engine import (
    HIDDEN,
    HIDDEN_CHANGED,
    check_definition,
    data_digest,
    for_diff,
    masked,
    merged_fields,
    sets_only_its_name,
)


def secret(**data):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns"},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_check_definition_names_the_bad_entry():
    assert check_definition(0, secret()) == ("v1", "Secret", "s", "ns")
    with pytest.raises(K8sError, match=r"definitions\[1\] needs apiVersion, kind and metadata.name"):
        check_definition(1, {"kind": "Secret", "metadata": {}})


def test_digest_is_what_the_roles_computed_in_jinja():
    obj = secret(username="mlflow", password="pw")
    expected = hashlib.sha256(json.dumps(obj["data"], sort_keys=True).encode()).hexdigest()
    assert data_digest(obj) == expected
    assert data_digest({}) == hashlib.sha256(b"{}").hexdigest()


def test_secret_values_are_hidden_but_changes_are_shown():
    before, after = secret(username="mlflow", password="old"), secret(username="mlflow", password="new")
    shown = masked(after, before)
    assert shown["data"] == {"username": HIDDEN, "password": HIDDEN_CHANGED}
    assert "new" not in json.dumps(shown) and base64.b64encode(b"new").decode() not in json.dumps(shown)
    string_data = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "new"}}
    assert masked(string_data, before)["stringData"] == {"password": HIDDEN_CHANGED}
    assert masked(string_data)["stringData"] == {"password": HIDDEN}
    config_map = {"kind": "ConfigMap", "data": {"a": "1"}}
    assert masked(config_map) is config_map


def test_diffs_leave_out_what_changes_on_every_write():
    live = {
        "kind": "ConfigMap",
        "metadata": {"name": "c", "resourceVersion": "7", "uid": "u", "managedFields": [], "labels": {"a": "b"}},
        "data": {"k": "v"},
        "status": {"x": 1},
    }
    assert for_diff(live) == {"kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "v"}}
    assert for_diff(None) == {}


def test_merged_fields_is_the_union_of_two_field_sets():
    """FieldsV1 as the API server writes it: nested maps, {} at the leaves, list items by key."""
    applied = {"f:metadata": {"f:labels": {"f:a": {}}}, "f:data": {"f:k": {}}}
    legacy = {"f:metadata": {"f:labels": {".": {}, "f:b": {}}}, "f:spec": {'k:{"name":"c"}': {"f:image": {}}}}
    assert merged_fields(applied, legacy) == {
        "f:metadata": {"f:labels": {"f:a": {}, ".": {}, "f:b": {}}},
        "f:data": {"f:k": {}},
        "f:spec": {'k:{"name":"c"}': {"f:image": {}}},
    }
    assert merged_fields({}, legacy) == legacy


def test_a_bare_namespace_sets_only_its_name():
    assert sets_only_its_name({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}})
    labelled = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml", "labels": {"a": "b"}}}
    assert not sets_only_its_name(labelled)
    assert not sets_only_its_name({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}})
