"""The CloudNativePG readiness rules of module_utils/cnpg.py (pure functions over a Cluster dict)."""

import re

import pytest
from ansible_collections.apocrathia.mlflow.plugins.module_utils.cnpg import (
    PHASE_HEALTHY,
    TERMINAL_PHASES,
    evaluate_readiness,
    summarize,
    terminal_phase,
)

from tests.support import paths


def cluster(
    phase="Setting up primary",
    ready_instances=0,
    instances=3,
    generation=1,
    ready=None,
    observed=None,
    reason=None,
    name="db",
    rv="1",
):
    """A Cluster as the API returns it. ``ready`` is the Ready condition status ("True"/"False")."""
    status = {"phase": phase, "readyInstances": ready_instances, "instances": instances}
    if reason is not None:
        status["phaseReason"] = reason
    if ready is not None:
        condition = {"type": "Ready", "status": ready, "reason": "ClusterIsReady" if ready == "True" else "x"}
        if observed is not None:
            condition["observedGeneration"] = observed
        status["conditions"] = [condition]
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": "ns", "generation": generation, "resourceVersion": rv},
        "spec": {"instances": instances},
        "status": status,
    }


def healthy(generation=1, instances=3, rv="9", **kwargs):
    return cluster(
        PHASE_HEALTHY,
        ready_instances=instances,
        instances=instances,
        generation=generation,
        ready="True",
        observed=generation,
        rv=rv,
        **kwargs,
    )


def event(obj, kind="MODIFIED"):
    return {"type": kind, "object": obj}


# ----------------------------------------------------------------------------------------------
# Pure functions
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj, ready, unmet_fragment",
    [
        (healthy(), True, None),
        (None, False, "does not exist"),
        (cluster(), False, "no Ready condition"),
        # A Ready condition left over from generation 1 after a spec change to generation 2.
        (
            cluster(PHASE_HEALTHY, 3, 3, generation=2, ready="True", observed=1),
            False,
            "stale (observedGeneration 1, metadata.generation 2)",
        ),
        (cluster(PHASE_HEALTHY, 3, 3, ready="True"), False, "no observedGeneration"),
        (cluster(PHASE_HEALTHY, 2, 3, ready="True", observed=1), False, "readyInstances 2/3"),
        (cluster("Creating a new replica", 3, 3, ready="True", observed=1), False, "phase is 'Creating a new replica'"),
        (cluster(PHASE_HEALTHY, 3, 3, ready="False", observed=1), False, "condition Ready is 'False'"),
    ],
    ids=["healthy", "absent", "no-condition", "stale-ready", "no-observed", "replicas", "phase", "ready-false"],
)
def test_evaluate_readiness(obj, ready, unmet_fragment):
    got_ready, unmet = evaluate_readiness(obj)
    assert got_ready is ready
    if unmet_fragment:
        assert any(unmet_fragment in u for u in unmet), unmet
    else:
        assert unmet == []


def test_expected_instances_overrides_spec():
    obj = cluster(PHASE_HEALTHY, 2, 3, ready="True", observed=1)
    assert evaluate_readiness(obj)[0] is False
    assert evaluate_readiness(obj, expected_instances=2)[0] is True
    assert summarize(obj, expected_instances=2)["instances"] == 2


def test_terminal_phases_are_the_exact_cnpg_strings():
    """Every terminal phase appears verbatim in the phase table of the shared NOTES.md (CNPG v1.30.0)."""
    notes = (paths.SCHEMAS_DIR / "NOTES.md").read_text()
    strings = set(re.findall(r"^\| Phase\w+ \| `([^`]+)` \|$", notes, flags=re.M))
    assert PHASE_HEALTHY in strings
    assert set(TERMINAL_PHASES) <= strings
    assert len(TERMINAL_PHASES) == 6


@pytest.mark.parametrize("phase", sorted(TERMINAL_PHASES))
def test_terminal_phase_detected(phase):
    obj = cluster(phase, reason="because", ready="False", observed=1)
    assert terminal_phase(obj) == (phase, "because", TERMINAL_PHASES[phase])
    # Without conditions (operator has not set Ready yet) the phase is taken as current.
    assert terminal_phase(cluster(phase))[0] == phase


def test_stale_terminal_phase_is_not_terminal():
    """Invalid definition recorded for generation 1, spec fixed (generation 2), not reconciled yet."""
    obj = cluster("Invalid cluster definition", generation=2, ready="False", observed=1)
    assert terminal_phase(obj) is None


@pytest.mark.parametrize("phase", ["Setting up primary", "Waiting for user action", PHASE_HEALTHY, None])
def test_non_terminal_phases(phase):
    assert terminal_phase(cluster(phase)) is None


def test_summarize_fields():
    obj = healthy()
    obj["status"].update(currentPrimary="db-1", writeService="db-rw", readService="db-r")
    got = summarize(obj)
    assert got["phase"] == PHASE_HEALTHY
    assert got["instances"] == 3 and got["ready_instances"] == 3
    assert got["current_primary"] == "db-1"
    assert (got["write_service"], got["read_service"]) == ("db-rw", "db-r")
    assert got["conditions"][0]["type"] == "Ready"
    assert got["generation"] == 1 and got["observed_generation"] == 1
    # Services fall back to the names CloudNativePG gives them.
    assert summarize(cluster(name="pg"))["write_service"] == "pg-rw"
    assert summarize(None)["exists"] is False
