"""The filters that derive every object name from the shared settings."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.apocrathia.mlflow.plugins.filter.mlflow_names import FilterModule

FILTERS = FilterModule().filters()
fullname = FILTERS["mlflow_fullname"]
service_hosts = FILTERS["mlflow_service_hosts"]
rw_host = FILTERS["cnpg_rw_host"]
outpost = FILTERS["authentik_outpost_object_name"]
pod_label = FILTERS["authentik_outpost_pod_label"]


@pytest.mark.parametrize(
    ("release", "values", "expected"),
    [
        ("mlflow", None, "mlflow"),
        ("team-mlflow-prod", {}, "team-mlflow-prod"),
        ("tracking", {}, "tracking-mlflow"),
        ("tracking", {"nameOverride": "track"}, "tracking"),
        ("tracking", {"nameOverride": "server"}, "tracking-server"),
        ("tracking", {"fullnameOverride": "my-mlflow"}, "my-mlflow"),
        # Helm truncates to 63 characters and trims a trailing "-".
        ("a" * 62, {}, "a" * 62),
        ("r" * 57, {}, "r" * 57 + "-mlflo"),
        ("x" * 62 + "-mlflow", {}, "x" * 62),
    ],
)
def test_fullname_follows_the_chart_helper(release, values, expected):
    assert fullname(release, values) == expected


def test_fullname_refuses_an_empty_release_name():
    with pytest.raises(AnsibleFilterError, match="release_name"):
        fullname("")


def test_service_hosts():
    assert service_hosts("mlflow", "ml", "example.internal") == [
        "mlflow",
        "mlflow.ml",
        "mlflow.ml.svc",
        "mlflow.ml.svc.example.internal",
    ]


def test_rw_host():
    assert rw_host("mlflow-postgres", "mlflow") == "mlflow-postgres-rw.mlflow.svc.cluster.local"
    assert rw_host("db", "team", "corp.local") == "db-rw.team.svc.corp.local"


@pytest.mark.parametrize(
    ("name", "template", "expected"),
    [
        ("mlflow-outpost", "ak-outpost-%(name)s", "ak-outpost-mlflow-outpost"),
        ("MLflow Outpost!", "ak-outpost-%(name)s", "ak-outpost-mlflow-outpost"),
        ("  Über -- proxy_ ", "%(name)s", "uber-proxy"),
        ("Team", "AK-%(name)s", "ak-team"),
        ("x", "ak-%(uuid)s", "ak-%(uuid)s"),
    ],
)
def test_outpost_object_name_follows_authentik(name, template, expected):
    assert outpost(name, template) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("mlflow-outpost", "mlflow-outpost"), ("MLflow Outpost!", "mlflow-outpost"), ("  Über -- proxy_ ", "uber-proxy")],
)
def test_outpost_pod_label_is_the_slugified_name(name, expected):
    assert pod_label(name) == expected


def test_outpost_pod_label_refuses_an_empty_name():
    with pytest.raises(AnsibleFilterError, match="outpost_name"):
        pod_label("")
