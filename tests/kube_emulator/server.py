"""The HTTP side: routing, bodies, discovery, OpenAPI, watches, and the /_emulator control API."""

import asyncio
import hashlib
import json
import logging
import re
import time
from datetime import UTC, datetime

import yaml
from aiohttp import web

from . import protobuf
from .errors import ApiError
from .faults import RequestRecord
from .store import IGNORE, STRICT, WARN, Selector, WriteOptions
from .version import KUBERNETES_VERSION

# The version of the kind node image the kind scenario pins (version.py); buildDate and goVersion
# are placeholders (nothing here reads them).
_MAJOR, _MINOR, _ = KUBERNETES_VERSION.lstrip("v").split(".")
K8S_VERSION = {"major": _MAJOR, "minor": _MINOR, "gitVersion": KUBERNETES_VERSION, "gitCommit": "kube-emulator"}
K8S_VERSION.update(gitTreeState="clean", buildDate="2026-05-01T00:00:00Z", goVersion="go1.26.2", compiler="gc")
K8S_VERSION["platform"] = "linux/amd64"
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
ROUTE = web.RequestKey("route", object)
WROTE = web.RequestKey("wrote", bool)


class Route:
    """What a resource request addresses, parsed from its path."""

    def __init__(self, rt=None, namespace=None, name=None, subresource=None, verb=None, legacy_watch=False):
        self.rt, self.namespace, self.name, self.subresource = rt, namespace, name, subresource
        self.verb, self.legacy_watch = verb, legacy_watch


def parse_route(store, method, path, query):
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return None
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    plural, name, sub = (rest + [None, None])[:3]
    rt = store.lookup(group, version, plural)
    if rt is None:
        raise ApiError(404, "the server could not find the requested resource", details={"kind": plural})
    if namespace and not rt.namespaced:
        raise ApiError(404, "the server could not find the requested resource")
    watch = legacy_watch or query.get("watch") in ("1", "true", "True")
    verb = {
        "GET": "watch" if watch else ("get" if name else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method)
    return Route(rt, namespace, name, sub, verb, legacy_watch)


# -- bodies -----------------------------------------------------------------------------------
async def read_body(request):
    raw = await request.read()
    if not raw:
        return None
    ctype = request.content_type
    try:
        if ctype == protobuf.CONTENT_TYPE or raw.startswith(protobuf.MAGIC):
            try:
                return protobuf.decode(raw)
            except protobuf.NotEmulated as exc:
                raise ApiError(415, str(exc), "UnsupportedMediaType") from exc
        if "yaml" in ctype:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError.bad_request(f"the body of the request could not be decoded: {exc}") from exc


def json_response(body, status=200, warnings=()):
    response = web.Response(text=json.dumps(body), status=status, content_type="application/json")
    for warning in warnings:
        response.headers.add("Warning", '299 - "{}"'.format(warning.replace('"', '\\"')))
    return response


def error_response(error):
    return json_response(error.body, error.code)


def _truthy(value):
    return str(value).lower() in ("1", "true")


def write_options(request, body=None, default_validation=WARN):
    query = request.query
    dry_run = query.getall("dryRun", [])
    if isinstance(body, dict) and body.get("kind", "DeleteOptions") == "DeleteOptions":
        dry_run = dry_run + list(body.get("dryRun") or [])
    if any(d != "All" for d in dry_run):
        raise ApiError.bad_request(f"unsupported dryRun value {dry_run}: only All")
    validation = query.get("fieldValidation", default_validation)
    validation = {"strict": STRICT, "warn": WARN, "ignore": IGNORE}.get(validation.lower())
    if validation is None:
        raise ApiError.bad_request("fieldValidation must be one of Ignore, Warn or Strict")
    agent = request.headers.get("User-Agent", "unknown").split("/")[0] or "unknown"
    return WriteOptions(
        dry_run=bool(dry_run),
        field_validation=validation,
        field_manager=query.get("fieldManager") or agent,
        force=_truthy(query.get("force", "false")),
    )


# -- discovery and OpenAPI --------------------------------------------------------------------
def _version_rank(version):
    match = re.match(r"v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not match:
        return (0, 0, 0)
    stability = {None: 3, "beta": 2, "alpha": 1}[match.group(2)]
    return (stability, int(match.group(1)), int(match.group(3) or 0))


def group_versions(store):
    groups = {}
    for rt in store.all_types():
        groups.setdefault(rt.group, set()).add(rt.version)
    return {g: sorted(vs, key=_version_rank, reverse=True) for g, vs in groups.items()}


def api_group(name, versions):
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": entries, "preferredVersion": entries[0]}


def resource_list(store, group, version):
    resources = []
    for rt in sorted(store.all_types(), key=lambda r: r.plural):
        if rt.group != group or rt.version != version:
            continue
        entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind}
        entry["verbs"] = VERBS
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.key == ("", "services"):
            proxy = {"name": "services/proxy", "singularName": "", "namespaced": True, "kind": "ServiceProxyOptions"}
            resources.append(dict(proxy, verbs=["create", "delete", "get", "patch", "update"]))
        if rt.status:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    if not resources:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


class OpenAPI:
    """OpenAPI v3 documents per group-version: enough for kubectl's and helm's field-validation probe
    and for kubectl's strategic-merge metadata."""

    def __init__(self, store):
        self.store = store
        self._cache = {}

    def _types_hash(self):
        names = sorted(f"{rt.group}/{rt.version}/{rt.plural}/{rt.crd}" for rt in self.store.all_types())
        return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]

    def index(self):
        digest = self._types_hash()
        paths = {}
        for group, versions in group_versions(self.store).items():
            for version in versions:
                key = f"apis/{group}/{version}" if group else f"api/{version}"
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        return {"paths": paths}

    def document(self, group, version):
        key = (group, version, self._types_hash())
        if key not in self._cache:
            self._cache[key] = self._build(group, version)
        return self._cache[key]

    def _build(self, group, version):
        schemas = self.store.schemas
        components, paths = {}, {}
        types = [rt for rt in self.store.all_types() if rt.group == group and rt.version == version]
        if not types:
            return None
        pending = []
        for rt in types:
            gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
            if rt.schema is None:
                name = schemas.by_gvk.get((rt.group, rt.version, rt.kind))
                if not name:
                    continue
                pending.append(name)
            else:
                name = f"{rt.group}.{rt.version}.{rt.kind}"
                components[name] = dict(_rewrite_refs(schemas.root(rt)), **{"x-kubernetes-group-version-kind": [gvk]})
                pending.append("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            ref = {"$ref": f"#/components/schemas/{name}"}
            prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
            prefix += "/namespaces/{namespace}" if rt.namespaced else ""
            for path in (f"{prefix}/{rt.plural}/{{name}}", f"{prefix}/{rt.plural}"):
                paths[path] = _operations(gvk, ref, named=path.endswith("{name}"))
        while pending:
            name = pending.pop()
            if name in components:
                continue
            components[name] = _rewrite_refs(schemas.defs[name])
            pending += re.findall(r'"#/\$defs/([^"]+)"', json.dumps(schemas.defs[name]))
        info = {"title": "Kubernetes (kube-emulator)", "version": K8S_VERSION["gitVersion"]}
        return {"openapi": "3.0.0", "info": info, "paths": paths, "components": {"schemas": components}}


def _rewrite_refs(node):
    """JSON-Schema-2020 flavoured definitions as OpenAPI 3.0: component refs, one type plus nullable."""
    node = json.loads(json.dumps(node).replace('"#/$defs/', '"#/components/schemas/'))

    def fix(value):
        if isinstance(value, dict):
            if isinstance(value.get("type"), list):
                types = [t for t in value["type"] if t != "null"]
                value["type"] = types[0] if types else "object"
            for sub in value.values():
                fix(sub)
        elif isinstance(value, list):
            for sub in value:
                fix(sub)
        return value

    return fix(node)


def _operations(gvk, ref, named):
    query = [
        {"name": n, "in": "query", "schema": {"type": "string"}} for n in ("dryRun", "fieldManager", "fieldValidation")
    ]
    content = {"application/json": {"schema": ref}}
    op = {"x-kubernetes-group-version-kind": gvk, "responses": {"200": {"description": "OK", "content": content}}}
    ops = {"get": dict(op, parameters=[])}
    if named:
        ops["put"] = dict(op, parameters=query, requestBody={"content": content})
        ops["patch"] = dict(op, parameters=query + [{"name": "force", "in": "query", "schema": {"type": "boolean"}}])
        ops["delete"] = dict(op, parameters=[])
    else:
        ops["post"] = dict(op, parameters=query, requestBody={"content": content})
    return ops


def as_table(rt, items, list_rv):
    """A meta.k8s.io/v1 Table, which kubectl get asks for."""
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name"}]
    printer = rt.printer_columns or (("Age", ".metadata.creationTimestamp", "date"),)
    for name, _, ctype in printer:
        columns.append(
            {"name": name, "type": "string" if ctype == "date" else ctype, "format": "", "description": name}
        )
    rows = []
    for obj in items:
        cells = [obj["metadata"]["name"]]
        for _, path, ctype in printer:
            value = _json_path(obj, path)
            cells.append(_age(value) if ctype == "date" else value)
        rows.append({"cells": cells, "object": obj})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": list_rv},
        "columnDefinitions": columns,
        "rows": rows,
    }


def _json_path(obj, path):
    value = obj
    for part in path.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else value


def _age(stamp):
    if not stamp:
        return "<unknown>"
    seconds = int(time.time() - datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


# -- the application --------------------------------------------------------------------------
class Server:
    def __init__(self, emulator):
        self.emu = emulator
        self.store = emulator.store
        self.openapi = OpenAPI(self.store)
        self.app = web.Application(middlewares=[self.middleware], client_max_size=64 * 1024**2)
        self.app.router.add_route("*", "/{tail:.*}", self.dispatch)

    @web.middleware
    async def middleware(self, request, handler):
        if request.path.startswith("/_emulator/"):
            return await handler(request)
        started = time.monotonic()
        route, status = None, 500
        try:
            route = parse_route(self.store, request.method, request.path, request.query)
            request[ROUTE] = route
            verb = route.verb if route else request.method.lower()
            rt = route.rt if route else None
            delay = self.emu.faults.delay_for(verb, rt)
            if delay:
                await asyncio.sleep(delay)
            rv_before = self._object_rv(route) if verb in ("update", "patch") else None
            fault = self.emu.faults.status_for(verb, rt) if rt else None
            if fault:
                code, message = fault
                if code == 403 and route:
                    raise ApiError.forbidden(verb, rt, route.name, route.namespace)
                raise ApiError(code, message or f"injected fault: {code}")
            response = await handler(request)
            status = response.status
            if rv_before is not None and status < 400 and "dryRun=All" not in request.path_qs:
                request[WROTE] = self._object_rv(route) != rv_before
            return response
        except ApiError as error:
            status = error.code
            return error_response(error)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - an emulator bug must still answer with a Status
            logging.getLogger(__name__).exception("internal error on %s %s", request.method, request.path)
            return error_response(ApiError(500, f"kube-emulator internal error: {exc!r}"))
        finally:
            record = RequestRecord(
                verb=route.verb if route else request.method.lower(),
                path=request.path_qs,
                status=status,
                duration=time.monotonic() - started,
                content_type=request.headers.get("Content-Type"),
                wrote=request.get(WROTE, True),
            )
            if route:
                record.resource, record.namespace, record.name = route.rt.plural, route.namespace, route.name
                record.subresource = route.subresource
            self.emu.request_log.add(record)

    def _object_rv(self, route):
        """The resourceVersion of the object a request names (None when there is none)."""
        if not (route and route.rt and route.name):
            return None
        try:
            current = self.store.get(route.rt, route.namespace, route.name)
        except ApiError:
            return None
        return current["metadata"].get("resourceVersion")

    async def dispatch(self, request):
        path = request.path.rstrip("/") or "/"
        if path.startswith("/_emulator/"):
            return await self.emu.control.handle(request)
        route = request.get(ROUTE)
        if route:
            return await self.resource(request, route)
        if request.method != "GET":
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if path == "/version":
            return json_response(K8S_VERSION)
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/api":
            address = f"{request.host}"
            return json_response(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
                }
            )
        if path == "/apis":
            groups = [api_group(g, vs) for g, vs in sorted(group_versions(self.store).items()) if g]
            return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            versions = group_versions(self.store).get(parts[1])
            if versions:
                return json_response(api_group(parts[1], versions))
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            body = resource_list(self.store, group, version)
            if body:
                return json_response(body)
        if path == "/openapi/v3":
            return json_response(self.openapi.index())
        if path.startswith("/openapi/v3/"):
            rest = path[len("/openapi/v3/") :].split("/")
            group, version = ("", rest[1]) if rest[0] == "api" else (rest[1], rest[2] if len(rest) > 2 else "")
            doc = self.openapi.document(group, version)
            if doc:
                return json_response(doc)
        if path == "/openapi/v2":
            raise ApiError(406, "OpenAPI v2 is not emulated; use /openapi/v3", "NotAcceptable")
        raise ApiError(404, "the server could not find the requested resource")

    # -- resources ----------------------------------------------------------------------------
    async def resource(self, request, route):
        rt, store = route.rt, self.store
        verb = route.verb
        if route.subresource == "proxy" and rt.key == ("", "services") and route.name:
            return await self.emu.service_proxy.handle(request, route)
        if route.subresource not in (None, "status") or (route.subresource == "status" and not rt.status):
            raise ApiError(404, "the server could not find the requested resource")
        if verb == "get":
            return self._get_response(request, rt, store.get(rt, route.namespace, route.name))
        if verb == "list":
            return await self.list(request, route)
        if verb == "watch":
            return await self.watch(request, route)
        body = await read_body(request) if request.can_read_body else None
        if verb == "create":
            if not isinstance(body, dict):
                raise ApiError.bad_request("the request body must be an object")
            options = write_options(request)
            created = store.create(rt, body, route.namespace, options)
            return json_response(created, 201, options.warnings)
        if verb == "update":
            if not isinstance(body, dict):
                raise ApiError.bad_request("the request body must be an object")
            options = write_options(request)
            updated = store.replace(rt, body, route.namespace, route.name, options, route.subresource)
            return json_response(updated, 200, options.warnings)
        if verb == "patch":
            patch_type = PATCH_TYPES.get(request.content_type)
            if patch_type is None:
                raise ApiError(
                    415,
                    f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_TYPES)}",
                    "UnsupportedMediaType",
                )
            options = write_options(request, default_validation=STRICT if patch_type == "apply" else WARN)
            if patch_type == "apply" and not request.query.get("fieldManager"):
                raise ApiError.bad_request("PATCH, fieldManager: Required value: is required for apply patch")
            existed = self._exists(rt, route.namespace, route.name)
            patched = store.patch(rt, route.namespace, route.name, patch_type, body, options, route.subresource)
            return json_response(patched, 200 if existed or patch_type != "apply" else 201, options.warnings)
        if verb in ("delete", "deletecollection"):
            body = body if isinstance(body, dict) else {}
            options = write_options(request, body)
            propagation = request.query.get("propagationPolicy") or body.get("propagationPolicy")
            if propagation is None and (
                _truthy(request.query.get("orphanDependents", "")) or body.get("orphanDependents")
            ):
                propagation = "Orphan"
            if verb == "delete":
                deleted = store.delete(
                    rt, route.namespace, route.name, propagation, options.dry_run, body.get("preconditions")
                )
                pending = bool(deleted["metadata"].get("finalizers"))
                return json_response(deleted, 202 if pending else 200)
            selector = Selector.parse(
                route.namespace, request.query.get("labelSelector"), request.query.get("fieldSelector")
            )
            items, list_rv = store.list(rt, selector)
            for item in items:
                store.delete(
                    rt, item["metadata"].get("namespace"), item["metadata"]["name"], propagation, options.dry_run
                )
            return json_response(self._list_body(rt, items, list_rv))
        raise ApiError(405, "method not allowed")

    def _exists(self, rt, namespace, name):
        try:
            self.store.get(rt, namespace, name)
            return True
        except ApiError:
            return False

    def _get_response(self, request, rt, obj):
        if "as=Table" in request.headers.get("Accept", ""):
            return json_response(as_table(rt, [obj], obj["metadata"].get("resourceVersion", "")))
        return json_response(obj)

    def _list_body(self, rt, items, list_rv, cont=None):
        meta = {"resourceVersion": list_rv}
        if cont:
            meta["continue"] = cont
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": items}

    async def list(self, request, route):
        query = request.query
        selector = Selector.parse(route.namespace, query.get("labelSelector"), query.get("fieldSelector"))
        items, list_rv = self.store.list(route.rt, selector)
        start = int(query.get("continue") or 0) if (query.get("continue") or "0").isdigit() else 0
        limit = int(query.get("limit") or 0)
        cont = None
        if limit and start + limit < len(items):
            cont = str(start + limit)
        items = items[start : start + limit] if limit else items[start:]
        if "as=Table" in request.headers.get("Accept", ""):
            table = as_table(route.rt, items, list_rv)
            if cont:
                table["metadata"]["continue"] = cont
            return json_response(table)
        return json_response(self._list_body(route.rt, items, list_rv, cont))

    async def watch(self, request, route):
        query, rt = request.query, route.rt
        selector = Selector.parse(route.namespace, query.get("labelSelector"), query.get("fieldSelector"))
        if route.legacy_watch and route.name:
            selector = Selector.parse(route.namespace, query.get("labelSelector"), f"metadata.name={route.name}")
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = _truthy(query.get("allowWatchBookmarks", "false"))
        initial_end = _truthy(query.get("sendInitialEvents", "false"))
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        def push(etype, obj):
            loop.call_soon_threadsafe(queue.put_nowait, (etype, obj))

        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        limit = self.emu.faults.watch_limit(rt)
        sent = 0

        async def send(etype, obj):
            nonlocal sent
            out = dict(obj, apiVersion=rt.api_version) if etype not in ("ERROR",) else obj
            await response.write(json.dumps({"type": etype, "object": out}).encode() + b"\n")
            sent += 1

        try:
            initial, watcher = self.store.watch(rt, selector, query.get("resourceVersion"), push)
        except ApiError as error:
            if error.code != 410:
                raise
            await send("ERROR", error.body)
            return response
        try:
            deadline = loop.time() + timeout
            for etype, obj in initial:
                if limit is not None and sent >= limit:
                    return response
                await send(etype, obj)
            if bookmarks and initial_end:
                mark = {"kind": rt.kind, "metadata": {"resourceVersion": str(self.store.rv)}}
                mark["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
                await send("BOOKMARK", mark)
            while limit is None or sent < limit:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    etype, obj = await asyncio.wait_for(queue.get(), timeout=min(remaining, self.emu.bookmark_interval))
                except TimeoutError:
                    if bookmarks:
                        await send("BOOKMARK", {"kind": rt.kind, "metadata": {"resourceVersion": str(self.store.rv)}})
                    continue
                await send(etype, obj)
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self.store.unwatch(watcher)
        return response
