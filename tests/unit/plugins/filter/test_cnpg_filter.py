"""The cnpg_cluster_ready filter gives cnpg_cluster_wait's answer for a Cluster already read."""

from ansible_collections.apocrathia.mlflow.plugins.filter.cnpg import FilterModule
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import PHASE_HEALTHY

ready = FilterModule().filters()["cnpg_cluster_ready"]


def cluster(generation=2, observed=2, ready_instances=1, phase=PHASE_HEALTHY, status="True"):
    return {
        "metadata": {"generation": generation},
        "spec": {"instances": 1},
        "status": {
            "phase": phase,
            "readyInstances": ready_instances,
            "conditions": [{"type": "Ready", "status": status, "observedGeneration": observed}],
        },
    }


def test_a_healthy_cluster_is_ready():
    assert ready(cluster()) is True


def test_a_stale_ready_condition_is_not_ready():
    assert ready(cluster(generation=3, observed=2)) is False


def test_missing_instances_or_another_phase_is_not_ready():
    assert ready(cluster(ready_instances=0)) is False
    assert ready(cluster(phase="Setting up primary")) is False
    assert ready(cluster(status="False")) is False


def test_no_cluster_is_not_ready():
    assert ready({}) is False
    assert ready(None) is False
