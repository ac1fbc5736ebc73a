"""`molecule test -s emulated`, end to end: create (the emulator, with the CNPG, Gateway API and
prometheus-operator CRDs and controllers), prepare, a check-mode pass with --diff, converge,
idempotence, verify (every object against the reference and the real schemas), destroy."""

import re

import pytest

from tests.integration.conftest import MOLECULE_LOG as LOG
from tests.integration.conftest import run_molecule_emulated

pytestmark = pytest.mark.slow
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STEPS = ("destroy", "syntax", "create", "prepare", "check", "converge", "idempotence", "verify")


def marker(step, what):
    """Molecule's step lines, as on a terminal ("emulated ➜ check: Executing") or not ("[emulated > check] Executing")."""
    return rf"(?:\[emulated > {step}\]|emulated ➜ {step}:) {what}"


def section(out, step):
    """The output of one step (its first run)."""
    start = re.search(marker(step, "Executing"), out)
    assert start, f"step {step} did not run"
    end = re.search(r"(?:\[emulated > \w+\]|emulated ➜ \w+:) Executed", out[start.end() :])
    return out[start.end() : start.end() + (end.start() if end else len(out))]


@pytest.fixture(scope="module")
def molecule_test():
    rc, out = run_molecule_emulated()
    return rc, ANSI.sub("", out)


def test_scenario_passes_every_step(molecule_test):
    rc, out = molecule_test
    assert rc == 0, out[-8000:]
    for step in STEPS:
        assert re.search(marker(step, "Executed: Successful"), out), f"step {step} did not succeed (see {LOG})"


def test_check_pass_before_converge_plans_changes(molecule_test):
    _, out = molecule_test
    check = section(out, "check")
    # --diff shows each object the object engine plans, headed by its ref.
    for ref in ("Namespace mlflow", "Cluster mlflow/mlflow-postgres", "ConfigMap mlflow/authentik-blueprint-mlflow"):
        assert f"+++ after: {ref}" in check, ref
    assert re.search(r"changed=[1-9]", check), "the check pass should report the planned changes"


def test_idempotence_step_found_no_change(molecule_test):
    _, out = molecule_test
    idempotence = section(out, "idempotence")
    assert re.search(r"changed=0\s", idempotence)
    assert "failed=0" in idempotence


def test_verify_compared_and_validated_every_object(molecule_test):
    _, out = molecule_test
    verify = section(out, "verify")
    assert "failed=0" in verify
    for task in (
        "Check the CloudNativePG Cluster (reference 3)",
        "Check the Helm release and its values",
        "Validate every object against the real schemas",
    ):
        assert task in verify
    assert re.search(r"[1-9][0-9]* object\(s\) valid, 0 invalid", verify)


def test_emulator_was_stopped(molecule_test):
    _, out = molecule_test
    destroy = out[[m.end() for m in re.finditer(marker("destroy", "Executing"), out)][-1] :]
    assert "Stop the emulator (the process create.yml started)" in destroy
