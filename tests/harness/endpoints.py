"""Make a local process the endpoint of the Services that select a Deployment's pods (emulator only).

A real cluster's endpoints controller lists the ready pods a Service selects, on the container
port its `targetPort` names. The emulator has no pods that listen, so the harness registers
the local address of the process it started in their place (tests/kube_emulator/service_proxy.py);
then the API server's Service proxy (`status.yml`'s MLflow /health) reaches that process.
Where a test runs no real program behind a Service, `StandIn` is a documented local stand-in
that is registered the same way.
"""

import http.server
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from kubernetes import client, config


def _selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _container_ports(template):
    ports = {}
    for container in template["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            ports[port["containerPort"]] = port["containerPort"]
            if port.get("name"):
                ports[port["name"]] = port["containerPort"]
    return ports


def targets(kubeconfig, namespace, deployment, container_port=None):
    """[(namespace, Service name, Service port)] whose endpoints are the Deployment's pods (on `container_port`)."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        dep = api.sanitize_for_serialization(client.AppsV1Api(api).read_namespaced_deployment(deployment, namespace))
        services = [
            api.sanitize_for_serialization(s) for s in client.CoreV1Api(api).list_namespaced_service(namespace).items
        ]
    finally:
        api.close()
    template = dep["spec"]["template"]
    labels = (template.get("metadata") or {}).get("labels") or {}
    ports = _container_ports(template)
    found = []
    for service in services:
        if not _selects((service.get("spec") or {}).get("selector") or {}, labels):
            continue
        for port in service["spec"].get("ports") or []:
            target = ports.get(port.get("targetPort", port["port"]))
            if target is not None and (container_port is None or target == container_port):
                found.append((namespace, service["metadata"]["name"], port["port"]))
    return found


def _server(kubeconfig):
    """The API server address of the kubeconfig's current context."""
    cfg = yaml.safe_load(Path(kubeconfig).read_text())
    context = next(c["context"] for c in cfg["contexts"] if c["name"] == cfg["current-context"])
    return next(c["cluster"]["server"] for c in cfg["clusters"] if c["name"] == context["cluster"])


def _control(kubeconfig, method, body):
    request = urllib.request.Request(  # noqa: S310 - the emulator's own address from the kubeconfig
        _server(kubeconfig) + "/_emulator/service-endpoints",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def register(kubeconfig, namespace, deployment, address, container_port=None):
    """Register `address` ("127.0.0.1:PORT") for every matching Service port; returns what was registered.

    Raises RuntimeError when the cluster is not the emulator (it has no /_emulator control API)."""
    done = []
    for ns, name, port in targets(kubeconfig, namespace, deployment, container_port):
        entry = {"namespace": ns, "name": name, "port": port, "address": address}
        try:
            _control(kubeconfig, "POST", entry)
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(f"cannot register {address} for Service {ns}/{name}: not the emulator? ({exc})") from exc
        done.append(entry)
    return done


def unregister(kubeconfig, entries):
    for entry in entries:
        try:
            _control(kubeconfig, "DELETE", {k: entry[k] for k in ("namespace", "name", "port")})
        except (urllib.error.URLError, OSError):
            pass  # the emulator is already gone


class StandIn:
    """A local HTTP server that plays a Service's pod for the emulator's Service proxy where a test
    runs no real program behind the Service: it is registered like a real endpoint
    (``emu.service_proxy.register(namespace, name, stand_in.address)``), so the request goes through
    the emulator's real subresource. STAND-IN: it answers GET of the paths in ``answers``
    ({path: callable() -> (status, content type, body bytes)}) and 404 for any other path or method;
    nothing else of the program it replaces (each user documents which answers it copies).
    """

    def __init__(self, answers):
        self.answers = dict(answers)
        self.requests = []  # (path, Host header) of each request it got
        self._server = None

    @property
    def address(self):
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self):
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                stand_in.requests.append((self.path, self.headers.get("Host")))
                answer = stand_in.answers.get(self.path.split("?", 1)[0])
                status, ctype, body = answer() if answer else (404, "text/plain", b"not found")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="stand-in-endpoint", daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
