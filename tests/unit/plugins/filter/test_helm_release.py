"""helm_release decodes the newest revision of a release from Helm's release Secrets."""

import base64
import gzip
import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.apocrathia.mlflow.plugins.filter.helm_release import FilterModule

helm_release = FilterModule().filters()["helm_release"]


def release_secret(version, status, values, gzipped=True):
    """A Secret as Helm's storage driver writes it (pkg/storage/driver/util.go encodeRelease)."""
    release = {
        "name": "mlflow",
        "namespace": "mlflow",
        "version": version,
        "info": {"status": status, "last_deployed": "2026-11-30T23:00:00Z"},
        "chart": {"metadata": {"name": "mlflow", "version": "1.11.5", "appVersion": "3.5.0"}},
        "config": values,
    }
    raw = json.dumps(release).encode()
    encoded = base64.b64encode(gzip.compress(raw) if gzipped else raw)
    return {
        "type": "helm.sh/release.v1",
        "metadata": {"name": f"sh.helm.release.v1.mlflow.v{version}", "labels": {"version": str(version)}},
        "data": {"release": base64.b64encode(encoded).decode()},
    }


def test_the_newest_revision_like_helm_info():
    secrets = [
        release_secret(2, "deployed", {"replicaCount": 1}),
        release_secret(10, "failed", {"replicaCount": 2}, gzipped=False),
        release_secret(9, "superseded", {}),
    ]
    assert helm_release(secrets) == {
        "name": "mlflow",
        "namespace": "mlflow",
        "revision": "10",
        "status": "failed",
        "updated": "2026-11-30T23:00:00Z",
        "chart": "mlflow-1.11.5",
        "app_version": "3.5.0",
        "values": {"replicaCount": 2},
    }


def test_no_release_is_empty():
    assert helm_release([]) == {}
    assert helm_release([{"type": "Opaque", "metadata": {"name": "x"}}]) == {}


def test_an_unreadable_release_names_its_secret():
    broken = release_secret(1, "deployed", {})
    broken["data"]["release"] = "not base64!"
    with pytest.raises(AnsibleFilterError, match="sh.helm.release.v1.mlflow.v1"):
        helm_release([broken])
