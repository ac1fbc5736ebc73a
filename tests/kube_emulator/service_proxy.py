"""The Service proxy subresource: `/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH`.

A real API server forwards the request to one ready endpoint of the Service (kube-apiserver
pkg/registry/core/service/storage `ResourceLocation`: the path segment is split like
`net.SplitSchemeNamePort`, the port is the Service port's name or number). The emulator has no
pods and no network, so the process that plays a Service's endpoint is *registered* here with a
local address, by whoever started it (the harness registers MLflow's and the outpost's):

    emu.service_proxy.register("mlflow", "mlflow", "127.0.0.1:43127", port=80)
    POST /_emulator/service-endpoints {"namespace", "name", "address", "port"}   (same, over HTTP)

Answers as the API server does: 404 when the Service does not exist, 503 `no service port ...`
when the port is not one of the Service's, 503 `no endpoints available for service ...` when
nothing is registered for it, 503 `error trying to reach service: ...` when the registered
address refuses the connection. The Authorization header is not forwarded (the API server's
authentication filter removes it).

The Host header the client sent to the API server is forwarded as it is, as the API server does:
kubernetes pkg/registry/core/service/proxy.go (`ProxyREST.Connect`) serves the request with
`proxy.NewUpgradeAwareHandler(location, transport, true, false, ...)` and never sets
`UseLocationHost`; staging/src/k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go (`ServeHTTP`)
then replaces only `req.URL` with the endpoint's location ("If this is false, the incoming
req.Host header will just be forwarded to the backend server"), and Go's
`httputil.NewSingleHostReverseProxy` rewrites the URL but keeps `req.Host`. So a backend that
checks Host (MLflow's `--allowed-hosts`) sees the client's, not the endpoint's address.

Not emulated: Location rewriting, X-Forwarded-* headers, websockets/upgrades, TLS to the
endpoint (`https:` targets are sent over plain HTTP to the registered address).
"""

import threading

import aiohttp
from aiohttp import web

from .errors import ApiError

# Not forwarded (either way): hop-by-hop headers, the length aiohttp recomputes, and the
# credentials. Host is forwarded to the endpoint (see the module docstring); on the way back it
# does not occur.
HOP_HEADERS = {
    "authorization",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "proxy-authorization",
    "te",
    "trailer",
}


def split_scheme_name_port(target):
    """`[scheme:]name[:port]` as the API server splits it; (scheme, name, port) with '' for absent parts."""
    parts = target.split(":")
    if len(parts) == 3:
        scheme, name, port = parts
    elif len(parts) == 2:
        scheme, (name, port) = "", parts
    elif len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    else:
        raise ApiError.bad_request(f"invalid service request {target!r}")
    if scheme not in ("", "http", "https") or not name:
        raise ApiError.bad_request(f"invalid service request {target!r}")
    return scheme, name, port


class ServiceProxy:
    def __init__(self, emulator):
        self.emu = emulator
        self._lock = threading.Lock()
        self._endpoints = {}  # (namespace, name) -> {service port number or None: "host:port"}
        self._forwarded = []  # what the endpoints were sent

    # -- registry (any thread) -----------------------------------------------------------------
    def register(self, namespace, name, address, port=None):
        """`address` ("host:port") answers for Service namespace/name on `port` (a Service port number
        or name; None: every port)."""
        host, _, local_port = str(address).rpartition(":")
        if not host or not local_port.isdigit():
            raise ValueError(f"address must be host:port, got {address!r}")
        with self._lock:
            self._endpoints.setdefault((namespace, name), {})[None if port in (None, "") else str(port)] = address

    def unregister(self, namespace, name, port=None):
        with self._lock:
            ports = self._endpoints.get((namespace, name), {})
            if port in (None, ""):
                ports.clear()
            else:
                ports.pop(str(port), None)
            if not ports:
                self._endpoints.pop((namespace, name), None)

    def registered(self):
        with self._lock:
            return [
                {"namespace": ns, "name": name, "port": port, "address": address}
                for (ns, name), ports in sorted(self._endpoints.items())
                for port, address in ports.items()
            ]

    def forwarded(self, namespace=None, name=None):
        """What was sent to the endpoints (of Service namespace/name): [{namespace, name, method, host, path}],
        ``host`` the Host header the endpoint received, ``path`` the path after `/proxy` with the query."""
        with self._lock:
            return [
                dict(r) for r in self._forwarded if namespace in (None, r["namespace"]) and name in (None, r["name"])
            ]

    def _address(self, namespace, name, service_port):
        with self._lock:
            ports = self._endpoints.get((namespace, name), {})
            for key in (str(service_port.get("port")), service_port.get("name"), None):
                if key in ports:
                    return ports[key]
        return None

    # -- the subresource ------------------------------------------------------------------------
    async def handle(self, request, route):
        _, name, port = split_scheme_name_port(route.name)
        service = self.emu.get("v1", "Service", name, route.namespace)
        if service is None:
            raise ApiError(404, f'services "{name}" not found', "NotFound", {"name": name, "kind": "services"})
        ports = (service.get("spec") or {}).get("ports") or []
        if port:
            matching = [p for p in ports if p.get("name") == port or str(p.get("port")) == port]
        else:
            matching = ports[:1] if len(ports) == 1 else []
        if not matching:
            raise ApiError(503, f'no service port "{port}" found for service "{name}"', "ServiceUnavailable")
        address = self._address(route.namespace, name, matching[0])
        if address is None:
            raise ApiError(503, f'no endpoints available for service "{name}"', "ServiceUnavailable")
        return await self._forward(request, address, route.namespace, name)

    @staticmethod
    def _rest(request):
        """What follows `/proxy` in the raw (still percent-encoded) path, with the query."""
        raw = request.raw_path
        path, _, query = raw.partition("?")
        marker = path.find("/proxy", path.find("/services/"))
        rest = path[marker + len("/proxy") :] or "/"
        return rest + (f"?{query}" if query else "")

    async def _forward(self, request, address, namespace, name):
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.read() if request.can_read_body else None
        rest = self._rest(request)
        url = f"http://{address}{rest}"
        with self._lock:
            self._forwarded.append(
                {
                    "namespace": namespace,
                    "name": name,
                    "method": request.method,
                    "host": request.headers.get("Host"),
                    "path": rest,
                }
            )
        timeout = aiohttp.ClientTimeout(total=60)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
                session.request(request.method, url, headers=headers, data=body, allow_redirects=False) as upstream,
            ):
                payload = await upstream.read()
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
                return web.Response(status=upstream.status, body=payload, headers=out)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ApiError(503, f"error trying to reach service: {exc}", "ServiceUnavailable") from exc
