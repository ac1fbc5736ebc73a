"""k8s_objects_info's label selectors and keyed answers, against a stand-in reader."""

import pytest
from ansible_collections.apocrathia.mlflow.plugins.modules import k8s_objects_info


def obj(name, **labels):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "labels": labels}}


@pytest.mark.parametrize(
    ("selectors", "names"),
    [
        (["cnpg.io/cluster=db"], ["db-1", "db-1-wal"]),
        (["cnpg.io/cluster==db", "role=wal"], ["db-1-wal"]),
        (["cnpg.io/cluster=db", "role!=wal"], ["db-1"]),
        (["role"], ["db-1-wal"]),
        (["!role"], ["db-1", "other"]),
        ([], ["db-1", "db-1-wal", "other"]),
    ],
)
def test_label_selectors(selectors, names):
    objects = [obj("db-1", **{"cnpg.io/cluster": "db"}), obj("db-1-wal", role="wal", **{"cnpg.io/cluster": "db"})]
    objects.append({"metadata": {"name": "other"}})
    parsed = k8s_objects_info.parse_label_selectors(selectors)
    assert [o["metadata"]["name"] for o in objects if k8s_objects_info.labels_match(o, parsed)] == names


class Reader:
    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def read(self, api_version, kind, name=None, namespace=None):
        self.calls.append((kind, name, namespace))
        return True, list(self.answers.get((kind, name), []))


class Module:
    def __init__(self, **params):
        self.params = dict(definitions=[], metadata_only=True, **params)


def lookup(kind, key=None, name=None, selectors=()):
    return dict(key=key, api_version="v1", kind=kind, name=name, namespace="ns", label_selectors=list(selectors))


def test_lookups_with_a_key_are_gathered_in_found():
    reader = Reader(
        {
            ("PersistentVolumeClaim", None): [obj("db-1", **{"cnpg.io/cluster": "db"}), obj("x")],
            ("ConfigMap", "a"): [{"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}],
            ("Secret", "b"): [{"kind": "Secret", "metadata": {"name": "b"}, "data": {"password": "c2VjcmV0"}}],
        }
    )
    module = Module(
        lookups=[
            lookup("PersistentVolumeClaim", "volumes", selectors=["cnpg.io/cluster=db"]),
            lookup("ConfigMap", "others", "a"),
            lookup("Secret", "others", "b"),
            lookup("Secret", "gone", "c"),
            lookup("Secret", None, "b"),
        ]
    )
    result = k8s_objects_info.run(module, reader)
    assert sorted(result["found"]) == ["gone", "others", "volumes"]
    assert [o["metadata"]["name"] for o in result["found"]["volumes"]] == ["db-1"]
    assert [o["metadata"]["name"] for o in result["found"]["others"]] == ["a", "b"]
    assert result["found"]["gone"] == []
    # metadata_only: no data of any kind in the answer
    assert all(set(o) <= {"apiVersion", "kind", "metadata"} for objs in result["found"].values() for o in objs)
    assert len(result["lookups"]) == 5
