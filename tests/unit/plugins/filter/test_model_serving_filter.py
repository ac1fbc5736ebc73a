"""Filters of mlflow_model_serving: one message per problem, defaults filled in, policy peers."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.apocrathia.mlflow.plugins.filter import model_serving as f

DEFAULTS = {
    "replicas": 1,
    "port": 8080,
    "workers": 1,
    "timeout": 60,
    "resources": {},
    "image": "",
    "allow_from": [],
    "expose_host": "",
}


def test_good_entries_have_no_problems():
    models = [
        {"name": "champion", "model_uri": "models:/MyModel@champion"},
        {
            "name": "v3",
            "model_uri": "models:/MyModel/3",
            "replicas": 2,
            "port": "9000",
            "allow_from": [{"namespace": "apps"}],
        },
        {"name": "prod", "model_uri": "models:/MyModel/Production", "expose_host": "model.example.com"},
    ]
    assert f.model_serving_problems(models) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "3d", "model_uri": "models:/M/1"}, "mlflow_model_serving_models[0] (3d).name must be a DNS label"),
        ({"model_uri": "models:/M/1"}, "mlflow_model_serving_models[0].name must be a DNS label"),
        ({"name": "mlflow", "model_uri": "models:/M/1"}, "name 'mlflow' is the name of MLflow's own Service"),
        (
            {"name": "a", "model_uri": "runs:/x/model"},
            "mlflow_model_serving_models[0] (a).model_uri: 'runs:/x/model' is not a registered model URI",
        ),
        ({"name": "a", "model_uri": "models:/M/Prod"}, "neither a version number nor a stage"),
        (
            {"name": "a", "model_uri": "models:/M/1", "replicas": -1},
            "(a).replicas must be a whole number from 0 to 1000 (got -1)",
        ),
        (
            {"name": "a", "model_uri": "models:/M/1", "port": "http"},
            "(a).port must be a whole number from 1 to 65535 (got 'http')",
        ),
        ({"name": "a", "model_uri": "models:/M/1", "port": True}, "(a).port must be a whole number"),
        ({"name": "a", "model_uri": "models:/M/1", "uri": "x"}, "(a) has unknown key(s) uri; allowed: name, model_uri"),
        (
            {"name": "a", "model_uri": "models:/M/1", "expose_host": "https://x.example.com"},
            "(a).expose_host must be a host name",
        ),
        ({"name": "a", "model_uri": "models:/M/1", "allow_from": {"namespace": "x"}}, "(a).allow_from must be a list"),
        (
            {"name": "a", "model_uri": "models:/M/1", "allow_from": [{"ns": "x"}]},
            "(a).allow_from[0] has unknown key(s) ns",
        ),
        (
            {"name": "a", "model_uri": "models:/M/1", "allow_from": [{"pod_labels": {"tier": 1}}]},
            "(a).allow_from[0].pod_labels must map label names to strings",
        ),
        ("champion", "mlflow_model_serving_models[0] must be a mapping"),
    ],
)
def test_each_problem_names_the_entry_key_and_value(entry, message):
    problems = f.model_serving_problems([entry], reserved_names=["mlflow"])
    assert len(problems) == 1, problems
    assert message in problems[0]


def test_duplicate_names():
    problems = f.model_serving_problems(
        [{"name": "a", "model_uri": "models:/M/1"}, {"name": "a", "model_uri": "models:/M/2"}]
    )
    assert problems == [
        "mlflow_model_serving_models[1] (a).name 'a' is also the name of mlflow_model_serving_models[0]"
    ]


def test_not_a_list():
    assert f.model_serving_problems({"name": "a"}) == [
        "mlflow_model_serving_models must be a list of models (got {'name': 'a'})"
    ]


def test_entries_take_the_defaults_and_keep_their_own():
    entries = f.model_serving_entries(
        [
            {"name": "a", "model_uri": "models:/My Model@champion", "port": "9000"},
            {"name": "b", "model_uri": "models:/M/2"},
        ],
        DEFAULTS,
    )
    assert entries[0]["port"] == 9000 and entries[1]["port"] == 8080
    assert entries[0]["registered_name"] == "My Model"
    assert entries[1]["replicas"] == 1 and entries[1]["expose_host"] == ""


def test_entries_refuse_bad_input():
    with pytest.raises(AnsibleFilterError, match="model_uri"):
        f.model_serving_entries([{"name": "a", "model_uri": "nope"}], DEFAULTS)


def test_peers():
    rules = [
        {"namespace": "apps"},
        {"namespace": "apps", "pod_labels": {"app": "web"}},
        {"pod_labels": {"app": "batch"}},
    ]
    assert f.model_serving_peers(rules, ["authentik", "apps"]) == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}},
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}},
            "podSelector": {"matchLabels": {"app": "web"}},
        },
        {"podSelector": {"matchLabels": {"app": "batch"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "authentik"}}},
    ]


def test_authentik_providers_only_for_exposed_models():
    providers = f.model_serving_authentik_providers(
        [{"name": "a", "model_uri": "models:/M/1", "expose_host": "a.example.com", "port": 9000}, {"name": "b", "model_uri": "models:/M/1"}],
        "serving", "cluster.local", 8080,
    )  # fmt: skip
    assert providers == [
        {
            "name": "MLflow model a",
            "slug": "mlflow-model-a",
            "external_host": "https://a.example.com",
            "internal_host": "http://a.serving.svc.cluster.local:9000",
        }
    ]


def test_refs():
    assert [r["kind"] for r in f.model_serving_refs(["a"], "ns")] == ["Deployment", "Service", "NetworkPolicy"]


def test_gone_are_the_roles_deployments_not_listed():
    selector = {"app.kubernetes.io/component": "model-serving", "app.kubernetes.io/managed-by": "apocrathia.mlflow"}
    deployments = [
        {"metadata": {"name": "old", "labels": dict(selector)}},
        {"metadata": {"name": "kept", "labels": dict(selector)}},
        {"metadata": {"name": "mlflow", "labels": {"app.kubernetes.io/name": "mlflow"}}},
        {"metadata": {"name": "other", "labels": {"app.kubernetes.io/component": "model-serving"}}},
    ]
    assert f.model_serving_gone(deployments, ["kept"], selector) == ["old"]
