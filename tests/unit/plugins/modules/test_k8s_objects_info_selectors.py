"""k8s_objects_info's label selectors and keyed answers, against a stand-in reader."""

from ansible_collections.apocrathia.mlflow.plugins.modules import k8s_objects_info


def obj(name, **labels):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "labels": labels}}


class Reader:
    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def read(self, api_version, kind, name=None, namespace=None, label_selector=None):
        """What the API server would answer: the objects of (kind, name) matching the selector."""
        self.calls.append((kind, name, namespace, label_selector))
        return True, list(self.answers.get((kind, name, label_selector), self.answers.get((kind, name), [])))


class Module:
    def __init__(self, **params):
        self.params = dict(definitions=[], metadata_only=True, **params)


def lookup(kind, key=None, name=None, selectors=()):
    return dict(key=key, api_version="v1", kind=kind, name=name, namespace="ns", label_selectors=list(selectors))


def test_lookups_with_a_key_are_gathered_in_found():
    reader = Reader(
        {
            ("PersistentVolumeClaim", None): [obj("db-1", **{"cnpg.io/cluster": "db"}), obj("x")],
            ("PersistentVolumeClaim", None, "cnpg.io/cluster=db,role!=wal"): [obj("db-1", **{"cnpg.io/cluster": "db"})],
            ("ConfigMap", "a"): [{"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}],
            ("Secret", "b"): [{"kind": "Secret", "metadata": {"name": "b"}, "data": {"password": "c2VjcmV0"}}],
        }
    )
    module = Module(
        lookups=[
            lookup("PersistentVolumeClaim", "volumes", selectors=["cnpg.io/cluster=db", "role!=wal"]),
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
    # The selectors reach the API server as one selector, the ANDed list.
    assert ("PersistentVolumeClaim", None, "ns", "cnpg.io/cluster=db,role!=wal") in reader.calls
