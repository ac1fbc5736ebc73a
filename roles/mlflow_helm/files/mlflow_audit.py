"""Audit log for the MLflow tracking server: one JSON line per HTTP request.

Loaded by ``mlflow server --app-name audit`` from a ConfigMap on PYTHONPATH (no custom image):
the entry point ``audit = mlflow_audit:create_app`` in group ``mlflow.app`` is MLflow's own
plugin mechanism (mlflow/server/__init__.py ``_find_app``; with uvicorn, a factory is started
with ``--factory``). ``create_app`` returns MLflow's own FastAPI application
(``mlflow.server.fastapi_app:app``, the app plain ``mlflow server`` runs) wrapped in an ASGI
middleware, so every route stays: the Flask API, OTel trace ingestion, the gateway, jobs, the
native artifact router.

Each request gives one line on the process's stdout:
``{"time", "logger": "mlflow.audit", "user", "client", "peer", "forwarded_for", "method",
"path", "status", "duration_ms", "operation", "write", "target"}``.

- ``user`` is the ``X-authentik-username`` header that the authentik proxy outpost sets on
  every request it proxies (replacing any value the client sent). Without it (or with it
  repeated, which the outpost never sends) the user is ``null``: unknown, never guessed.
- ``client`` is the last X-Forwarded-For entry (the address that connected to the outpost,
  appended by it) when the request came through the outpost, else the TCP peer.
- ``target``: for writes, the ids and names the request carries (JSON body or query string).
- A Prometheus counter ``mlflow_audit_writes_total{operation,method,status}`` counts writes when
  MLflow exposes metrics (``--expose-prometheus``: multiprocess directory in
  ``prometheus_multiproc_dir``), for alerts on bursts of deletes.

The collection's docs/audit-log.md explains the design and its trust boundary.
"""

import json
import os
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

LOGGER = "mlflow.audit"
USER_HEADER = b"x-authentik-username"
FORWARDED_FOR = b"x-forwarded-for"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# MLflow also reads with POST: searches (runs/search, logged-models/search, traces/search...),
# bulk gets, and the UI's GraphQL queries. These are not writes.
READ_PATHS = frozenset({"/graphql", "/ajax-api/graphql"})
# Ids and names that identify what a write touches (MLflow's REST request fields).
TARGET_FIELDS = (
    "experiment_id", "experiment_ids", "name", "new_name", "run_id", "run_uuid", "run_name",
    "version", "alias", "stage", "key", "model_id", "source", "request_id", "trace_id",
    "request_ids", "trace_ids", "path",
)  # fmt: skip
MAX_BODY = 64 * 1024  # JSON bodies up to this size are parsed for ids; artifact bytes never are
MAX_VALUE = 256  # characters kept of each id or name
MAX_ITEMS = 20  # entries kept of a list of ids


def operation_of(path):
    """The REST operation a path names: what follows ``/mlflow/`` or ``/mlflow-artifacts/``.

    ``/api/2.0/mlflow/experiments/delete`` -> ``experiments/delete``;
    ``/api/2.0/mlflow-artifacts/artifacts/1/abc/model.pkl`` -> ``artifacts``; else None.
    """
    for marker in ("/mlflow-artifacts/", "/mlflow/"):
        head, sep, rest = path.partition(marker)
        if sep and head.count("/") <= 3:  # /api/2.0, /ajax-api/3.0, or a static prefix before them
            if marker == "/mlflow-artifacts/":
                return rest.split("/", 1)[0] or None
            return rest.rstrip("/") or None
    return None


def is_write(method, path, operation):
    """Whether a request changes something: not a read method, a search, a get or a GraphQL query."""
    if method in READ_METHODS or path in READ_PATHS:
        return False
    last = (operation or "").rsplit("/", 1)[-1]
    return not ("search" in last or last.startswith(("get", "batch-get", "list")))


def _clip(value):
    if isinstance(value, list):
        return [_clip(v) for v in value[:MAX_ITEMS]]
    if isinstance(value, str | int | float | bool) or value is None:
        return value if not isinstance(value, str) else value[:MAX_VALUE]
    return None


def target_of(path, query, body, content_type):
    """The ids and names a write request carries: query string, JSON body, artifact path."""
    found = {}
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key in TARGET_FIELDS:
            found[key] = _clip(value)
    if body and content_type.startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in TARGET_FIELDS:
                if key in data and _clip(data[key]) is not None:
                    found[key] = _clip(data[key])
    _, sep, artifact = path.partition("/mlflow-artifacts/artifacts/")
    if sep:
        found["artifact_path"] = artifact[:MAX_VALUE]
    return found


def _header_values(scope, name):
    # authentik sends the username as UTF-8 bytes
    return [v.decode("utf-8", "replace") for k, v in scope.get("headers") or [] if k.lower() == name]


class WriteCounter:
    """``mlflow_audit_writes_total`` in prometheus_client's multiprocess directory, when MLflow has one."""

    def __init__(self):
        self.counter = None
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"):
            try:
                from prometheus_client import Counter
            except ImportError:  # metrics are optional; the log line is the record
                return
            self.counter = Counter(
                "mlflow_audit_writes", "Write requests to the MLflow API, by operation, method and status",
                ["operation", "method", "status"],
            )  # fmt: skip

    def inc(self, operation, method, status):
        if self.counter is not None:
            self.counter.labels(operation=operation or "other", method=method, status=str(status)).inc()


class AuditMiddleware:
    """ASGI middleware: logs each HTTP request once, after its response (or failure)."""

    def __init__(self, app, write=None, counter=None):
        self.app = app
        self.write = write or self._stdout
        self.counter = counter if counter is not None else WriteCounter()

    @staticmethod
    def _stdout(line):
        # One write() per line: a pipe keeps writes up to PIPE_BUF (4 KiB) whole, so the
        # lines of several workers sharing the container's stdout never interleave.
        os.write(1, line.encode() + b"\n")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        method = scope.get("method", "")
        write = is_write(method, scope.get("path", ""), operation_of(scope.get("path", "")))
        content_type = (_header_values(scope, b"content-type") or [""])[0].lower()
        keep_body = write and content_type.startswith("application/json")
        body, state = [], {"status": None, "size": 0}

        async def tee_receive():
            message = await receive()
            if keep_body and message.get("type") == "http.request" and state["size"] <= MAX_BODY:
                chunk = message.get("body", b"")
                state["size"] += len(chunk)
                body.append(chunk)
            return message

        async def tee_send(message):
            if message.get("type") == "http.response.start":
                state["status"] = message.get("status")
            await send(message)

        try:
            await self.app(scope, tee_receive if keep_body else receive, tee_send)
        except BaseException:
            state["status"] = state["status"] or 500
            raise
        finally:
            raw = b"".join(body) if state["size"] <= MAX_BODY else b""
            try:
                self.log(scope, method, state["status"], started, raw, content_type, write)
            except Exception as exc:  # noqa: BLE001 - the request is served; say the line is missing
                os.write(2, f"mlflow.audit: no audit line for {method} {scope.get('path')}: {exc!r}\n".encode())

    def log(self, scope, method, status, started, body, content_type, write):
        path = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        users = _header_values(scope, USER_HEADER)
        user = users[0] if len(users) == 1 and users[0] else None
        forwarded = [a.strip() for v in _header_values(scope, FORWARDED_FOR) for a in v.split(",") if a.strip()]
        peer = scope.get("client") or (None, None)
        operation = operation_of(path)
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "logger": LOGGER,
            "user": user,
            "client": forwarded[-1] if user and forwarded else peer[0],
            "peer": f"{peer[0]}:{peer[1]}" if peer[0] else None,
            "forwarded_for": forwarded,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            "operation": operation,
            "write": write,
        }
        if write:
            line["target"] = target_of(path, query, body, content_type)
            self.counter.inc(operation, method, status)
        self.write(json.dumps(line, separators=(",", ":"), default=str))


def create_app():
    """MLflow's own FastAPI application, wrapped in the audit middleware (uvicorn ``--factory``)."""
    from mlflow.server.fastapi_app import app

    return AuditMiddleware(app)
