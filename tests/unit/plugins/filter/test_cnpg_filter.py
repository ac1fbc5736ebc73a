"""The cnpg_cluster_ready filter gives cnpg_cluster_wait's answer for a Cluster already read."""

import copy

from ansible_collections.apocrathia.mlflow.plugins.filter.cnpg import FilterModule

from tests.unit.plugins.module_utils.test_cnpg import CNPG_1_30_HEALTHY, changed_after_status

ready = FilterModule().filters()["cnpg_cluster_ready"]


def with_status(**status):
    obj = copy.deepcopy(CNPG_1_30_HEALTHY)
    obj["status"].update(status)
    return obj


def test_a_healthy_cluster_as_cnpg_writes_it_is_ready():
    assert ready(CNPG_1_30_HEALTHY) is True


def test_a_status_from_before_a_new_image_or_more_instances_is_not_ready():
    assert ready(changed_after_status(imageName="ghcr.io/cloudnative-pg/postgresql:18.5-system-trixie")) is False
    assert ready(changed_after_status(instances=2)) is False


def test_missing_instances_or_another_phase_is_not_ready():
    assert ready(with_status(readyInstances=0)) is False
    assert ready(with_status(phase="Setting up primary")) is False
    not_ready = [{"type": "Ready", "status": "False", "reason": "ClusterIsNotReady", "message": "Cluster Is Not Ready"}]
    assert ready(with_status(conditions=not_ready)) is False


def test_no_cluster_is_not_ready():
    assert ready({}) is False
    assert ready(None) is False
