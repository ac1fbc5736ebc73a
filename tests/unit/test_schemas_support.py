"""The validators in tests/support/schemas.py accept what the real schemas accept, and reject the rest."""

import copy

import pytest
import yaml

from tests.support import paths, schemas

# A blueprint like the reference one (example host names), with tags where authentik wants an
# integer key (provider), a UUID (flows, service connection) and list items (providers).
BLUEPRINT = """
version: 1
metadata:
  name: mlflow
  labels:
    blueprints.goauthentik.io/instantiate: "true"
entries:
  - model: authentik_providers_proxy.proxyprovider
    id: provider
    identifiers:
      name: mlflow-proxy-provider
    attrs:
      mode: proxy
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-invalidation-flow]]
      authentication_flow: !Find [authentik_flows.flow, [slug, default-authentication-flow]]
      internal_host: http://mlflow.mlflow.svc.cluster.local:80
      external_host: https://mlflow.example.com
      intercept_header_auth: true
  - model: authentik_core.application
    identifiers:
      slug: mlflow
    attrs:
      name: MLflow
      group: AI & Automation
      provider: !KeyOf provider
      meta_launch_url: https://mlflow.example.com
      open_in_new_tab: true
  - model: authentik_outposts.outpost
    identifiers:
      name: mlflow-outpost
    attrs:
      type: proxy
      service_connection: !Find [authentik_outposts.kubernetesserviceconnection, [name, Local Kubernetes Cluster]]
      providers:
        - !KeyOf provider
      config:
        authentik_host: https://auth.example.com
        authentik_host_insecure: true
        log_level: info
        object_naming_template: ak-outpost-%(name)s
        kubernetes_replicas: 1
        kubernetes_namespace: authentik
        kubernetes_httproute_parent_refs:
          - name: main-gateway
            namespace: cilium-system
            sectionName: https
"""


@pytest.fixture
def blueprint():
    return schemas.load_blueprint(BLUEPRINT)


def _entry(doc, model):
    return next(e for e in doc["entries"] if e["model"] == model)


# --- loading ---------------------------------------------------------------------------------


def test_custom_tags_load_as_placeholders(blueprint):
    provider = _entry(blueprint, "authentik_providers_proxy.proxyprovider")
    flow = provider["attrs"]["authorization_flow"]
    assert flow == schemas.Tag(
        "Find", ["authentik_flows.flow", ["slug", "default-provider-authorization-implicit-consent"]]
    )
    assert _entry(blueprint, "authentik_core.application")["attrs"]["provider"] == schemas.Tag("KeyOf", "provider")


@pytest.mark.parametrize("tag", sorted(schemas.AUTHENTIK_TAGS))
def test_every_authentik_tag_loads_as_scalar_sequence_or_mapping(tag):
    doc = schemas.load_blueprint(f"a: !{tag} x\nb: !{tag} [x, y]\nc: !{tag} {{k: v}}\n")
    assert doc == {
        "a": schemas.Tag(tag, "x"),
        "b": schemas.Tag(tag, ["x", "y"]),
        "c": schemas.Tag(tag, {"k": "v"}),
    }


def test_nested_tags_load_inside_tag_arguments():
    doc = schemas.load_blueprint("v: !Format ['%s-%s', !Context name, !Env [HOME, x]]\n")
    assert doc["v"] == schemas.Tag(
        "Format", ["%s-%s", schemas.Tag("Context", "name"), schemas.Tag("Env", ["HOME", "x"])]
    )
    assert [t.name for t in schemas.iter_tags(doc)] == ["Format", "Context", "Env"]


def test_an_unknown_tag_is_refused_as_authentik_refuses_it():
    with pytest.raises(yaml.constructor.ConstructorError, match="unknown authentik blueprint tag !Lookup"):
        schemas.load_blueprint("a: !Lookup x\n")


# --- blueprint validation --------------------------------------------------------------------


def test_reference_blueprint_is_valid(blueprint):
    assert schemas.blueprint_errors(blueprint) == []
    schemas.validate_blueprint(BLUEPRINT)  # text is accepted too


def test_a_tag_passes_where_the_schema_wants_an_integer_a_uuid_or_a_list_item(blueprint):
    # One fixed string placeholder would fail on `provider` (integer): a Tag passes anywhere.
    app = _entry(blueprint, "authentik_core.application")
    app["attrs"]["provider"] = "provider"
    errors = schemas.blueprint_errors(blueprint)
    assert errors == ["entries[1] (authentik_core.application).attrs.provider: 'provider' is not of type 'integer'"]


@pytest.mark.parametrize(
    ("model", "attr", "value", "message"),
    [
        ("authentik_providers_proxy.proxyprovider", "mode", "reverse", "'reverse' is not one of"),
        ("authentik_providers_proxy.proxyprovider", "intercept_header_auth", "yes", "'yes' is not of type 'boolean'"),
        (
            "authentik_providers_proxy.proxyprovider",
            "authorization_flow",
            "default-flow",
            "'default-flow' is not a 'uuid'",
        ),
        ("authentik_providers_proxy.proxyprovider", "external_host", "", "should be non-empty"),
        ("authentik_core.application", "open_in_new_tab", "true", "'true' is not of type 'boolean'"),
        ("authentik_outposts.outpost", "type", "http", "'http' is not one of"),
        ("authentik_outposts.outpost", "providers", [1, "two"], "'two' is not of type 'integer'"),
    ],
)
def test_schema_violations_are_reported_with_entry_and_path(blueprint, model, attr, value, message):
    _entry(blueprint, model)["attrs"][attr] = value
    errors = schemas.blueprint_errors(blueprint)
    assert len(errors) == 1 and errors[0].startswith("entries[") and f"({model}).attrs.{attr}" in errors[0]
    assert message in errors[0]
    with pytest.raises(schemas.SchemaValidationError, match="authentik blueprint: 1 problem"):
        schemas.validate_blueprint(blueprint)


def test_a_misspelt_attribute_is_flagged_although_the_schema_allows_it(blueprint):
    _entry(blueprint, "authentik_providers_proxy.proxyprovider")["attrs"]["intercept_header_autth"] = True
    assert schemas.blueprint_errors(blueprint, strict_attrs=False) == []
    assert schemas.blueprint_errors(blueprint) == [
        "entries[0] (authentik_providers_proxy.proxyprovider).attrs.intercept_header_autth: "
        "not an attribute of authentik_providers_proxy.proxyprovider (authentik would ignore it)"
    ]


def test_header_unknown_model_and_dangling_keyof_are_reported(blueprint):
    doc = copy.deepcopy(blueprint)
    doc["version"] = "1"
    del doc["metadata"]["name"]
    doc["entries"].append({"model": "authentik_core.nosuchmodel", "identifiers": {"x": 1}})
    _entry(doc, "authentik_outposts.outpost")["attrs"]["providers"] = [schemas.Tag("KeyOf", "providr")]
    errors = schemas.blueprint_errors(doc)
    assert "version: '1' is not of type 'integer'" in errors
    assert "metadata: 'name' is a required property" in errors
    assert "entries[3]: unknown model 'authentik_core.nosuchmodel'" in errors
    assert [e for e in errors if e.startswith("!KeyOf 'providr': no entry has id 'providr'")]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kubernetes_namespace": "Authentik"}, "kubernetes_namespace: 'Authentik' is not a Kubernetes namespace name"),
        ({"object_naming_template": "ak-outpost"}, "must be a string containing '%(name)s'"),
        ({"object_naming_template": "AK_%(name)s"}, "gives 'AK_mlflow-outpost', not a valid Kubernetes object name"),
        ({"kubernetes_httproute_parent_refs": {"name": "gw"}}, "must be a list of parentRefs"),
        ({"kubernetes_httproute_parent_refs": [{"namespace": "x"}]}, "[0].name: required, a non-empty string"),
        ({"kubernetes_httproute_parent_refs": [{"name": "gw", "section": "https"}]}, "unknown key(s) ['section']"),
        ({"kubernetes_httproute_parent_refs": [{"name": "gw", "port": 70000}]}, "port: must be an integer 1-65535"),
        (
            {"kubernetes_httproute_parent_refs": [{"name": "Main_Gateway"}]},
            "'Main_Gateway' is not a valid Kubernetes name",
        ),
        ({"kubernetes_replicas": "1"}, "kubernetes_replicas: must be a non-negative integer"),
        ({"authentik_host_insecure": "true"}, "authentik_host_insecure: must be a boolean"),
    ],
)
def test_outpost_config_keys_the_schema_leaves_open_are_checked(blueprint, config, message):
    _entry(blueprint, "authentik_outposts.outpost")["attrs"]["config"].update(config)
    errors = schemas.blueprint_errors(blueprint)
    assert len(errors) == 1 and message in errors[0], errors
    assert errors[0].startswith("entries[2].attrs.config.")


def test_outpost_config_accepts_tags_and_absent_keys():
    assert schemas.outpost_config_errors({"kubernetes_namespace": schemas.Tag("Env", "NS")}) == []
    assert schemas.outpost_config_errors({}) == []
    assert schemas.outpost_config_errors("x") == ["outpost config: must be a mapping, got str"]


# --- chart values ----------------------------------------------------------------------------


def test_chart_values_are_merged_over_the_chart_defaults_like_helm():
    assert schemas.chart_values_errors({"backendStore": {"postgres": {"enabled": True}}}) == []
    # Checked alone, partial values miss the keys the schema requires (Helm never does this).
    assert schemas.chart_values_errors({"backendStore": {}}, defaults_path=False)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"extraArgs": {"workers": 2}}, "extraArgs.workers: 2 is not of type 'string'"),
        ({"extraArg": {"workers": "2"}}, "Additional properties are not allowed ('extraArg' was unexpected)"),
        ({"service": {"port": "80"}}, "service.port: '80' is not of type 'integer'"),
    ],
)
def test_chart_values_errors_match_the_real_schema(values, message):
    errors = schemas.chart_values_errors(values)
    assert any(message in e for e in errors), errors
    with pytest.raises(schemas.SchemaValidationError):
        schemas.validate_chart_values(values)


def test_coalesce_values_merges_maps_replaces_lists_and_drops_nulls():
    merged = schemas.coalesce_values({"a": {"b": 1, "c": 2}, "l": [1], "n": 3}, {"a": {"c": 5}, "l": [2], "n": None})
    assert merged == {"a": {"b": 1, "c": 5}, "l": [2]}


# --- Kubernetes objects (the emulator's validation) ------------------------------------------


def test_a_valid_configmap_passes_and_a_bad_one_is_refused():
    good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}, "data": {"k": "v"}}
    assert schemas.k8s_object_errors(good) == []
    bad = copy.deepcopy(good)
    bad["data"] = {"k": 1}
    bad["metadata"]["name"] = "Not_Valid"
    bad["spec"] = {}
    errors = schemas.k8s_object_errors(bad)
    assert any("metadata.name" in e for e in errors)
    assert any("data.k" in e for e in errors)
    assert any("spec" in e for e in errors)
    with pytest.raises(schemas.SchemaValidationError, match="ConfigMap n/Not_Valid"):
        schemas.validate_k8s_object(bad)


def test_custom_resources_are_checked_against_their_crd():
    crd = paths.GATEWAY_CRDS / "gateway.networking.k8s.io_httproutes.yaml"
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "ak-outpost-mlflow-outpost", "namespace": "authentik"},
        "spec": {"parentRefs": [{"name": "main-gateway", "namespace": "cilium-system", "sectionName": "https"}]},
    }
    assert schemas.k8s_object_errors(route, crd_files=[crd]) == []
    assert schemas.k8s_object_errors(route) == [
        "no schema for gateway.networking.k8s.io/v1 HTTPRoute (give its CRD file)"
    ]
    route["spec"]["parentRefs"][0]["sectionNam"] = "https"
    assert any("sectionNam" in e for e in schemas.k8s_object_errors(route, crd_files=[crd]))
