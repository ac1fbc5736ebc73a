"""STAND-IN for the authentik proxy outpost. It is not authentik.

A small aiohttp reverse proxy that behaves, for an API client, the way the outpost of the
blueprint's proxy provider does:
- With ``intercept_header_auth`` true (authentik's default), an ``Authorization`` header
  authenticates: ``Basic`` with a username and app password, or ``Bearer`` with a token.
- With it false, that header is not used for authentication: the client is treated as not
  logged in.
- Not authenticated: 302 to the outpost's sign-in start URL; the request never reaches MLflow.
- Authenticated: forwarded to the provider's ``internal_host`` with the ``Host`` header set to
  that host (authentik sets Host to the backend's host and the original in X-Forwarded-Host),
  plus the X-authentik-* user headers.
- The X-authentik-* headers the outpost sets REPLACE any the client sent, on every proxied
  request, whatever their case (goauthentik/authentik internal/outpost/proxyv2/application/
  mode_common.go ``addHeaders``: ``headers.Set`` for each, and Go's ``Header.Set`` replaces every
  value of the case-insensitive key; mode_proxy.go calls it before each ``rp.ServeHTTP``).
  Other client headers pass. The ``Authorization`` header that authenticated is removed
  (auth.go ``saveAndCacheClaims``: ``r.Header.Del``).
- X-Forwarded-For gets the connecting address appended, as Go's ``httputil.ReverseProxy``
  does for the outpost (prior values joined with ", ", then the client's IP).
There is no session cookie, no flow and no policy engine: only what the tests need. Unlike
authentik, there are no unauthenticated paths (``skip_path_regex``): on those the real outpost
adds no headers, so a client's X-authentik-username would pass (docs/audit-log.md).
"""

import argparse
import asyncio
import base64
import json
import signal
import threading
from urllib.parse import quote, urlsplit

from aiohttp import ClientSession, ClientTimeout, web
from multidict import CIMultiDict

OUTPOST_PREFIX = "/outpost.goauthentik.io"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}  # fmt: skip
# Every header addHeaders sets (mode_common.go), user headers first, then the system headers.
OUTPOST_HEADERS = (
    "X-authentik-username", "X-authentik-groups", "X-authentik-email", "X-authentik-name",
    "X-authentik-uid", "X-authentik-jwt", "X-authentik-meta-jwks", "X-authentik-meta-outpost",
    "X-authentik-meta-provider", "X-authentik-meta-app", "X-authentik-meta-version",
)  # fmt: skip


def outpost_headers(user, outpost="mlflow-outpost (stand-in)"):
    """The values the stand-in gives the headers of OUTPOST_HEADERS for ``user`` (claims are made up)."""
    return dict(
        zip(
            OUTPOST_HEADERS,
            (user, "mlflow-users", f"{user}@example.com", user, f"uid-{user}", "", "", outpost,
             "mlflow-provider", "mlflow", "goauthentik.io/outpost/stand-in"),
            strict=True,
        )
    )  # fmt: skip


class OutpostStandIn:
    def __init__(
        self,
        *,
        upstream,
        internal_host,
        external_host,
        intercept_header_auth=True,
        app_passwords=None,
        tokens=None,
        port=0,
    ):
        """``upstream``: where the in-cluster service really is (http://127.0.0.1:PORT);
        ``internal_host`` / ``external_host``: the proxy provider's URLs from the blueprint;
        ``app_passwords``: {username: app password}; ``tokens``: {token: username}."""
        self.upstream = upstream.rstrip("/")
        self.internal = urlsplit(internal_host)
        self.external = urlsplit(external_host)
        self.intercept_header_auth = intercept_header_auth
        self.app_passwords = dict(app_passwords or {})
        self.tokens = dict(tokens or {})
        self.port = port
        self.stats = {"forwarded": 0, "redirected": 0, "upstream_status": {}}
        self._runner = self._loop = self._thread = None

    # --- request handling ------------------------------------------------------------
    def authenticate(self, request):
        """The username the request is authenticated as, or None."""
        if not self.intercept_header_auth:
            return None  # authentik then ignores the header and wants a browser session
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            if user and self.app_passwords.get(user) == password:
                return user
        elif scheme.lower() == "bearer":
            return self.tokens.get(value.strip())
        return None

    async def handle(self, request):
        if request.path.startswith(OUTPOST_PREFIX):
            return web.Response(
                status=200,
                content_type="text/html",
                text="<html><body>authentik sign-in (outpost stand-in): log in to continue</body></html>",
            )
        user = self.authenticate(request)
        if user is None:
            self.stats["redirected"] += 1
            target = f"{self.external.scheme}://{self.external.netloc}{request.path_qs}"
            raise web.HTTPFound(f"{OUTPOST_PREFIX}/start?rd={quote(target, safe='')}")
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP)
        headers.popall("Authorization", None)
        forwarded_for = ", ".join([*headers.popall("X-Forwarded-For", []), request.remote or ""])
        for name, value in {
            "Host": self.internal.netloc,
            "X-Forwarded-Host": request.headers.get("Host", self.external.netloc),
            "X-Forwarded-Proto": self.external.scheme,
            "X-Forwarded-For": forwarded_for,
            **outpost_headers(user),
        }.items():
            headers.popall(name, None)  # case-insensitive: what the client sent is gone
            headers[name] = value
        body = await request.read()
        async with self._session.request(
            request.method,
            f"{self.upstream}{request.path_qs}",
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            self.stats["forwarded"] += 1
            self.stats["upstream_status"][upstream.status] = self.stats["upstream_status"].get(upstream.status, 0) + 1
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            out_headers.pop("Content-Encoding", None)  # aiohttp has already decoded the body
            return web.Response(status=upstream.status, headers=out_headers, body=payload)

    # --- lifecycle -------------------------------------------------------------------
    async def _start(self):
        self._session = ClientSession(timeout=ClientTimeout(total=300), auto_decompress=True)
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _stop(self):
        await self._runner.cleanup()
        await self._session.close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start_in_thread(self):
        """Serve from a background thread (for tests); returns self once listening."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="outpost-stand-in", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("outpost stand-in did not start")
        return self

    def stop(self):
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = None


def main(argv=None):
    """Serve in the foreground: ``python -m tests.harness.outpost CONFIG.json`` (used by ``up``)."""
    parser = argparse.ArgumentParser(description="authentik outpost STAND-IN (not authentik)")
    parser.add_argument("config", help="JSON file with the OutpostStandIn keyword arguments")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        outpost = OutpostStandIn(**json.load(handle))

    async def serve():
        await outpost._start()
        print(f"outpost stand-in listening on {outpost.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await outpost._stop()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
