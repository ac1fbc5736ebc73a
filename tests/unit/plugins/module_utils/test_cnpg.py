"""The CloudNativePG readiness rules of module_utils/cnpg.py (pure functions over a Cluster dict)."""

import copy

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import (
    PHASE_HEALTHY,
    TERMINAL_PHASES,
    evaluate_readiness,
    summarize,
    terminal_phase,
)

IMAGE = "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie"


def cluster(phase="Setting up primary", ready_instances=0, instances=3, ready=None, reason=None, name="db", rv="1"):
    """A Cluster with the status fields CloudNativePG 1.30 writes (see CNPG_1_30_HEALTHY).
    ``ready`` is the Ready condition's status ("True"/"False"), as SetClusterReadyCondition builds it."""
    status = {"phase": phase, "readyInstances": ready_instances, "instances": instances, "image": IMAGE}
    if reason is not None:
        status["phaseReason"] = reason
    if ready is not None:
        healthy_condition = ready == "True"
        status["conditions"] = [
            {
                "type": "Ready",
                "status": ready,
                "reason": "ClusterIsReady" if healthy_condition else "ClusterIsNotReady",
                "message": "Cluster is Ready" if healthy_condition else "Cluster Is Not Ready",
                "lastTransitionTime": "2026-12-01T10:00:00Z",
            }
        ]
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": "ns", "generation": 1, "resourceVersion": rv},
        "spec": {"instances": instances, "imageName": IMAGE},
        "status": status,
    }


def healthy(instances=3, rv="9", **kwargs):
    return cluster(PHASE_HEALTHY, ready_instances=instances, instances=instances, ready="True", rv=rv, **kwargs)


def event(obj, kind="MODIFIED"):
    return {"type": kind, "object": obj}


# A healthy single-instance Cluster exactly as CloudNativePG v1.30.0 writes it (commit
# 4b5e244a7d031f67e025c83c1555e7726ecbbfa1):
# - phase and the Ready condition as internal/cmd/plugin/promote/promote_test.go:53-70 sets them up for a
#   healthy cluster, and as pkg/resources/status/transactions.go:34-56 (SetClusterReadyCondition) builds
#   the condition: Type, Status, Reason, Message, and the lastTransitionTime meta.SetStatusCondition adds.
#   There is no observedGeneration, on the condition or anywhere in the status.
# - instances, instanceNames, readyInstances, instancesStatus: pkg/reconciler/persistentvolumeclaim/status.go:228-233;
# - image and pgDataImageInfo: internal/controller/cluster_image.go:59-66 (reconcileImage, first run);
# - the spec as the operator's defaulting webhook leaves it for `instances: 1` and no imageName
#   (pkg/versions/versions.go:29, DefaultImageName).
# metadata.generation is 3 on purpose: CloudNativePG's status says nothing of it.
CNPG_1_30_HEALTHY = {
    "apiVersion": "postgresql.cnpg.io/v1",
    "kind": "Cluster",
    "metadata": {"name": "cluster1", "namespace": "theNamespace", "generation": 3, "resourceVersion": "4711"},
    "spec": {"instances": 1, "imageName": IMAGE},
    "status": {
        "currentPrimary": "cluster1-1",
        "targetPrimary": "cluster1-1",
        "phase": "Cluster in healthy state",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ClusterIsReady",
                "message": "Cluster is Ready",
                "lastTransitionTime": "2026-12-01T10:00:00Z",
            }
        ],
        "instances": 1,
        "instanceNames": ["cluster1-1"],
        "readyInstances": 1,
        "instancesStatus": {"healthy": ["cluster1-1"]},
        "image": IMAGE,
        "pgDataImageInfo": {"image": IMAGE, "majorVersion": 18},
        "cloudNativePGCommitHash": "4b5e244a7",
        "writeService": "cluster1-rw",
        "readService": "cluster1-r",
    },
}


def changed_after_status(**spec):
    """CNPG_1_30_HEALTHY after a spec change the operator has not reconciled yet: the status is the old one."""
    obj = copy.deepcopy(CNPG_1_30_HEALTHY)
    obj["spec"].update(spec)
    obj["metadata"]["generation"] += 1
    return obj


# ----------------------------------------------------------------------------------------------
# Pure functions
# ----------------------------------------------------------------------------------------------


def test_cluster_as_cnpg_1_30_writes_it_is_ready():
    """The readiness rule works on the real operator's status, which has no observedGeneration."""
    assert evaluate_readiness(CNPG_1_30_HEALTHY) == (True, [])


@pytest.mark.parametrize(
    "spec, unmet",
    [
        ({"instances": 3}, ["readyInstances 1/3", "1 instances exist, 3 wanted"]),
        (
            {"imageName": "ghcr.io/cloudnative-pg/postgresql:18.5-system-trixie"},
            [
                "status.image is '" + IMAGE + "', not spec.imageName "
                "'ghcr.io/cloudnative-pg/postgresql:18.5-system-trixie' yet"
            ],
        ),
    ],
    ids=["scaled-up", "new-image"],
)
def test_spec_changed_after_the_status_is_not_ready(spec, unmet):
    """A healthy status from before a change of instances or image is stale, and says what it waits for."""
    assert evaluate_readiness(changed_after_status(**spec)) == (False, unmet)


@pytest.mark.parametrize(
    "obj, ready, unmet_fragment",
    [
        (healthy(), True, None),
        (None, False, "does not exist"),
        (cluster(), False, "no Ready condition"),
        (cluster(PHASE_HEALTHY, 2, 3, ready="True"), False, "readyInstances 2/3"),
        (cluster("Creating a new replica", 3, 3, ready="True"), False, "phase is 'Creating a new replica'"),
        (cluster(PHASE_HEALTHY, 3, 3, ready="False"), False, "condition Ready is 'False'"),
    ],
    ids=["healthy", "absent", "no-condition", "replicas", "phase", "ready-false"],
)
def test_evaluate_readiness(obj, ready, unmet_fragment):
    got_ready, unmet = evaluate_readiness(obj)
    assert got_ready is ready
    if unmet_fragment:
        assert any(unmet_fragment in u for u in unmet), unmet
    else:
        assert unmet == []


def test_scale_down_still_removing_instances_is_not_ready():
    obj = healthy(instances=1)
    obj["status"]["instances"] = 3  # three instances' volumes still exist
    assert evaluate_readiness(obj) == (False, ["3 instances exist, 1 wanted"])


def test_expected_instances_overrides_spec():
    obj = cluster(PHASE_HEALTHY, 2, 3, ready="True")
    obj["status"]["instances"] = 2
    assert evaluate_readiness(obj)[0] is False
    assert evaluate_readiness(obj, expected_instances=2)[0] is True
    assert summarize(obj, expected_instances=2)["instances"] == 2


# Every Cluster phase string of CloudNativePG v1.30.0, api/v1/cluster_types.go (the Phase* constants,
# commit 4b5e244a7d031f67e025c83c1555e7726ecbbfa1), copied verbatim.
CNPG_1_30_PHASES = {
    "PhaseSwitchover": "Switchover in progress",
    "PhaseFailOver": "Failing over",
    "PhaseFirstPrimary": "Setting up primary",
    "PhaseCreatingReplica": "Creating a new replica",
    "PhaseUpgrade": "Upgrading cluster",
    "PhaseMajorUpgrade": "Upgrading Postgres major version",
    "PhaseUpgradeDelayed": "Cluster upgrade delayed",
    "PhaseWaitingForUser": "Waiting for user action",
    "PhaseInplacePrimaryRestart": "Primary instance is being restarted in-place",
    "PhaseInplaceDeletePrimaryRestart": "Primary instance is being restarted without a switchover",
    "PhaseHealthy": "Cluster in healthy state",
    "PhaseUnknownPlugin": "Cluster cannot proceed to reconciliation due to an unknown plugin being required",
    "PhaseFailurePlugin": "Cluster cannot proceed to reconciliation due to an error while interacting with plugins",
    "PhaseImageCatalogError": "Cluster has incomplete or invalid image catalog",
    "PhaseUnrecoverable": "Cluster is unrecoverable and needs manual intervention",
    "PhaseArchitectureBinaryMissing": "Cluster cannot execute instance online upgrade due to missing architecture binary",
    "PhaseWaitingForInstancesToBeActive": "Waiting for the instances to become active",
    "PhaseOnlineUpgrading": "Online upgrade in progress",
    "PhaseApplyingConfiguration": "Applying configuration",
    "PhaseReplicaClusterPromotion": "Promoting to primary cluster",
    "PhaseCannotCreateClusterObjects": "Unable to create required cluster objects",
    "PhaseDefinitionInvalid": "Invalid cluster definition",
}


def test_terminal_phases_are_the_exact_cnpg_strings():
    """Every terminal phase is one of CloudNativePG 1.30's phase strings, verbatim."""
    strings = set(CNPG_1_30_PHASES.values())
    assert PHASE_HEALTHY == CNPG_1_30_PHASES["PhaseHealthy"]
    assert set(TERMINAL_PHASES) <= strings
    assert len(TERMINAL_PHASES) == 6


@pytest.mark.parametrize("phase", sorted(TERMINAL_PHASES))
def test_terminal_phase_detected(phase):
    obj = cluster(phase, reason="because", ready="False")
    assert terminal_phase(obj) == (phase, "because", TERMINAL_PHASES[phase])
    # Without conditions (operator has not set Ready yet) the phase is taken as it is.
    assert terminal_phase(cluster(phase))[0] == phase


@pytest.mark.parametrize("phase", ["Setting up primary", "Waiting for user action", PHASE_HEALTHY, None])
def test_non_terminal_phases(phase):
    assert terminal_phase(cluster(phase)) is None


def test_summarize_fields():
    got = summarize(CNPG_1_30_HEALTHY)
    assert got["phase"] == PHASE_HEALTHY
    assert got["instances"] == 1 and got["ready_instances"] == 1
    assert got["current_primary"] == "cluster1-1"
    assert (got["write_service"], got["read_service"]) == ("cluster1-rw", "cluster1-r")
    assert got["conditions"][0]["type"] == "Ready"
    assert got["image"] == IMAGE
    # Services fall back to the names CloudNativePG gives them.
    assert summarize(cluster(name="pg"))["write_service"] == "pg-rw"
    assert summarize(None)["exists"] is False
