"""KubeEmulator: the store, the HTTP server on its own thread and loop, controllers and faults."""

import asyncio
import os
import shutil
import tempfile
import threading
from pathlib import Path

import yaml
from aiohttp import web

from .controllers import Controllers
from .errors import ApiError
from .faults import Faults, RequestLog
from .patch import managed_entries
from .schemas import Schemas
from .server import Server
from .service_proxy import ServiceProxy
from .store import Store, WriteOptions

ALL_CONTROLLERS = ("cnpg", "workloads", "pvc", "authentik", "gateway")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_SCHEMAS = {}  # loading the core schemas takes a moment: share them between emulators


def _schemas():
    if "core" not in _SCHEMAS:
        _SCHEMAS["core"] = Schemas()
    return _SCHEMAS["core"]


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CRD_CACHE = {}  # (path, mtime) -> parsed documents; the CNPG CRDs alone are 1 MB of YAML


def crd_documents(paths):
    """CustomResourceDefinition documents from files and directories of YAML."""
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
        for file in files:
            key = (str(file), file.stat().st_mtime)
            if key not in _CRD_CACHE:
                _CRD_CACHE[key] = list(yaml.load_all(file.read_text(), Loader=_YAML_LOADER))  # noqa: S506 - safe loader
            for doc in _CRD_CACHE[key]:
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    yield doc  # the store copies what it keeps


class KubeEmulator:
    """A Kubernetes API server stand-in on 127.0.0.1; see README.md for what it does and does not do."""

    def __init__(
        self,
        crd_files=(),
        controllers=ALL_CONTROLLERS,
        cnpg_delay=0.5,
        workload_delay=0.2,
        storage_classes=None,
        tls=False,
        port=0,
        host="127.0.0.1",
        event_history=5000,
        bookmark_interval=5.0,
    ):
        unknown = set(controllers) - set(ALL_CONTROLLERS)
        if unknown:
            raise ValueError(f"unknown controllers {sorted(unknown)}; known: {ALL_CONTROLLERS}")
        self.host, self.port, self.tls = host, port, tls
        self.bookmark_interval = bookmark_interval
        self.store = Store(_schemas(), history=event_history)
        self.faults = Faults()
        self.request_log = RequestLog()
        self.controllers = Controllers(self, set(controllers), cnpg_delay, workload_delay)
        self.service_proxy = ServiceProxy(self)
        self.control = ControlApi(self)
        self.loop = None
        self._thread = None
        self._runner = None
        self._site = None
        self._tmp = None
        self.kubeconfig = None
        self._ssl = None
        self._ca_pem = None
        self._enabled = {}
        for name in INITIAL_NAMESPACES:
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        for crd in crd_documents(crd_files):
            self.create(crd)
        for name, default in (storage_classes or {}).items():
            annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
            self.create(
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {"name": name, "annotations": annotations},
                    "provisioner": "kube-emulator.local/hostpath",
                    "reclaimPolicy": "Delete",
                    "volumeBindingMode": "Immediate",
                }
            )

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self):
        if self._thread:
            return self
        self._tmp = tempfile.mkdtemp(prefix="kube-emulator-")
        if self.tls:
            from .tls import self_signed

            self._ssl, self._ca_pem = self_signed(self.host, self._tmp)
        ready = threading.Event()
        failure = []
        self.loop = asyncio.new_event_loop()

        def run():
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._start_server())
            except Exception as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self._runner.cleanup())
            self.loop.close()

        self._thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(60) or failure:
            self._thread = None
            raise failure[0] if failure else RuntimeError("the emulator did not start within 60 s")
        self.kubeconfig = self.write_kubeconfig(Path(self._tmp) / "kubeconfig")
        for controller in self.controllers.all():  # after a stop(), as they were
            controller.enabled = self._enabled.get(controller.name, controller.enabled)
        self.controllers.resync()  # objects created before start
        return self

    async def _start_server(self):
        server = Server(self)
        self._runner = web.AppRunner(server.app, handle_signals=False, access_log=None, shutdown_timeout=0.25)
        await self._runner.setup()
        await self._listen()
        self.port = self._runner.addresses[0][1]  # the port the system chose, when asked for 0
        self.faults._refuse = self._refuse_from_thread

    async def _listen(self):
        self._site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl, reuse_address=True)
        await self._site.start()

    async def refuse(self, seconds):
        """Close the listening socket for `seconds` (from the loop)."""
        await self._site.stop()
        self.loop.call_later(seconds, lambda: asyncio.ensure_future(self._listen()))

    def _refuse_from_thread(self, seconds):
        if threading.current_thread() is self._thread:
            asyncio.ensure_future(self.refuse(seconds))
        else:
            asyncio.run_coroutine_threadsafe(self.refuse(seconds), self.loop).result(10)

    def stop(self):
        if not self._thread:
            return
        self._enabled = {c.name: c.enabled for c in self.controllers.all()}
        for controller in self.controllers.all():
            controller.enabled = False  # no more work for a loop that is going away
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(15)
        self._thread = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def write_kubeconfig(self, path, context="kube-emulator"):
        path = Path(path)
        cluster = {"server": self.url}
        if self._ca_pem:
            import base64

            cluster["certificate-authority-data"] = base64.b64encode(self._ca_pem).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": {"token": "kube-emulator-token"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
            "current-context": context,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        os.chmod(path, 0o600)
        return path

    # -- direct store access (no HTTP) ---------------------------------------------------------
    def _type(self, api_version, kind):
        return self.store.find_kind(api_version, kind)

    def get(self, api_version, kind, name, namespace=None):
        try:
            return self.store.get(self._type(api_version, kind), namespace, name)
        except ApiError as error:
            if error.code == 404:
                return None
            raise

    def list(self, api_version, kind, namespace=None):
        from .store import Selector

        return self.store.list(self._type(api_version, kind), Selector(namespace))[0]

    def create(self, obj, keep_managed_fields=False):
        """Create as `kube-emulator`; with keep_managed_fields, the object's managedFields stay as given
        (a copy of another cluster's object keeps its field owners, e.g. helm's for server-side apply)."""
        rt = self._type(obj["apiVersion"], obj["kind"])
        return self.store.create(
            rt,
            obj,
            obj.get("metadata", {}).get("namespace"),
            WriteOptions(field_manager="kube-emulator"),
            keep_status=True,
            entries=managed_entries(obj) if keep_managed_fields and obj["metadata"].get("managedFields") else None,
        )

    def delete(self, api_version, kind, name, namespace=None):
        """Delete as a client would (finalizers and owner references honoured); ApiError 404 when absent."""
        return self.store.delete(self._type(api_version, kind), namespace, name)

    def patch_status(self, api_version, kind, name, namespace, status):
        """Merge `status` into the object's status, as a controller would."""
        rt = self._type(api_version, kind)
        options = WriteOptions(field_manager="kube-emulator", field_validation="Ignore")
        return self.store.patch(
            rt, namespace, name, "merge", {"status": status}, options, "status" if rt.status else None
        )

    def compact(self):
        """Drop the watch event history: watches from an older resourceVersion get 410 Gone."""
        self.store.compact()

    def rollouts(self, name, namespace="default", kind="Deployment"):
        """How many pod-template rollouts the workload controller has seen for this workload."""
        return len(self.controllers.workloads.rollouts.get((kind, namespace, name), []))

    # -- request log ----------------------------------------------------------------------------
    @property
    def requests(self):
        return self.request_log.records()

    def request_counts(self, writes_only=False):
        return self.request_log.counts(writes_only)

    def reset_requests(self):
        self.request_log.reset()


class ControlApi:
    """/_emulator/: the same controls over HTTP, for tools running in another process (molecule)."""

    def __init__(self, emulator):
        self.emu = emulator

    async def handle(self, request):
        action = request.path[len("/_emulator/") :].strip("/")
        try:
            body = await request.json() if request.can_read_body else {}
            result = self._do(request.method, action, body)
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if action == "refuse-connections" and result:
            # answer first: stopping the listener now would cut this very request
            seconds = float(body["seconds"])
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self.emu.refuse(seconds)))
        if result is None:
            return web.json_response({"error": f"unknown control {request.method} /_emulator/{action}"}, status=404)
        return web.json_response(result)

    def _do(self, method, action, body):
        emu = self.emu
        if (method, action) == ("GET", "healthz"):
            return {"ok": True, "url": emu.url}
        if (method, action) == ("GET", "requests"):
            return {"requests": [r.to_dict() for r in emu.requests], "counts": dict(emu.request_counts())}
        if (method, action) == ("POST", "reset-requests"):
            emu.reset_requests()
            return {"ok": True}
        if (method, action) == ("POST", "faults"):
            kind = body.pop("type", "status")
            if kind == "status":
                emu.faults.add(**body)
            elif kind == "forbid":
                emu.faults.forbid(body["verb"], body["resource"])
            elif kind == "latency":
                emu.faults.latency(**body)
            elif kind == "close_watch_after":
                emu.faults.close_watch_after(**body)
            elif kind == "clear":
                emu.faults.clear()
            else:
                raise ValueError(f"unknown fault type {kind!r}")
            return {"ok": True}
        if (method, action) == ("POST", "refuse-connections"):
            float(body["seconds"])
            return {"ok": True}
        if (method, action) == ("POST", "controllers"):
            controller = emu.controllers.get(body["name"])
            if "enabled" in body:
                emu.controllers.set_enabled(body["name"], body["enabled"])
            if body.get("fail_with"):
                controller.fail_with(**body["fail_with"])
            if body.get("clear_failure"):
                controller.clear_failure()
            return {"ok": True, "enabled": controller.enabled}
        if (method, action) == ("GET", "service-endpoints"):
            return {"endpoints": emu.service_proxy.registered()}
        if (method, action) == ("POST", "service-endpoints"):
            emu.service_proxy.register(body["namespace"], body["name"], body["address"], body.get("port"))
            return {"ok": True}
        if (method, action) == ("DELETE", "service-endpoints"):
            emu.service_proxy.unregister(body["namespace"], body["name"], body.get("port"))
            return {"ok": True}
        if (method, action) == ("GET", "controllers"):
            return {c.name: c.enabled for c in emu.controllers.all()}
        return None
