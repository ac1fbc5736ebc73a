"""tests/harness/pod.py: a container's argv and environment resolved as the kubelet does."""

import pytest

from tests.harness import pod
from tests.harness.mlflow_server import localise

TMP = "/tmp"  # noqa: S108 - a path inside the container, not used here


def _workload(container, volumes=(), configmaps=None, secrets=None):
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "ns"},
        "spec": {"template": {"metadata": {"labels": {"app": "x"}},
                              "spec": {"containers": [dict({"name": "main", "image": "i"}, **container)],
                                       "volumes": list(volumes)}}},
    }  # fmt: skip
    return pod.Workload(deployment, configmaps or {}, secrets or {})


def test_env_precedence_follows_the_kubelet():
    workload = _workload(
        {
            "command": ["run"],
            "envFrom": [
                {"configMapRef": {"name": "cm"}},
                {"secretRef": {"name": "sec"}, "prefix": "S_"},
                {"configMapRef": {"name": "override"}},
            ],
            "env": [
                {"name": "A", "value": "from-env"},
                {"name": "URL", "value": "http://$(HOST):$(PORT)/$(MISSING)$$(ESCAPED)"},
                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": True}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            ],
        },
        configmaps={"cm": {"A": "cm", "HOST": "db", "1BAD": "skipped"}, "override": {"HOST": "db2", "PORT": "5432"}},
        secrets={"sec": {"password": "pw"}},
    )
    env = pod.container(workload, "main").env
    assert env == {
        "A": "from-env",  # env wins over envFrom
        "HOST": "db2",  # later envFrom sources win over earlier ones
        "PORT": "5432",
        "S_password": "pw",  # the source's prefix
        "URL": "http://db2:5432/$(MISSING)$(ESCAPED)",  # unknown references stay, $$ escapes
        "PASS": "pw",
        "NS": "ns",
    }  # 1BAD is not a variable name; OPT's optional Secret is absent


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"command": ["x"], "envFrom": [{"secretRef": {"name": "gone"}}]}, 'secret "gone" not found'),
        ({"command": ["x"], "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "nope"}}}]},
         "couldn't find key nope in secret sec"),
        ({"args": ["only-args"]}, "has no command"),
    ],
)  # fmt: skip
def test_what_would_stop_the_pod_is_an_error(container, message):
    with pytest.raises(pod.ContainerConfigError, match=message):
        pod.container(_workload(container, secrets={"sec": {"k": "v"}}), "main")


def test_command_and_args_are_expanded_and_mounts_carry_their_volumes():
    workload = _workload(
        {
            "command": ["mlflow"],
            "args": ["server", "--port=$(PORT)", "--artifacts-destination=/data/art", "--expose-prometheus=/m"],
            "env": [{"name": "PORT", "value": "5000"}],
            "ports": [{"name": "http", "containerPort": 5000}],
            "volumeMounts": [{"name": "tmp", "mountPath": TMP}, {"name": "art", "mountPath": "/data/art"}],
        },
        volumes=[{"name": "tmp", "emptyDir": {}}, {"name": "art", "persistentVolumeClaim": {"claimName": "pvc"}}],
    )
    c = pod.container(workload, "main")
    assert c.argv[1] == "server" and c.argv[2] == "--port=5000"
    assert [(path, vol["name"]) for path, vol, _ in c.mounts] == [(TMP, "tmp"), ("/data/art", "art")]
    argv, env = localise(
        c, port=41000, path_map={TMP: "/L/tmp", "/data/art": "/L/art"}, host_map={}, rootfs="/L/rootfs"
    )
    assert argv[1:] == ["server", "--port=41000", "--artifacts-destination=/L/art", "--expose-prometheus=/L/rootfs/m"]
    assert env["TMPDIR"] == "/L/tmp"


@pytest.mark.parametrize(("quantity", "value"), [("2Gi", 2 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9),
                                                 ("500m", 0.5), ("2", 2)])  # fmt: skip
def test_quantities(quantity, value):
    assert pod.parse_quantity(quantity) == value


def test_configmap_and_secret_volumes_hold_their_items_or_every_key():
    data = {"a.py": "print(1)\n", "meta": "M"}
    workload = _workload({"command": ["run"]}, configmaps={"audit": data}, secrets={"key": {"k.json": "{}"}})
    items = {"name": "v", "configMap": {"name": "audit", "items": [{"key": "meta", "path": "pkg/METADATA"}]}}
    assert pod.volume_files(workload, items) == {"pkg/METADATA": "M"}
    assert pod.volume_files(workload, {"name": "v", "configMap": {"name": "audit"}}) == data
    assert pod.volume_files(workload, {"name": "v", "secret": {"secretName": "key"}}) == {"k.json": "{}"}
    assert pod.volume_files(workload, {"name": "v", "emptyDir": {}}) == {}
    assert pod.volume_files(workload, {"name": "v", "configMap": {"name": "gone", "optional": True}}) == {}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"name": "gone"}, "configMap 'gone' not found"),
        ({"name": "audit", "items": [{"key": "nope", "path": "x"}]}, "has no key 'nope'"),
    ],
)
def test_a_missing_configmap_or_key_stops_the_pod(source, message):
    workload = _workload({"command": ["run"]}, configmaps={"audit": {"a.py": ""}})
    with pytest.raises(pod.ContainerConfigError, match=message):
        pod.volume_files(workload, {"name": "v", "configMap": source})
