"""pytest fixtures: `real_cluster` (one local cluster per pytest process) and `cluster_namespace` (one per test)."""

import re
import uuid

import pytest

from .local_cluster import LocalCluster, missing_binaries


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory):
    """A started LocalCluster in a temporary state directory, stopped when the session ends."""
    missing = missing_binaries()
    if missing:
        pytest.fail(f"the local cluster's binaries are missing ({', '.join(missing)}): run make setup")
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"))
    cluster.up(log=lambda _msg: None)
    yield cluster
    cluster.down(log=lambda _msg: None)


@pytest.fixture
def cluster_namespace(real_cluster, request):
    """A fresh namespace on the shared cluster, named after the test; deleted afterwards (without waiting)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    code, body = real_cluster.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    assert code == 201, f"creating namespace {name} failed ({code}): {body}"
    yield name
    code, body = real_cluster.request("DELETE", f"/api/v1/namespaces/{name}")
    assert code in (200, 202), f"deleting namespace {name} failed ({code}): {body}"
