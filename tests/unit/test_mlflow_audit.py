"""The audit middleware the mlflow_helm role ships (roles/mlflow_helm/files/mlflow_audit.py),
driven as an ASGI app with a small inner app. The real server is in test_real_clients.py."""

import asyncio
import importlib.util
import json

import pytest

from tests.support.paths import REPO_ROOT

SPEC = importlib.util.spec_from_file_location("mlflow_audit", REPO_ROOT / "roles/mlflow_helm/files/mlflow_audit.py")
audit = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(audit)


class Counter:
    def __init__(self):
        self.seen = []

    def inc(self, operation, method, status):
        self.seen.append((operation, method, status))


def inner_app(status=200, fail=False):
    """Reads the whole body, answers ``status`` echoing it (or raises before answering)."""

    async def app(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if fail:
            raise RuntimeError("handler failed")
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def call(app, method, path, *, body=b"", headers=(), query=b"", client=("10.42.0.9", 41000), chunks=1):
    lines, sent = [], []
    counter = Counter()
    middleware = audit.AuditMiddleware(app, write=lines.append, counter=counter)
    scope = {
        "type": "http", "method": method, "path": path, "query_string": query, "client": client,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }  # fmt: skip
    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    return [json.loads(line) for line in lines], sent, counter.seen


JSON = ("Content-Type", "application/json")


def test_a_write_through_the_outpost_names_user_client_and_target():
    body = json.dumps({"experiment_id": "7", "unrelated": {"x": 1}}).encode()
    headers = [JSON, ("X-authentik-username", "alice"), ("X-Forwarded-For", "203.0.113.5, 10.42.1.3")]
    [line], sent, counted = call(inner_app(), "POST", "/api/2.0/mlflow/experiments/delete", body=body, headers=headers)
    assert line["user"] == "alice" and line["status"] == 200 and line["write"] is True
    assert line["operation"] == "experiments/delete" and line["target"] == {"experiment_id": "7"}
    # the outpost appends the address that connected to it: the last entry is the client
    assert line["client"] == "10.42.1.3" and line["peer"] == "10.42.0.9:41000"
    assert line["forwarded_for"] == ["203.0.113.5", "10.42.1.3"]
    assert line["time"].endswith("Z") and line["duration_ms"] >= 0
    assert sent[1]["body"] == body  # the app got the body unchanged
    assert counted == [("experiments/delete", "POST", 200)]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], None),  # bypassed the outpost: unknown, not guessed
        ([("X-authentik-username", "")], None),
        ([("X-authentik-username", "alice"), ("x-authentik-username", "mallory")], None),  # never from the outpost
        ([("x-AUTHENTIK-username", "bob")], "bob"),
    ],
)
def test_user_is_the_single_outpost_header_or_unknown(headers, expected):
    [line], _, _ = call(inner_app(), "GET", "/api/2.0/mlflow/experiments/search", headers=headers)
    assert line["user"] == expected
    if expected is None:
        assert line["client"] == "10.42.0.9"  # the TCP peer, not a forwardable header


def test_without_the_outpost_forwarded_for_is_not_the_client():
    headers = [("X-Forwarded-For", "198.51.100.7")]
    [line], _, _ = call(inner_app(), "GET", "/health", headers=headers)
    assert line["user"] is None and line["client"] == "10.42.0.9"


@pytest.mark.parametrize(
    ("method", "path", "write", "operation"),
    [
        ("POST", "/api/2.0/mlflow/runs/search", False, "runs/search"),
        ("POST", "/ajax-api/2.0/mlflow/experiments/search", False, "experiments/search"),
        ("POST", "/api/2.0/mlflow/metrics/get-history-bulk-interval", False, "metrics/get-history-bulk-interval"),
        ("POST", "/graphql", False, None),
        ("GET", "/api/2.0/mlflow/runs/get", False, "runs/get"),
        ("POST", "/api/2.0/mlflow/runs/log-batch", True, "runs/log-batch"),
        ("DELETE", "/api/2.0/mlflow/registered-models/alias", True, "registered-models/alias"),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/model.pkl", True, "artifacts"),
        ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/abc", True, "artifacts"),
        ("POST", "/api/3.0/mlflow/traces", True, "traces"),
        ("POST", "/static-prefix/api/2.0/mlflow/experiments/create", True, "experiments/create"),
    ],
)
def test_writes_and_operations(method, path, write, operation):
    assert audit.operation_of(path) == operation
    assert audit.is_write(method, path, operation) is write


def test_artifact_upload_is_not_buffered_and_names_its_path():
    data = b"\0" * (audit.MAX_BODY * 3)
    headers = [("Content-Type", "application/octet-stream"), ("X-authentik-username", "alice")]
    [line], sent, _ = call(inner_app(201), "PUT", "/api/2.0/mlflow-artifacts/artifacts/3/r1/artifacts/model.pkl",
                           body=data, headers=headers, chunks=5)  # fmt: skip
    assert line["target"] == {"artifact_path": "3/r1/artifacts/model.pkl"} and line["status"] == 201
    assert sent[1]["body"] == data


def test_query_string_and_alias_delete():
    [line], _, counted = call(inner_app(), "DELETE", "/api/2.0/mlflow/registered-models/alias",
                              query=b"name=MyModel&alias=champion&other=x")  # fmt: skip
    assert line["target"] == {"name": "MyModel", "alias": "champion"}
    assert counted == [("registered-models/alias", "DELETE", 200)]


def test_a_large_json_body_is_passed_on_but_not_parsed():
    body = json.dumps({"run_id": "r1", "metrics": [{"key": "k", "value": 1.0}] * 5000}).encode()
    assert len(body) > audit.MAX_BODY
    [line], sent, _ = call(inner_app(), "POST", "/api/2.0/mlflow/runs/log-batch", body=body, headers=[JSON], chunks=8)
    assert line["target"] == {} and sent[1]["body"] == body


def test_long_values_and_lists_are_clipped():
    body = json.dumps({"name": "n" * 1000, "experiment_ids": [str(i) for i in range(100)], "key": {"x": 1}}).encode()
    [line], _, _ = call(inner_app(), "POST", "/api/2.0/mlflow/experiments/update", body=body, headers=[JSON])
    assert line["target"]["name"] == "n" * audit.MAX_VALUE
    assert len(line["target"]["experiment_ids"]) == audit.MAX_ITEMS
    assert "key" not in line["target"]  # not an id or a name


def test_a_failing_request_is_still_logged_once_as_500():
    with pytest.raises(RuntimeError):
        call(inner_app(fail=True), "POST", "/api/2.0/mlflow/runs/delete", body=b'{"run_id": "r9"}', headers=[JSON])
    lines = []
    middleware = audit.AuditMiddleware(inner_app(fail=True), write=lines.append, counter=Counter())
    scope = {"type": "http", "method": "POST", "path": "/api/2.0/mlflow/runs/delete", "headers": [], "client": None}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    with pytest.raises(RuntimeError):
        asyncio.run(middleware(scope, receive, send))
    [line] = [json.loads(x) for x in lines]
    assert line["status"] == 500 and line["peer"] is None and line["client"] is None


def test_lifespan_and_websocket_scopes_pass_through_unlogged():
    lines, seen = [], []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    middleware = audit.AuditMiddleware(app, write=lines.append, counter=Counter())
    for kind in ("lifespan", "websocket"):
        asyncio.run(middleware({"type": kind}, None, None))
    assert seen == ["lifespan", "websocket"] and lines == []


def test_the_counter_is_off_without_a_metrics_directory(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    counter = audit.WriteCounter()
    assert counter.counter is None
    counter.inc("experiments/delete", "POST", 200)  # a no-op, not an error


def test_create_app_wraps_mlflows_own_fastapi_app():
    from mlflow.server.fastapi_app import app

    wrapped = audit.create_app()
    assert isinstance(wrapped, audit.AuditMiddleware) and wrapped.app is app


def test_a_utf8_username_is_kept():
    scope_headers = [("X-authentik-username", "jürgen")]
    lines, counter = [], Counter()
    middleware = audit.AuditMiddleware(inner_app(), write=lines.append, counter=counter)
    scope = {
        "type": "http", "method": "GET", "path": "/health", "client": None,
        "headers": [(k.lower().encode(), v.encode()) for k, v in scope_headers],
    }  # fmt: skip

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    asyncio.run(middleware(scope, receive, send))
    assert json.loads(lines[0])["user"] == "jürgen"


def test_a_failing_audit_line_does_not_fail_the_request(capfd):
    def broken(line):
        raise OSError("stdout closed")

    middleware = audit.AuditMiddleware(inner_app(), write=broken, counter=Counter())
    sent = []
    scope = {"type": "http", "method": "GET", "path": "/health", "headers": [], "client": None}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    assert sent[0]["status"] == 200
    assert "mlflow.audit: no audit line for GET /health" in capfd.readouterr().err
