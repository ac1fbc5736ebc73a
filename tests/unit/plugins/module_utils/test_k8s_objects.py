"""The client-side comparison behind k8s_objects_info: what counts as a change, and what does not."""

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_objects import (
    changed_paths,
    comparable,
    differences,
    object_not_found,
    object_ref,
    quantity_value,
    without_managed_fields,
)

MANIFEST = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "db", "namespace": "mlflow", "labels": {"app": "db"}},
    "spec": {
        "podSelector": {"matchLabels": {"cnpg.io/cluster": "db"}},
        "ingress": [{"ports": [{"port": 5432}]}],
    },
}


def live(**spec_overrides):
    """MANIFEST as an API server returns it: defaults added, metadata and status filled in."""
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "db",
            "namespace": "mlflow",
            "labels": {"app": "db", "added-by": "someone-else"},
            "uid": "u-1",
            "resourceVersion": "7",
            "managedFields": [{"manager": "x"}],
        },
        "spec": {
            "podSelector": {"matchLabels": {"cnpg.io/cluster": "db"}},
            "ingress": [{"ports": [{"port": 5432, "protocol": "TCP"}]}],
            "policyTypes": ["Ingress"],
        },
    }
    obj["spec"].update(spec_overrides)
    return obj


def test_server_defaults_and_foreign_fields_are_in_sync():
    assert differences(MANIFEST, live()) == []


def test_a_changed_value_is_reported_by_its_path():
    changed = live(podSelector={"matchLabels": {"cnpg.io/cluster": "other"}})
    assert differences(MANIFEST, changed) == ["spec.podSelector.matchLabels.cnpg.io/cluster"]


def test_a_missing_field_is_reported():
    without_ingress = live()
    del without_ingress["spec"]["ingress"]
    assert differences(MANIFEST, without_ingress) == ["spec.ingress"]


def test_lists_must_match_element_by_element():
    extra_rule = live(ingress=[{"ports": [{"port": 5432}]}, {"ports": [{"port": 9187}]}])
    assert differences(MANIFEST, extra_rule) == ["spec.ingress"]
    other_port = live(ingress=[{"ports": [{"port": 5433, "protocol": "TCP"}]}])
    assert differences(MANIFEST, other_port) == ["spec.ingress[0].ports[0].port"]


def test_null_asks_for_absence():
    manifest = {"metadata": {"annotations": {"gone": None}}}
    assert differences(manifest, {"metadata": {}}) == []
    assert differences(manifest, {"metadata": {"annotations": {"gone": "still here"}}}) == ["metadata.annotations.gone"]


@pytest.mark.parametrize(
    ("desired", "stored"),
    [("1024Mi", "1Gi"), ("1000m", "1"), ("0.5", "500m"), ("2Gi", "2Gi"), (1, 1.0)],
)
def test_quantities_the_server_rewrites_are_equal(desired, stored):
    assert differences({"size": desired}, {"size": stored}) == []


@pytest.mark.parametrize(
    ("desired", "stored"),
    [("2Gi", "1Gi"), ("5", "05"), (True, 1), ("true", True), ("5432", 5432)],
)
def test_different_values_stay_different(desired, stored):
    assert differences({"v": desired}, {"v": stored}) == ["v"]


def test_quantity_value_rejects_names():
    assert quantity_value("mlflow") is None
    assert quantity_value("1.5Gi") == 1.5 * 2**30


def test_secret_string_data_is_compared_as_base64_data():
    manifest = {"kind": "Secret", "stringData": {"password": "s3cret"}, "data": {"username": "bWxmbG93"}}
    stored = {"kind": "Secret", "data": {"username": "bWxmbG93", "password": "czNjcmV0"}}
    assert differences(comparable(manifest), stored) == []
    rotated = {"kind": "Secret", "data": {"username": "bWxmbG93", "password": "b2xk"}}
    assert differences(comparable(manifest), rotated) == ["data.password"]
    # The manifest itself is left as it was (it is returned to be applied).
    assert "stringData" in manifest


def test_managed_fields_are_dropped_and_refs_name_the_object():
    assert "managedFields" not in without_managed_fields(live())["metadata"]
    assert object_ref("Cluster", "db", "mlflow") == "Cluster mlflow/db"
    assert object_ref("Namespace", "mlflow", "") == "Namespace mlflow"


def test_a_404_naming_the_object_is_a_missing_object_not_a_missing_kind():
    missing = b'{"kind": "Status", "reason": "NotFound", "details": {"name": "db", "kind": "secrets"}}'
    assert object_not_found(missing, "db") is True
    assert object_not_found(missing, "other") is False
    assert (
        object_not_found('{"kind": "Status", "message": "the server could not find the requested resource"}', "db")
        is False
    )
    assert object_not_found("404 page not found", "db") is False


def test_changed_paths_name_what_was_added_changed_or_removed():
    before = {"metadata": {"labels": {"a": "1", "gone": "x"}}, "spec": {"ports": [{"port": 1}], "keep": True}}
    after = {"metadata": {"labels": {"a": "2", "new": "y"}}, "spec": {"ports": [{"port": 2}], "keep": True}}
    assert changed_paths(before, after) == [
        "metadata.labels.a",
        "metadata.labels.gone",
        "metadata.labels.new",
        "spec.ports[0].port",
    ]
    assert changed_paths(after, after) == []
    # A list of another length, or a value of another type, is one change at its own path.
    assert changed_paths({"l": [1]}, {"l": [1, 2]}) == ["l"]
    assert changed_paths({"n": 1}, {"n": "1"}) == ["n"]
