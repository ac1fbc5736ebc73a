"""The object store: resource types, objects, resourceVersions, watch events and the write path."""

import json
import re
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import patch as patches
from .defaults import apply_defaults
from .errors import ApiError
from .resources import BUILTINS, from_crd

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
_NS_RT_KEY = ("", "namespaces")
_CRD_RT_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")


def clone(obj):
    """A deep copy of a JSON-shaped object (much faster than copy.deepcopy)."""
    return json.loads(json.dumps(obj))


def now():
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_validation: str = WARN
    field_manager: str = ""
    force: bool = False
    warnings: list = field(default_factory=list)


# -- selectors --------------------------------------------------------------------------------
_REQ = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)(?:\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*")


def parse_label_selector(text):
    """Predicates for a labelSelector string: =, ==, !=, in, notin, exists and !exists."""
    preds = []
    rest = text or ""
    while rest.strip():
        match = _REQ.match(rest)
        if not match or match.end() == 0:
            raise ApiError.bad_request(f"unable to parse requirement: {rest!r}")
        neg, key, op, value, set_op, values = match.groups()
        if op in ("=", "=="):
            preds.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif op == "!=":
            preds.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif set_op:
            options = {v.strip() for v in values.split(",") if v.strip()}
            if set_op == "in":
                preds.append(lambda labels, k=key, o=options: labels.get(k) in o)
            else:
                preds.append(lambda labels, k=key, o=options: labels.get(k) not in o)
        else:
            preds.append(lambda labels, k=key, n=bool(neg): (k in labels) != n)
        rest = rest[match.end() :]
        if rest.startswith(","):
            rest = rest[1:]
        elif rest.strip():
            raise ApiError.bad_request(f"unable to parse requirement: {rest!r}")
    return preds


def parse_field_selector(text):
    preds = []
    for part in filter(None, (text or "").split(",")):
        match = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match or match.group(1) not in ("metadata.name", "metadata.namespace"):
            raise ApiError.bad_request(
                f'"{part}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        key, op, value = match.groups()
        field_name = key.split(".")[1]
        if op == "!=":
            preds.append(lambda o, f=field_name, v=value: o["metadata"].get(f, "") != v)
        else:
            preds.append(lambda o, f=field_name, v=value: o["metadata"].get(f, "") == v)
    return preds


@dataclass
class Selector:
    namespace: str | None = None
    labels: list = field(default_factory=list)
    fields: list = field(default_factory=list)

    @classmethod
    def parse(cls, namespace=None, label_selector=None, field_selector=None):
        return cls(namespace, parse_label_selector(label_selector), parse_field_selector(field_selector))

    def matches(self, obj):
        meta = obj["metadata"]
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        labels = meta.get("labels") or {}
        return all(p(labels) for p in self.labels) and all(p(obj) for p in self.fields)


@dataclass
class Watcher:
    key: tuple
    selector: Selector
    push: object  # called (from any thread) with (type, obj)


# -- the store --------------------------------------------------------------------------------
class Store:
    def __init__(self, schemas, history=5000):
        self.lock = threading.RLock()
        self.schemas = schemas
        self.types = {}  # (group, version, plural) -> ResourceType
        self.objects = {}  # rt.key -> {(namespace, name): object}
        self.rv = 0
        self.events = deque(maxlen=history)  # (rv, rt.key, type, object, object before a MODIFIED)
        self.compacted = 0  # watches from before this resourceVersion get 410 Gone
        self.watchers = []
        self.listeners = []  # callables (event_type, rt, obj), run under the lock: schedule, don't block
        # Mutating admission (a webhook's defaulting): rt.key -> callables (obj, old) that change obj
        # in place, run after the schema's defaults and before validation, on create and update.
        self.mutators = {}
        for rt in BUILTINS:
            self.register(rt)

    # -- types ----------------------------------------------------------------------------------
    def register(self, rt):
        with self.lock:
            self.types[(rt.group, rt.version, rt.plural)] = rt
            self.objects.setdefault(rt.key, {})

    def lookup(self, group, version, plural):
        return self.types.get((group, version, plural))

    def find_kind(self, api_version, kind):
        group, _, version = api_version.rpartition("/")
        for rt in list(self.types.values()):
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        raise ApiError(
            404,
            f'the server could not find the requested resource: no kind "{kind}" is registered for version "{api_version}"',
        )

    def all_types(self):
        return list(self.types.values())

    # -- reading ----------------------------------------------------------------------------------
    def get(self, rt, namespace, name):
        with self.lock:
            obj = self.objects.get(rt.key, {}).get((namespace if rt.namespaced else None, name))
            if obj is None:
                raise ApiError.not_found(rt, name)
            return self._out(rt, obj)

    def list(self, rt, selector=None):
        with self.lock:
            selector = selector or Selector()
            stored = sorted(self.objects.get(rt.key, {}).items(), key=_sort_key)
            return [self._out(rt, o) for _, o in stored if selector.matches(o)], str(self.rv)

    def watch(self, rt, selector, since, push):
        """Register a watcher; returns the events it must send first. 410 Gone for a compacted version."""
        with self.lock:
            if since in (None, "", "0"):
                initial = [("ADDED", o) for o in self.list(rt, selector)[0]]
            else:
                try:
                    since_rv = int(since)
                except ValueError as exc:
                    raise ApiError.bad_request(f"invalid resource version {since!r}") from exc
                if since_rv < self.compacted:
                    raise ApiError(410, f"too old resource version: {since_rv} ({self.compacted})", "Expired")
                initial = []
                for rv, key, etype, obj, before in self.events:
                    seen_as = _seen_as(etype, obj, before, selector) if rv > since_rv and key == rt.key else None
                    if seen_as:
                        initial.append((seen_as, self._out(rt, obj)))
            watcher = Watcher(rt.key, selector, push)
            self.watchers.append(watcher)
            return initial, watcher

    def unwatch(self, watcher):
        with self.lock:
            if watcher in self.watchers:
                self.watchers.remove(watcher)

    def compact(self):
        """Forget the event history, as etcd compaction does: older watches get 410 Gone."""
        with self.lock:
            self.events.clear()
            self.compacted = self.rv

    def _out(self, rt, obj):
        out = clone(obj)
        out["apiVersion"] = rt.api_version
        return out

    # -- events -----------------------------------------------------------------------------------
    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    def _emit(self, etype, rt, obj, before=None):
        rv = int(obj["metadata"]["resourceVersion"])
        if len(self.events) == self.events.maxlen:
            self.compacted = self.events[0][0]
        self.events.append((rv, rt.key, etype, obj, before))
        for watcher in list(self.watchers):
            seen_as = _seen_as(etype, obj, before, watcher.selector) if watcher.key == rt.key else None
            if seen_as:
                watcher.push(seen_as, obj)
        for listener in list(self.listeners):
            listener(etype, rt, obj)

    def _bucket(self, rt):
        return self.objects.setdefault(rt.key, {})

    # -- admission: prune, default, validate ---------------------------------------------------
    def _admit(self, rt, obj, options, old=None):
        if obj.get("kind") not in (None, rt.kind):
            raise ApiError.bad_request(
                f"the kind of the object ({obj.get('kind')}) does not match the resource ({rt.kind})"
            )
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version
        root = self.schemas.root(rt)
        if root is not None:
            unknown = self.schemas.prune(obj, root, remove=options.field_validation != STRICT)
            if unknown and options.field_validation == STRICT:
                raise ApiError.strict(rt, unknown)
            if options.field_validation == WARN:
                options.warnings += [f'unknown field "{f}"' for f in unknown]
            if rt.schema is not None:
                self.schemas.default(obj, root)
        mutators = self.mutators.get(rt.key, ())
        for mutate in mutators:
            mutate(obj, old)
        if mutators and root is not None and rt.schema is not None:
            self.schemas.default(obj, root)  # the API server defaults a webhook's output again
        apply_defaults(rt.kind, obj, old)
        causes = self.schemas.validate(rt, obj)
        if causes:
            raise ApiError.invalid(rt, obj["metadata"].get("name", ""), causes)

    # -- writing ----------------------------------------------------------------------------------
    def create(self, rt, obj, namespace=None, options=None, keep_status=False, entries=None):
        options = options or WriteOptions()
        obj = clone(obj)
        meta = obj.setdefault("metadata", {})
        with self.lock:
            if rt.namespaced:
                namespace = namespace or meta.get("namespace") or "default"
                if meta.get("namespace") not in (None, "", namespace):
                    raise ApiError.bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request"
                    )
                meta["namespace"] = namespace
                ns_obj = self._bucket(self.lookup("", "v1", "namespaces")).get((None, namespace))
                if ns_obj is None:
                    raise ApiError.namespace_not_found(namespace)
                if ns_obj["metadata"].get("deletionTimestamp"):
                    message = f"unable to create new content in namespace {namespace} because it is being terminated"
                    raise ApiError(403, message, "Forbidden", {"name": namespace, "kind": "namespaces"})
            else:
                meta.pop("namespace", None)
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
            if rt.status and not keep_status:
                obj.pop("status", None)
            self._admit(rt, obj, options)
            key = (meta.get("namespace"), meta["name"])
            if key in self._bucket(rt):
                raise ApiError.already_exists(rt, meta["name"])
            for server_field in ("resourceVersion", "uid", "deletionTimestamp", "managedFields", "selfLink"):
                meta.pop(server_field, None)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now())
            if rt.generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            if entries is None:  # a create; an apply that creates brings its own
                entries = patches.record_update(
                    self.schemas, self.schemas.root(rt), None, obj, options.field_manager or "unknown"
                )
            patches.write_managed(obj, entries, rt.api_version, now())
            if options.dry_run:
                return self._out(rt, obj)
            meta["resourceVersion"] = self._next_rv()
            self._bucket(rt)[key] = obj
            if rt.key == _CRD_RT_KEY:
                self._crd_established(obj)
            self._emit("ADDED", rt, obj)
            return self._out(rt, obj)

    def replace(self, rt, obj, namespace, name, options=None, subresource=None, entries=None):
        """PUT semantics (also the end of every patch): preconditions, generation, no-op detection."""
        options = options or WriteOptions()
        obj = clone(obj)
        with self.lock:
            namespace = namespace if rt.namespaced else None
            current = self._bucket(rt).get((namespace, name))
            if current is None:
                raise ApiError.not_found(rt, name)
            meta = obj.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise ApiError.bad_request("the name of the object does not match the name on the URL")
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise ApiError.conflict(rt, name)
            if subresource == "status":
                new = clone(current)
                new["status"] = obj.get("status")
                if new["status"] is None:
                    new.pop("status")
            else:
                new = obj
                if rt.status:
                    new.pop("status", None)
                    if "status" in current:
                        new["status"] = clone(current["status"])
                for keep in ("uid", "creationTimestamp", "deletionTimestamp", "generation", "namespace", "name"):
                    if keep in current["metadata"]:
                        meta[keep] = current["metadata"][keep]
                self._admit(rt, new, options, old=current)
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if entries is None:
                manager = options.field_manager or "unknown"
                entries = patches.record_update(
                    self.schemas, self.schemas.root(rt), current, new, manager, subresource or ""
                )
            patches.write_managed(new, entries, rt.api_version, now())
            if _content(new) == _content(current):
                return self._out(rt, current)  # a no-op write does not bump resourceVersion
            if rt.generation and _spec(new) != _spec(current):
                new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            if options.dry_run:
                return self._out(rt, new)
            new["metadata"]["resourceVersion"] = self._next_rv()
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                del self._bucket(rt)[(namespace, name)]
                self._emit("DELETED", rt, new)
                self._collect(new)
                self._finish_namespace(namespace)
                return self._out(rt, new)
            self._bucket(rt)[(namespace, name)] = new
            if rt.key == _CRD_RT_KEY:
                self.crd_updated(new)
            self._emit("MODIFIED", rt, new, before=current)
            return self._out(rt, new)

    def patch(self, rt, namespace, name, patch_type, body, options=None, subresource=None):
        options = options or WriteOptions()
        with self.lock:
            namespace = namespace if rt.namespaced else None
            current = self._bucket(rt).get((namespace, name))
            root = self.schemas.root(rt)
            if patch_type == "apply":
                if not isinstance(body, dict):
                    raise ApiError.bad_request("apply patch must be an object")
                body.setdefault("metadata", {}).setdefault("name", name)
                if current is None:
                    if subresource:
                        raise ApiError.not_found(rt, name)
                    _, entries = patches.apply(self.schemas, root, None, body, options.field_manager, True)
                    return self.create(rt, body, namespace, options, entries=entries)
                merged, entries = patches.apply(self.schemas, root, current, body, options.field_manager, options.force)
                merged["metadata"].pop("resourceVersion", None)
                return self.replace(rt, merged, namespace, name, options, subresource, entries=entries)
            if current is None:
                raise ApiError.not_found(rt, name)
            if patch_type == "json":
                new = patches.json_patch(current, body)
            elif patch_type == "merge":
                new = patches.merge_patch(current, body)
            elif patch_type == "strategic":
                if rt.schema is not None:
                    raise ApiError(
                        415, "strategic merge patch is not supported for custom resources", "UnsupportedMediaType"
                    )
                new = patches.strategic_merge(self.schemas, root, current, body)
            else:
                raise ApiError(415, f"unsupported patch type {patch_type}", "UnsupportedMediaType")
            if not isinstance(body, dict) or "resourceVersion" not in (body.get("metadata") or {}):
                new.setdefault("metadata", {}).pop("resourceVersion", None)
            return self.replace(rt, new, namespace, name, options, subresource)

    def delete(self, rt, namespace, name, propagation=None, dry_run=False, preconditions=None):
        with self.lock:
            namespace = namespace if rt.namespaced else None
            current = self._bucket(rt).get((namespace, name))
            if current is None:
                raise ApiError.not_found(rt, name)
            meta = current["metadata"]
            for key, value in (preconditions or {}).items():
                if value and meta.get(key) != value:
                    raise ApiError.conflict(rt, name)
            if dry_run:
                return self._out(rt, current)
            if meta.get("finalizers"):
                if not meta.get("deletionTimestamp"):
                    current = clone(current)
                    current["metadata"].update(deletionTimestamp=now(), resourceVersion=self._next_rv())
                    self._bucket(rt)[(namespace, name)] = current
                    self._emit("MODIFIED", rt, current)
                return self._out(rt, current)
            if rt.key == _NS_RT_KEY and not self._empty_namespace(name):
                # objects with finalizers remain: the namespace is Terminating until they are gone
                current = clone(current)
                current["metadata"].update(deletionTimestamp=now(), resourceVersion=self._next_rv())
                current.setdefault("status", {})["phase"] = "Terminating"
                self._bucket(rt)[(namespace, name)] = current
                self._emit("MODIFIED", rt, current)
                return self._out(rt, current)
            del self._bucket(rt)[(namespace, name)]
            gone = clone(current)
            gone["metadata"]["resourceVersion"] = self._next_rv()
            self._emit("DELETED", rt, gone)
            self._collect(gone, orphan=propagation == "Orphan")
            self._finish_namespace(namespace)
            return self._out(rt, gone)

    def _empty_namespace(self, namespace):
        """Delete everything in a namespace; true when nothing is left (no finalizers holding on)."""
        left = False
        for rt in self._storage_types():
            if rt.namespaced:
                for ns, name in [k for k in self._bucket(rt) if k[0] == namespace]:
                    self.delete(rt, ns, name)
                    left |= (ns, name) in self._bucket(rt)
        return not left

    def _finish_namespace(self, namespace):
        ns_rt = self.lookup("", "v1", "namespaces")
        terminating = self._bucket(ns_rt).get((None, namespace))
        if terminating and terminating["metadata"].get("deletionTimestamp"):
            self.delete(ns_rt, None, namespace)

    def _storage_types(self):
        seen = {}
        for rt in self.types.values():
            seen.setdefault(rt.key, rt)
        return list(seen.values())

    def _collect(self, owner, orphan=False):
        """Garbage-collect (or orphan) the dependents of a deleted owner; forget a deleted CRD's types."""
        uid = owner["metadata"]["uid"]
        for rt in self._storage_types():
            for (ns, name), obj in list(self._bucket(rt).items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == uid for r in refs):
                    continue
                if orphan:
                    orphaned = clone(obj)
                    orphaned["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    orphaned["metadata"]["resourceVersion"] = self._next_rv()
                    self._bucket(rt)[(ns, name)] = orphaned
                    self._emit("MODIFIED", rt, orphaned)
                elif (ns, name) in self._bucket(rt):
                    self.delete(rt, ns, name)
        if owner.get("kind") == "CustomResourceDefinition":
            dead = [k for k, rt in self.types.items() if rt.crd == owner["metadata"]["name"]]
            for rt in {self.types[k] for k in dead}:
                for ns, name in list(self._bucket(rt)):
                    self.delete(rt, ns, name)
            for key in dead:
                del self.types[key]

    def _crd_established(self, crd):
        for rt in from_crd(crd):
            self.register(rt)
        names = crd["spec"]["names"]
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
            "conditions": [
                {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": now()}
                for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ],
        }

    def crd_updated(self, crd):
        """Re-register the types of an updated CRD (schemas may have changed)."""
        with self.lock:
            for key in [k for k, rt in self.types.items() if rt.crd == crd["metadata"]["name"]]:
                del self.types[key]
            for rt in from_crd(crd):
                self.register(rt)


def _seen_as(etype, obj, before, selector):
    """The event a selective watch sees: an object entering its selector is ADDED, one leaving is DELETED."""
    matches = selector.matches(obj)
    if etype != "MODIFIED" or before is None:
        return etype if matches else None
    matched = selector.matches(before)
    if matches:
        return "MODIFIED" if matched else "ADDED"
    return "DELETED" if matched else None


def _sort_key(item):
    (namespace, name), _ = item
    return (namespace or "", name)


def _content(obj):
    out = clone(obj)
    for key in ("managedFields", "resourceVersion", "generation"):
        out["metadata"].pop(key, None)
    return out


def _spec(obj):
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
