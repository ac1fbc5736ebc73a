# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The object engine: a role's manifests applied, its switched-off objects removed, other objects read.

Used by the action plugin apocrathia.mlflow.k8s_objects (docs/development.md says why an action
plugin). One ``Engine.run`` call:

1. reads the objects asked for (``lookups``), each answered in ``lookups`` (in order) and, when
   the entry has a ``key``, in ``found[key]``;
2. applies each manifest with server-side apply under the collection's field manager
   (``FIELD_MANAGER``): the API server merges it, removes the fields this manager set before and
   no longer sends, and stores quantities and defaults as it does. "Changed" is the server's
   answer: an apply that leaves the object's resourceVersion alone changed nothing. Conflicts with
   other managers are forced: the inventory is the desired state of every field a role sends
   (a hand edit of such a field is taken back, as ``kubectl apply --server-side
   --force-conflicts`` does), and the fields a role does not send stay with their owners;
3. deletes the switched-off objects (``absent``) that exist, with ``propagationPolicy: Orphan``, so
   what they own stays (a ScheduledBackup's Backups, their volume snapshots).

In check mode every apply and delete is sent as a server-side dry run (``dryRun=All``), so the
answer is the API server's (the object it would store, compared with the live one); an object in
a namespace that this run would create is reported without a request (the server refuses even a
dry run there).

Objects written by the engine before it used server-side apply carry their fields under the
Python client's default manager (``LEGACY_FIELD_MANAGERS``, operation Update). Before the first
apply, those fields are moved to the collection's manager, as client-go's ``csaupgrade`` moves
kubectl's client-side apply fields; otherwise a field the role stops sending would stay.

Every request runs under the retry policy of module_utils/k8s_client.py (429, 5xx, dropped
connections, a create lost to a 409; never 403 or 422), once, here; tasks do not retry.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

from ansible_collections.apocrathia.mlflow.plugins.module_utils.helm_release import release_status
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_client import (
    ApiError,
    K8sError,
    call,
    request,
)
from ansible_collections.apocrathia.mlflow.plugins.module_utils.k8s_objects import (
    changed_paths,
    comparable,
    describe,
    object_not_found,
    object_ref,
    without_managed_fields,
)

try:
    from kubernetes.dynamic.exceptions import NotFoundError
    from kubernetes.dynamic.resource import Resource
except ImportError:  # reported by the caller's requirement check
    NotFoundError = Resource = None

# What a result's ``action`` says happened to an object.
UNCHANGED = "unchanged"
CREATED = "created"
UPDATED = "updated"
DELETED = "deleted"
PLANNED = "planned"  # check mode: the dry run's answer; ``operation`` says create, update or delete
SKIPPED = "skipped"  # skip_unserved: the API server does not serve the kind (CRD not installed)

# The field manager of every apply: the fields it owns are the ones the roles send.
FIELD_MANAGER = "apocrathia.mlflow"
# What the engine's create and patch requests were recorded as before it applied server-side: the
# kubernetes Python client's User-Agent (OpenAPI-Generator/<version>/python), which the API server
# takes as the manager of an Update when the request names none.
LEGACY_FIELD_MANAGERS = ("OpenAPI-Generator",)
JSON_PATCH = "application/json-patch+json"
ORPHAN = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Orphan"}

# Shown instead of a Secret's values in diffs and returned objects.
HIDDEN = "<hidden>"
HIDDEN_CHANGED = "<hidden, changed>"
# Metadata that changes on every write and says nothing about the object: left out of diffs.
_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


class ObjectReader:
    """GET and LIST through kubernetes.core's client; a missing kind or object is an answer, not an error.

    The kinds are looked up in the API server's discovery document of their group version, read
    once per reader (one request per group version a call uses), instead of through
    kubernetes.core's discoverer: that one reads ``/version`` and ``/apis`` again, rewriting its
    file cache, for each form of a kind it does not find (kind, plural, singular, short names:
    twelve requests for one kind whose CRD is not installed), and its file cache never keeps the
    group versions it reads, so every task read them again anyway.
    """

    def __init__(self, client):
        self.client = client
        self._resources = {}
        self._group_versions = {}
        self._discovery_refreshed = False

    def _discovered(self, api_version):
        """The resource entries of ``api_version``'s discovery document, [] when it is not served."""
        if api_version not in self._group_versions:
            path = "/api/v1" if api_version == "v1" else "/apis/" + api_version

            def attempt():
                try:
                    response = request(self.client, "get", path, "discover", _request_timeout=30)
                except ApiError as e:
                    if e.status == 404:  # the group version is not served (no CRD)
                        return {}
                    raise
                return json.loads(response.data)

            document = call(attempt, "discover", api_version)
            self._group_versions[api_version] = (document or {}).get("resources") or []
        return self._group_versions[api_version]

    def _find(self, api_version, kind):
        """kubernetes' ``Resource`` for ``kind`` in ``api_version`` (matched, as kubernetes.core does,
        by kind, then by plural, singular or short name), or None when it is not served."""
        entries = [e for e in self._discovered(api_version) if isinstance(e, dict) and "/" not in e.get("name", "/")]
        lowered = kind.lower()
        match = next((e for e in entries if e.get("kind") == kind), None) or next(
            (
                e
                for e in entries
                if lowered in (e.get("name"), e.get("singularName") or "") or kind in (e.get("shortNames") or [])
            ),
            None,
        )
        if match is None:
            return None
        subresources = {}
        for entry in self._discovered(api_version):
            owner, _, sub = (entry.get("name") or "").partition("/")
            if sub and owner == match["name"]:
                subresources[sub] = entry
        group, _, version = api_version.rpartition("/")
        fields = {k: v for k, v in match.items() if k not in ("prefix", "group", "api_version", "client", "preferred")}
        return Resource(
            prefix="apis" if group else "api",
            group=group,
            api_version=version,
            client=self.client.client,
            preferred=True,
            subresources=subresources or None,
            **fields,
        )

    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key not in self._resources:
            self._resources[key] = self._find(api_version, kind)
        return self._resources[key]

    def refresh_discovery(self, api_version, kind):
        """The resource after its group version's discovery is read again (once per reader): a
        kind whose CRD was removed since this reader read it."""
        if not self._discovery_refreshed:
            self._discovery_refreshed = True
            self._group_versions.pop(api_version, None)
            for key in [key for key in self._resources if key[0] == api_version]:
                del self._resources[key]
        return self.resource(api_version, kind)

    def read(self, api_version, kind, name=None, namespace=None, label_selector=None, managed_fields=False):
        """(api_found, [objects]) for one object, or for every object of the kind (matching
        ``label_selector``) without a name; ``metadata.managedFields`` only with ``managed_fields``."""
        resource = self.resource(api_version, kind)
        if resource is None:
            return False, []
        params = {}
        if name:
            params["name"] = name
        if namespace and resource.namespaced:
            params["namespace"] = namespace
        if label_selector and not name:
            params["label_selector"] = label_selector
        what = describe(api_version, kind, name, namespace)
        kind_gone = []

        def attempt():
            try:
                return self.client.get(resource, **params)
            except NotFoundError as e:
                # A missing object's 404 names it; a 404 that does not is a kind the server
                # no longer serves (the discovery cache was stale).
                if not (name and object_not_found(e.body, name)):
                    kind_gone.append(True)
                return None

        found = call(attempt, "read", what)
        if kind_gone and not self._discovery_refreshed:
            if self.refresh_discovery(api_version, kind) is None:
                return False, []
            return self.read(api_version, kind, name, namespace, label_selector, managed_fields)
        if found is None:
            return True, []
        found = found.to_dict()
        items = found.get("items") if not name else None
        objects = items if items is not None else [found]
        return True, objects if managed_fields else [without_managed_fields(obj) for obj in objects]


def sets_only_its_name(definition):
    """Whether a manifest sets nothing beyond apiVersion, kind, name and namespace (a bare Namespace)."""
    metadata = definition.get("metadata") or {}
    return set(definition) <= {"apiVersion", "kind", "metadata"} and set(metadata) <= {"name", "namespace"}


def merged_fields(left, right):
    """The union of two managedFields field sets (FieldsV1: nested maps whose leaves are {})."""
    result = dict(left)
    for key, value in right.items():
        result[key] = merged_fields(result.get(key) or {}, value) if isinstance(value, dict) else value
    return result


def check_definition(index, definition):
    """(api_version, kind, name, namespace) of a manifest, or K8sError naming the bad entry."""
    metadata = definition.get("metadata") if isinstance(definition, dict) else None
    if not (
        isinstance(metadata, dict) and definition.get("apiVersion") and definition.get("kind") and metadata.get("name")
    ):
        raise K8sError("definitions[{0}] needs apiVersion, kind and metadata.name.".format(index))
    return definition["apiVersion"], definition["kind"], metadata["name"], metadata.get("namespace") or ""


def data_digest(obj):
    """sha256 of an object's ``data`` as sorted JSON (what ``to_json(sort_keys=true) | hash('sha256')`` gives)."""
    data = (obj or {}).get("data") or {}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


def masked(obj, other=None):
    """A Secret without its values: each key of data and stringData shows only whether it differs
    from ``other`` (the object it is compared with). Other kinds are returned as they are."""
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return obj
    result = dict(obj)
    other_data = comparable(other).get("data") or {} if isinstance(other, dict) else {}
    own_data = comparable(obj).get("data") or {}
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            result[field] = {
                key: HIDDEN if other is None or other_data.get(key) == own_data.get(key) else HIDDEN_CHANGED
                for key in obj[field]
            }
    return result


def for_diff(obj):
    """An object as a diff shows it: without metadata that changes on every write, nor status."""
    if not obj:
        return {}
    obj = dict(obj)
    obj.pop("status", None)
    metadata = dict(obj.get("metadata") or {})
    for key in _VOLATILE_METADATA:
        metadata.pop(key, None)
    obj["metadata"] = metadata
    return obj


class Engine:
    """Apply, delete and read Kubernetes objects through kubernetes.core's client (``K8SClient``)."""

    def __init__(self, client, check_mode=False, diff=False, reader=None):
        self.client = client
        self.check_mode = check_mode
        self.diff = diff
        self.reader = reader or ObjectReader(client)
        # Namespaces this check-mode run would create: objects in them are not dry-run.
        self._planned_namespaces = set()

    # -- entry point ---------------------------------------------------------------------------

    def run(
        self,
        definitions=(),
        absent=(),
        lookups=(),
        namespace=None,
        namespace_labels=None,
        return_live=False,
        skip_unserved=False,
    ):
        definitions = list(definitions or [])
        # Every manifest is checked before the first request, so a bad one changes nothing.
        refs = [check_definition(index, definition) for index, definition in enumerate(definitions)]
        if namespace:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            if namespace_labels:
                ns["metadata"]["labels"] = dict(namespace_labels)
            definitions.insert(0, ns)
            refs.insert(0, ("v1", "Namespace", namespace, ""))
        # Namespaces first, so the objects in them can be created.
        order = sorted(range(len(definitions)), key=lambda i: refs[i][1] != "Namespace")

        found = {}
        read = []
        for entry in lookups or []:
            answer = self.lookup(entry)
            read.append(answer)
            if entry.get("key"):
                found[entry["key"]] = answer

        results = [None] * len(definitions)
        for index in order:
            results[index] = self.apply(definitions[index], refs[index], return_live, skip_unserved)
        removed = [self.delete(entry) for entry in absent or []]

        objects = results + removed
        return dict(
            changed=any(entry["action"] not in (UNCHANGED, SKIPPED) for entry in objects),
            objects=objects,
            lookups=read,
            found=found,
        )

    # -- reads ---------------------------------------------------------------------------------

    def lookup(self, entry):
        api_version, kind = entry["api_version"], entry["kind"]
        name, namespace = entry.get("name") or "", entry.get("namespace") or ""
        api_found, objects = self.reader.read(api_version, kind, name, namespace, entry.get("label_selector"))
        answer = dict(
            key=entry.get("key") or "",
            api_version=api_version,
            kind=kind,
            name=name,
            namespace=namespace,
            api_found=api_found,
            exists=bool(objects),
        )
        if entry.get("digest"):
            answer["digest"] = data_digest(objects[0]) if objects else ""
        if entry.get("helm_release"):
            try:
                answer["release"] = release_status(objects)
            except ValueError as e:
                raise K8sError(str(e)) from e
        if entry.get("digest") or entry.get("metadata_only") or entry.get("helm_release"):
            objects = [{key: obj.get(key) for key in ("apiVersion", "kind", "metadata")} for obj in objects]
        answer["resources"] = objects
        return answer

    # -- writes --------------------------------------------------------------------------------

    def _result(
        self,
        ref,
        action,
        api_found=True,
        operation="",
        differing=(),
        before=None,
        after=None,
        live=None,
        return_live=False,
    ):
        api_version, kind, name, namespace = ref
        result = dict(
            ref=object_ref(kind, name, namespace),
            api_version=api_version,
            kind=kind,
            name=name,
            namespace=namespace,
            api_found=api_found,
            action=action,
            operation=operation,
            differences=list(differing),
        )
        if self.diff and action not in (UNCHANGED, SKIPPED):
            result["diff"] = dict(
                before_header=result["ref"],
                after_header=result["ref"],
                before=masked(for_diff(before), after) if before else {},
                after=masked(for_diff(after), before) if after else {},
            )
        if return_live:
            result["live"] = masked(live) if live else {}
        return result

    def apply(self, definition, ref, return_live=False, skip_unserved=False):
        api_version, kind, name, namespace = ref
        # Discovery is read during this call, so a kind it does not list is not served (no
        # cache of an earlier run to refresh).
        resource = self.reader.resource(api_version, kind)
        if resource is None:
            if skip_unserved:
                return self._result(ref, SKIPPED, api_found=False, return_live=return_live)
            raise K8sError(
                "{0} ({1}) is not served by the cluster: its CRD is not installed.".format(kind, api_version)
            )
        if namespace in self._planned_namespaces:
            # Check mode, in a namespace this run would create: the server would refuse a dry run.
            return self._result(
                ref,
                PLANNED,
                operation="create",
                differing=["."],
                after=definition,
                live=definition,
                return_live=return_live,
            )
        _, objects = self.reader.read(api_version, kind, name, namespace, managed_fields=True)
        live = objects[0] if objects else None
        if live is not None and sets_only_its_name(definition):
            # Nothing to apply to an object that exists. (An apply owning no field leaves no
            # managedFields entry; the API server then records the next apply's takeover as a
            # write, "before-first-apply", and the re-run would report a change.)
            return self._result(ref, UNCHANGED, live=without_managed_fields(live), return_live=return_live)
        if live is not None and not self.check_mode:
            live = self._adopt_legacy_fields(resource, live, ref)
        after = self._apply(resource, comparable(definition), ref)
        if live is None:
            differing = ["."]
        elif self.check_mode:
            # A dry run stores nothing, so the resourceVersion says nothing: compare what it would store.
            differing = changed_paths(for_diff(live), for_diff(after))
        elif after["metadata"].get("resourceVersion") == live["metadata"].get("resourceVersion"):
            differing = []
        else:
            differing = changed_paths(for_diff(live), for_diff(after)) or ["metadata"]
        live = without_managed_fields(live) if live else None
        if not differing:
            return self._result(ref, UNCHANGED, live=after, return_live=return_live)
        operation = "update" if live else "create"
        if self.check_mode:
            action = PLANNED
            if kind == "Namespace" and live is None:
                self._planned_namespaces.add(name)
        else:
            action = UPDATED if live else CREATED
        return self._result(
            ref,
            action,
            operation=operation,
            differing=differing,
            before=live,
            after=after,
            live=after,
            return_live=return_live,
        )

    def _params(self, resource, ref):
        params = {"name": ref[2]}
        if ref[3] and resource.namespaced:
            params["namespace"] = ref[3]
        if self.check_mode:
            params["dry_run"] = "All"
        return params

    def _apply(self, resource, body, ref):
        """The object the API server stores (or, in check mode, would store) for ``body``."""
        api_version, kind, name, namespace = ref
        params = self._params(resource, ref)
        # The dynamic client's own server-side apply: kubernetes.core's K8SClient.apply would
        # read the object again first, which this engine has just done.
        answer = call(
            lambda: self.client.client.server_side_apply(
                resource, body=body, field_manager=FIELD_MANAGER, force_conflicts=True, **params
            ),
            "apply",
            describe(api_version, kind, name, namespace),
        )
        answer = answer.to_dict() if hasattr(answer, "to_dict") else answer
        return without_managed_fields(answer)

    def _adopt_legacy_fields(self, resource, live, ref):
        """``live`` after the fields that earlier versions of the engine wrote are moved to ``FIELD_MANAGER``.

        One JSON patch of ``metadata.managedFields``, guarded by the resourceVersion read, as
        client-go's csaupgrade.UpgradeManagedFieldsPatch builds it (k8s.io/client-go
        util/csaupgrade/upgrade.go): the legacy Update entries go, and their fields join this
        manager's Apply entry. Nothing else of the object changes. A lost race (the guard fails,
        422) leaves the object as it is: the apply that follows still sets every field sent.
        """
        entries = (live.get("metadata") or {}).get("managedFields") or []

        def of(managers, operation):
            """The entries of the object itself (not a subresource) by ``managers`` with ``operation``."""
            return [
                entry
                for entry in entries
                if entry.get("manager") in managers
                and entry.get("operation") == operation
                and not entry.get("subresource")
            ]

        legacy = of(LEGACY_FIELD_MANAGERS, "Update")
        if not legacy:
            return live
        own = of((FIELD_MANAGER,), "Apply")
        fields = {}
        for entry in own + legacy:
            fields = merged_fields(fields, entry.get("fieldsV1") or {})
        adopted = dict(own[0] if own else legacy[0])
        adopted.update(manager=FIELD_MANAGER, operation="Apply", fieldsType="FieldsV1", fieldsV1=fields)
        adopted.pop("subresource", None)
        kept = [entry for entry in entries if entry not in legacy and entry not in own] + [adopted]
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": live["metadata"].get("resourceVersion")},
            {"op": "replace", "path": "/metadata/managedFields", "value": kept},
        ]
        api_version, kind, name, namespace = ref
        try:
            answer = call(
                lambda: self.client.patch(resource, patch, content_type=JSON_PATCH, **self._params(resource, ref)),
                "patch",
                describe(api_version, kind, name, namespace),
            )
        except ApiError as e:
            if e.status not in (409, 422):
                raise
            return live
        return answer.to_dict() if hasattr(answer, "to_dict") else answer

    def delete(self, entry):
        ref = (entry["api_version"], entry["kind"], entry["name"], entry.get("namespace") or "")
        api_version, kind, name, namespace = ref
        api_found, objects = self.reader.read(api_version, kind, name, namespace)
        if not objects:
            return self._result(ref, UNCHANGED, api_found=api_found)
        resource = self.reader.resource(api_version, kind)
        params = dict(self._params(resource, ref), body=copy.deepcopy(ORPHAN))
        try:
            call(lambda: self.client.delete(resource, **params), "delete", describe(api_version, kind, name, namespace))
        except ApiError as e:
            if e.status != 404:
                raise
            # Gone meanwhile: what was asked for.
            return self._result(ref, UNCHANGED)
        return self._result(
            ref,
            PLANNED if self.check_mode else DELETED,
            operation="delete",
            differing=["."],
            before=objects[0],
        )
