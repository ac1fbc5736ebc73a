"""The emulator's Service proxy subresource and its simulated Gateway API controller."""

import http.server
import json
import threading
import time

import pytest

from tests.integration.emulator.conftest import raw

GW = "gateway.networking.k8s.io/v1"


@pytest.fixture
def backend():
    """A local HTTP server that echoes what it received: the process a Service's endpoint stands for."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen.append({"path": self.path, "headers": dict(self.headers)})
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200 if self.path.startswith("/health") else 418)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def _service(emu, name="web", namespace="default"):
    ports = [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090}]
    emu.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                "spec": {"selector": {"app": name}, "ports": ports}})  # fmt: skip


def test_proxy_forwards_to_the_registered_address(kube_emulator, backend):
    address, seen = backend
    _service(kube_emulator)
    kube_emulator.service_proxy.register("default", "web", address, port=80)
    status, body, _ = raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/http:web:80/proxy/health?x=1")
    assert (status, body) == (200, {"path": "/health?x=1"})
    # by port name, and without a scheme
    assert raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/web:http/proxy/nope")[0] == 418
    assert "Authorization" not in seen[0]["headers"] and "authorization" not in seen[0]["headers"]


def test_the_endpoint_sees_the_host_the_client_sent_to_the_api_server(kube_emulator, backend):
    # kube-apiserver forwards req.Host unchanged (no UseLocationHost for services), so a backend
    # that checks Host, like MLflow's --allowed-hosts, sees the client's Host, not its own address.
    address, seen = backend
    _service(kube_emulator)
    kube_emulator.service_proxy.register("default", "web", address, port=80)
    path = "/api/v1/namespaces/default/services/web:80/proxy/health"
    assert raw(kube_emulator, "GET", path, headers={"Host": "web.default.svc.cluster.local:80"})[0] == 200
    assert raw(kube_emulator, "GET", path)[0] == 200
    hosts = [{k.lower(): v for k, v in s["headers"].items()}.get("host") for s in seen]
    assert hosts == ["web.default.svc.cluster.local:80", kube_emulator.url.split("://", 1)[1]]
    assert address not in hosts
    forwarded = kube_emulator.service_proxy.forwarded("default", "web")
    assert [(f["method"], f["host"], f["path"]) for f in forwarded] == [("GET", h, "/health") for h in hosts]


def test_the_python_client_reaches_it(kube_emulator, backend, core):
    address, _ = backend
    _service(kube_emulator)
    kube_emulator.service_proxy.register("default", "web", address, port="http")
    answer = core.connect_get_namespaced_service_proxy_with_path("web:80", "default", "health")
    assert json.loads(answer.replace("'", '"')) == {"path": "/health"}


def test_proxy_errors_are_those_of_an_api_server(kube_emulator, backend):
    address, _ = backend
    status, body, _ = raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/web:80/proxy/health")
    assert status == 404 and body["message"] == 'services "web" not found'
    _service(kube_emulator)
    status, body, _ = raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/web:80/proxy/health")
    assert status == 503 and body["message"] == 'no endpoints available for service "web"'
    status, body, _ = raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/web:81/proxy/health")
    assert status == 503 and "no service port" in body["message"]
    kube_emulator.service_proxy.register("default", "web", address, port=9090)  # another port only
    assert raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/web:80/proxy/health")[0] == 503
    kube_emulator.service_proxy.register("default", "web", "127.0.0.1:9", port=80)  # nothing listens
    status, body, _ = raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/web:80/proxy/health")
    assert status == 503 and "error trying to reach service" in body["message"]


def test_endpoints_are_registered_over_the_control_api(kube_emulator, backend):
    address, _ = backend
    _service(kube_emulator)
    entry = {"namespace": "default", "name": "web", "port": 80, "address": address}
    assert raw(kube_emulator, "POST", "/_emulator/service-endpoints", entry)[0] == 200
    assert raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/web:80/proxy/health")[0] == 200
    assert raw(kube_emulator, "GET", "/_emulator/service-endpoints")[1]["endpoints"] == [dict(entry, port="80")]
    raw(kube_emulator, "DELETE", "/_emulator/service-endpoints", {"namespace": "default", "name": "web"})
    assert raw(kube_emulator, "GET", "/api/v1/namespaces/default/services/web:80/proxy/health")[0] == 503


# --- Gateway API --------------------------------------------------------------------------------
def _gateway(emu, listener_host="*.example.com", allowed="All", with_class=True):
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gw"}})
    if with_class:
        emu.create({"apiVersion": GW, "kind": "GatewayClass", "metadata": {"name": "cilium"},
                    "spec": {"controllerName": "io.cilium/gateway-controller"}})  # fmt: skip
    listener = {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": listener_host,
                "allowedRoutes": {"namespaces": {"from": allowed}}}  # fmt: skip
    emu.create({"apiVersion": GW, "kind": "Gateway", "metadata": {"name": "main", "namespace": "gw"},
                "spec": {"gatewayClassName": "cilium", "listeners": [listener]}})  # fmt: skip


def _route(emu, hostnames=("app.example.com",), backend="web", parent="main"):
    emu.create({"apiVersion": GW, "kind": "HTTPRoute", "metadata": {"name": "app", "namespace": "default"},
                "spec": {"parentRefs": [{"name": parent, "namespace": "gw"}], "hostnames": list(hostnames),
                         "rules": [{"backendRefs": [{"name": backend, "port": 80}]}]}})  # fmt: skip


def _conditions(emu, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parents = ((emu.get(GW, "HTTPRoute", "app", "default") or {}).get("status") or {}).get("parents") or []
        if parents:
            return {c["type"]: (c["status"], c["reason"]) for c in parents[0]["conditions"]}, parents[0]
        time.sleep(0.05)
    return None, None


def test_a_route_on_an_existing_gateway_is_accepted_and_resolved(kube_emulator):
    _service(kube_emulator)
    _gateway(kube_emulator)
    _route(kube_emulator)
    conditions, parent = _conditions(kube_emulator)
    assert conditions == {"Accepted": ("True", "Accepted"), "ResolvedRefs": ("True", "ResolvedRefs")}
    assert parent["controllerName"] == "io.cilium/gateway-controller" and parent["parentRef"]["name"] == "main"
    gw = kube_emulator.get(GW, "Gateway", "main", "gw")
    assert {c["type"]: c["status"] for c in gw["status"]["conditions"]} == {"Accepted": "True", "Programmed": "True"}


def test_a_missing_backend_is_not_resolved_and_a_foreign_hostname_not_accepted(kube_emulator):
    _gateway(kube_emulator, listener_host="*.other.org")
    _route(kube_emulator, backend="absent")
    conditions, _ = _conditions(kube_emulator)
    assert conditions == {
        "Accepted": ("False", "NoMatchingListenerHostname"),
        "ResolvedRefs": ("False", "BackendNotFound"),
    }


def test_routes_from_other_namespaces_need_allowed_routes_all(kube_emulator):
    _service(kube_emulator)
    _gateway(kube_emulator, allowed="Same")
    _route(kube_emulator)
    assert _conditions(kube_emulator)[0]["Accepted"] == ("False", "NotAllowedByListeners")


def test_no_gateway_no_status_until_it_appears(kube_emulator):
    _service(kube_emulator)
    _route(kube_emulator)
    assert _conditions(kube_emulator, timeout=0.5) == (None, None)
    _gateway(kube_emulator)
    assert _conditions(kube_emulator)[0]["Accepted"] == ("True", "Accepted")


def test_a_gateway_without_its_class_is_not_programmed(kube_emulator):
    _service(kube_emulator)
    _gateway(kube_emulator, with_class=False)
    _route(kube_emulator)
    assert _conditions(kube_emulator, timeout=0.5) == (None, None)
    assert not (kube_emulator.get(GW, "Gateway", "main", "gw").get("status") or {}).get("listeners")
