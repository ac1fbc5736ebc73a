# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What teardown.yml removes and keeps, from what its one read found."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _name(obj):
    return ((obj or {}).get("metadata") or {}).get("name") or ""


def _refs(objects, kind, namespace, note=""):
    return ["{0} {1}/{2}{3}".format(kind, namespace, _name(obj), note) for obj in objects or []]


def mlflow_teardown_plan(found, namespace, purge=False, check_mode=False):
    """``{remove, keep, text}`` for the objects ``found`` (the ``found`` answer of k8s_objects_info).

    ``found`` has the keys ``release`` (Helm's release records), ``blueprint``, ``cluster``,
    ``companions`` (what the roles made beside them, and with purge the copied credentials),
    ``pg_pvcs``, ``artifacts_pvc`` and ``secret``, each a list of objects. The data (volumes and
    the credentials Secret) is removed only with ``purge``.
    """
    found = found or {}
    data = (
        _refs(found.get("pg_pvcs"), "PersistentVolumeClaim", namespace, " (PostgreSQL data)")
        + _refs(found.get("artifacts_pvc"), "PersistentVolumeClaim", namespace, " (MLflow artifacts)")
        + _refs(found.get("secret"), "Secret", namespace, " (database credentials)")
    )
    releases = sorted({((r.get("metadata") or {}).get("labels") or {}).get("name") for r in found.get("release") or []})
    remove = ["Helm release {0}/{1}".format(namespace, name) for name in releases if name]
    remove += _refs(found.get("blueprint"), "ConfigMap", namespace, " (authentik blueprint)")
    remove += _refs(
        found.get("cluster"), "Cluster", namespace, " (CloudNativePG: its pods, services and generated secrets)"
    )
    remove += [
        "{0} {1}/{2}".format(obj.get("kind"), (obj.get("metadata") or {}).get("namespace") or namespace, _name(obj))
        for obj in found.get("companions") or []
    ]
    keep = []
    if purge:
        remove += data
    else:
        keep += data
    keep.append("Namespace {0} and every other object in it, the authentik outpost".format(namespace))
    if not purge:
        keep.append("(set purge_data=true and teardown_confirm_namespace={0} to delete the data too)".format(namespace))
    lines = ["Check mode: would remove:" if check_mode else "Removing:"]
    lines += ["  - " + line for line in remove or ["nothing (already removed)"]]
    lines.append("Would keep:" if check_mode else "Keeping:")
    lines += ["  - " + line for line in keep]
    return dict(remove=remove, keep=keep, text="\n".join(lines))


class FilterModule(object):
    def filters(self):
        return {"mlflow_teardown_plan": mlflow_teardown_plan}
