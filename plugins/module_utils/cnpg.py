# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudNativePG Cluster readiness rules: pure functions over the Cluster as a plain dict.

They take the Cluster as the API returns it, so they run without a cluster: in unit tests, in
the ``cnpg_cluster_ready`` filter on the controller (which should not pay for importing the
kubernetes client), and in ``cnpg_wait``'s watch loop behind the ``cnpg_cluster_wait`` module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

GROUP = "postgresql.cnpg.io"
VERSION = "v1"
API_VERSION = GROUP + "/" + VERSION
KIND = "Cluster"
PLURAL = "clusters"
RESOURCE = PLURAL + "." + GROUP

# Exact strings from cloudnative-pg v1.30.0 api/v1/cluster_types.go (the Phase* constants).
PHASE_HEALTHY = "Cluster in healthy state"

# Phases the operator does not leave without a change from a human: waiting is pointless.
TERMINAL_PHASES = {
    "Invalid cluster definition": "fix the Cluster spec (see phaseReason)",
    "Cluster is unrecoverable and needs manual intervention": "the operator needs manual intervention; see the "
    "CloudNativePG troubleshooting guide",
    "Unable to create required cluster objects": "check the operator logs and the operator's RBAC in this namespace",
    "Cluster cannot proceed to reconciliation due to an unknown plugin being required": "install the CNPG-I plugin "
    "named in spec.plugins or remove it from the spec",
    "Cluster cannot proceed to reconciliation due to an error while interacting with plugins": "check the CNPG-I "
    "plugin's deployment and logs",
    "Cluster has incomplete or invalid image catalog": "fix the ImageCatalog/ClusterImageCatalog referenced by "
    "spec.imageCatalogRef",
}


def _status(cluster):
    return (cluster or {}).get("status") or {}


def get_condition(cluster, condition_type):
    """The condition of ``condition_type`` in ``status.conditions``, or None."""
    for condition in _status(cluster).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == condition_type:
            return condition
    return None


def desired_instances(cluster, expected_instances=None):
    """How many ready instances make the Cluster complete: the override, else ``spec.instances``."""
    if expected_instances is not None:
        return expected_instances
    return ((cluster or {}).get("spec") or {}).get("instances")


def evaluate_readiness(cluster, expected_instances=None):
    """Return ``(ready, unmet)``: whether the Cluster is ready, and what is still missing.

    Ready means all of:

    - condition Ready is "True" (the operator sets it True exactly when it records the healthy
      phase: pkg/resources/status/transactions.go:34-56 and RegisterPhase in
      internal/controller/cluster_status.go:733-745, CloudNativePG v1.30.0);
    - status.phase is "Cluster in healthy state";
    - status.readyInstances and status.instances both equal spec.instances (or
      ``expected_instances``): the instance pods that are ready, and the instances that exist at
      all, so a scale-down still removing pods is not ready
      (pkg/reconciler/persistentvolumeclaim/status.go:228-232);
    - when spec.imageName is set, status.image equals it: the operator copies the image it runs
      into status.image once it has processed the request (reconcileImage,
      internal/controller/cluster_image.go:49-115), so a healthy status from before an image
      change is not taken as ready.

    CloudNativePG 1.30 records no generation in a Cluster's status or conditions, so nothing in the
    object alone proves the operator has seen the latest spec; ``cnpg_wait`` covers the moments
    right after a write (``spec_changed``).
    """
    if not cluster:
        return False, ["the Cluster does not exist"]
    unmet = []
    status = _status(cluster)
    spec = cluster.get("spec") or {}

    condition = get_condition(cluster, "Ready")
    if condition is None:
        unmet.append("no Ready condition yet")
    elif condition.get("status") != "True":
        unmet.append("condition Ready is '{0}'".format(condition.get("status")))

    want = desired_instances(cluster, expected_instances)
    if want is None:
        unmet.append("spec.instances is not set")
    else:
        have = status.get("readyInstances")
        if have != want:
            unmet.append("readyInstances {0}/{1}".format(have if have is not None else 0, want))
        existing = status.get("instances")
        if existing is not None and existing != want:
            unmet.append("{0} instances exist, {1} wanted".format(existing, want))

    phase = status.get("phase")
    if phase != PHASE_HEALTHY:
        unmet.append("phase is '{0}', not '{1}'".format(phase or "", PHASE_HEALTHY))

    image = spec.get("imageName")
    if image and status.get("image") != image:
        unmet.append("status.image is '{0}', not spec.imageName '{1}' yet".format(status.get("image") or "", image))
    return not unmet, unmet


def terminal_phase(cluster):
    """``(phase, phase_reason, hint)`` when the Cluster is in a terminal phase, else None.

    The Cluster carries no generation of the spec its phase describes, so a terminal phase read
    right after a spec change may predate it: ``cnpg_wait`` only acts on it once the status is
    current (``spec_changed``).
    """
    status = _status(cluster)
    phase = status.get("phase")
    if phase not in TERMINAL_PHASES:
        return None
    return phase, status.get("phaseReason"), TERMINAL_PHASES[phase]


def summarize(cluster, expected_instances=None):
    """The fields the module returns about a Cluster (None where unknown)."""
    status = _status(cluster)
    metadata = (cluster or {}).get("metadata") or {}
    name = metadata.get("name")
    return {
        "exists": bool(cluster),
        "phase": status.get("phase"),
        "phase_reason": status.get("phaseReason"),
        "instances": desired_instances(cluster, expected_instances),
        "ready_instances": status.get("readyInstances"),
        "current_primary": status.get("currentPrimary"),
        "write_service": status.get("writeService") or (name + "-rw" if name else None),
        "read_service": status.get("readService") or (name + "-r" if name else None),
        "conditions": status.get("conditions") or [],
        "image": status.get("image"),
    }


def describe_state(cluster, expected_instances=None):
    """One line for messages: phase, reason and instance counts."""
    if not cluster:
        return "the Cluster does not exist"
    summary = summarize(cluster, expected_instances)
    text = "phase '{0}'".format(summary["phase"] or "")
    if summary["phase_reason"]:
        text += " ({0})".format(summary["phase_reason"])
    text += ", readyInstances {0}/{1}".format(
        summary["ready_instances"] if summary["ready_instances"] is not None else 0, summary["instances"]
    )
    return text
