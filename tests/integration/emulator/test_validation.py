"""Validation against the real CRDs (shared schemas) and the kubernetes-validate core schemas."""

import pytest

from tests.integration.emulator.conftest import raw

CLUSTERS = "/apis/postgresql.cnpg.io/v1/namespaces/default/clusters"
ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"


def _cluster(name="pg", **spec):
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}, **spec},
    }


def test_misspelled_cluster_field_refused_under_strict_and_pruned_otherwise(kube_emulator):
    body = _cluster(storagee={"size": "1Gi"})
    status, error, _ = raw(kube_emulator, "POST", CLUSTERS + "?fieldValidation=Strict", body)
    assert status == 400
    assert error["message"] == (
        'Cluster in version "v1" cannot be handled as a Cluster: strict decoding error: unknown field "spec.storagee"'
    )
    assert kube_emulator.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default") is None
    status, created, headers = raw(kube_emulator, "POST", CLUSTERS, body)  # default: Warn
    assert status == 201 and "storagee" not in created["spec"]
    assert "spec.storagee" in headers["Warning"]
    stored = kube_emulator.get("postgresql.cnpg.io/v1", "Cluster", "pg", "default")
    assert "storagee" not in stored["spec"]
    assert stored["spec"]["logLevel"] == "info", "schema defaults are applied, as the API server does"


def test_cluster_with_string_instances_is_refused(kube_emulator):
    status, error, _ = raw(kube_emulator, "POST", CLUSTERS, _cluster(instances="one"))
    assert status == 422 and error["reason"] == "Invalid"
    assert error["message"].startswith(
        'Cluster.postgresql.cnpg.io "pg" is invalid: spec.instances: Invalid value: "one"'
    )
    assert error["details"]["causes"][0]["field"] == "spec.instances"


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"instances": 0}, "spec.instances", "FieldValueInvalid"),  # minimum: 1
        ({"logLevel": "loud"}, "spec.logLevel", "FieldValueNotSupported"),  # enum
        ({"primaryUpdateMethod": 3}, "spec.primaryUpdateMethod", "FieldValueTypeInvalid"),
    ],
)
def test_cluster_schema_rules(kube_emulator, spec, field, reason):
    status, error, _ = raw(kube_emulator, "POST", CLUSTERS, _cluster(**spec))
    assert status == 422
    assert (error["details"]["causes"][0]["field"], error["details"]["causes"][0]["reason"]) == (field, reason)
    assert f"{field}: " in error["message"]


def test_int_or_string_and_preserved_fields(kube_emulator):
    # postgresql.parameters is a string map; resources quantities are int-or-string
    spec = {
        "resources": {"requests": {"memory": "1Gi", "cpu": 1}},
        "postgresql": {"parameters": {"max_connections": "50"}},
    }
    status, created, _ = raw(kube_emulator, "POST", CLUSTERS, _cluster(**spec))
    assert status == 201, created
    assert created["spec"]["resources"]["requests"] == {"memory": "1Gi", "cpu": 1}
    spec = {"resources": {"requests": {"cpu": [1]}}}
    status, error, _ = raw(kube_emulator, "POST", CLUSTERS, _cluster("pg2", **spec))
    assert status == 422 and error["details"]["causes"][0]["field"] == "spec.resources.requests.cpu"


def test_httproute_parent_ref_without_name_is_refused(kube_emulator):
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "mlflow"},
        "spec": {"parentRefs": [{"namespace": "gateway"}], "hostnames": ["mlflow.example.com"]},
    }
    status, error, _ = raw(kube_emulator, "POST", ROUTES, route)
    assert status == 422
    assert error["details"]["causes"][0] == {
        "reason": "FieldValueRequired",
        "field": "spec.parentRefs[0].name",
        "message": "Required value",
    }
    route["spec"]["parentRefs"][0]["name"] = "gw"
    status, created, _ = raw(kube_emulator, "POST", ROUTES, route)
    assert status == 201 and created["spec"]["parentRefs"][0]["group"] == "gateway.networking.k8s.io"  # defaulted


def test_pattern_is_checked(kube_emulator):
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "bad-host"},
        "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["Not A Host!"]},
    }
    status, error, _ = raw(kube_emulator, "POST", ROUTES, route)
    assert status == 422 and error["details"]["causes"][0]["field"] == "spec.hostnames[0]"
    assert "should match" in error["message"] or "does not match" in error["message"]


def test_crd_created_at_run_time_registers_its_resource(kube_emulator_factory):
    emu = kube_emulator_factory(crd_files=[])
    assert emu.store.lookup("postgresql.cnpg.io", "v1", "clusters") is None
    from tests.kube_emulator.emulator import crd_documents
    from tests.support import paths

    crd = next(crd_documents([paths.ONEPASSWORD_CRDS]))
    status, created, _ = raw(emu, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert status == 201
    assert {c["type"] for c in created["status"]["conditions"] if c["status"] == "True"} == {
        "Established",
        "NamesAccepted",
    }
    status, resources, _ = raw(emu, "GET", "/apis/onepassword.com/v1")
    assert status == 200 and resources["resources"][0]["kind"] == "OnePasswordItem"
    item = {
        "apiVersion": "onepassword.com/v1",
        "kind": "OnePasswordItem",
        "metadata": {"name": "db"},
        "spec": {"itemPath": "vaults/v/items/i"},
    }
    status, _, _ = raw(emu, "POST", "/apis/onepassword.com/v1/namespaces/default/onepassworditems", item)
    assert status == 201
    status, _, _ = raw(
        emu, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + crd["metadata"]["name"]
    )
    assert status == 200
    status, _, _ = raw(emu, "GET", "/apis/onepassword.com/v1/namespaces/default/onepassworditems")
    assert status == 404


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                    "port": {"x-kubernetes-int-or-string": True},
                                    "name": {"type": "string", "pattern": "^[a-z]+$", "nullable": True},
                                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                    "closed": {"type": "object"},
                                },
                            },
                            "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                        },
                    }
                },
            }
        ],
    },
}
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


def _widget(object_name, **spec):
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": object_name}, "spec": spec}


def test_openapi_v3_schema_features(kube_emulator):
    assert raw(kube_emulator, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD)[0] == 201
    body = _widget("a", size=2, port="http", name=None, config={"any": {"thing": [1]}}, closed={"x": 1}, extra=True)
    status, created, _ = raw(kube_emulator, "POST", WIDGETS, body)
    assert status == 201, created
    assert created["spec"] == {"size": 2, "port": "http", "name": None, "config": {"any": {"thing": [1]}}, "closed": {}}
    assert raw(kube_emulator, "POST", WIDGETS, _widget("b", size=3, port=8080))[0] == 201

    def rejected(spec):
        status, error, _ = raw(kube_emulator, "POST", WIDGETS, _widget("bad", **spec))
        assert status == 422, error
        return {(c["field"], c["reason"]) for c in error["details"]["causes"]}

    assert rejected({"size": 11}) == {("spec.size", "FieldValueInvalid")}
    assert rejected({"size": 0}) == {("spec.size", "FieldValueInvalid")}
    assert rejected({}) == {("spec.size", "FieldValueRequired")}
    assert rejected({"size": 1, "port": True}) == {("spec.port", "FieldValueInvalid")}
    assert rejected({"size": 1, "name": "UPPER"}) == {("spec.name", "FieldValueInvalid")}
    # status is a subresource: a create cannot set it, the status endpoint can
    body = _widget("c", size=1)
    body["status"] = {"ok": True}
    status, created, _ = raw(kube_emulator, "POST", WIDGETS, body)
    assert status == 201 and "status" not in created
    status, updated, _ = raw(
        kube_emulator, "PATCH", WIDGETS + "/c/status", {"status": {"ok": True}}, "application/merge-patch+json"
    )
    assert status == 200 and updated["status"] == {"ok": True} and updated["metadata"]["generation"] == 1
    status, _, _ = raw(
        kube_emulator, "PATCH", WIDGETS + "/c", {"spec": {"size": 1}}, "application/strategic-merge-patch+json"
    )
    assert status == 415, "strategic merge patch is not supported for custom resources"
