"""A simulated Gateway API controller: status of GatewayClasses, Gateways and HTTPRoutes.

What a real implementation (Cilium's, in the reference deployment) reports, reduced to the
conditions clients read (gateway-api v1, apis/v1/httproute_types.go and shared_types.go of
kubernetes-sigs/gateway-api, the commit scripts/fetch_schemas.py pins):

- GatewayClass: `Accepted` True.
- Gateway whose GatewayClass exists: `Accepted` and `Programmed` True, one listener status each.
- HTTPRoute: one `status.parents[]` entry per parentRef whose Gateway (and its GatewayClass)
  exists. `Accepted` is True when a listener of that Gateway admits the route (sectionName,
  allowedRoutes.namespaces `All`/`Same`, hostname intersection), else False with
  `NotAllowedByListeners` or `NoMatchingListenerHostname`. `ResolvedRefs` is True when every
  backendRef names a Service that exists, else False with `BackendNotFound`. A parentRef whose
  Gateway does not exist gets no entry: no controller owns it, as in a real cluster.

Not simulated: traffic (nothing listens on the Gateway), TLS, ReferenceGrants (cross-namespace
backends are resolved without one), route kinds other than HTTPRoute, addresses.
"""

from .controllers import Controller, _now
from .store import Selector

GROUP = "gateway.networking.k8s.io"
API_VERSION = f"{GROUP}/v1"


def _condition(ctype, ok, reason, message, generation):
    return {
        "type": ctype,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": _now(),
    }


def _host_matches(listener_host, route_hosts):
    """Whether a listener hostname (maybe `*.` wildcard, maybe empty) intersects the route's hostnames."""
    if not listener_host or not route_hosts:
        return True
    for host in route_hosts:
        if host == listener_host:
            return True
        for wild, name in ((listener_host, host), (host, listener_host)):
            if wild.startswith("*.") and name.endswith(wild[1:]) and name.count(".") >= wild.count("."):
                return True
    return False


class GatewayController(Controller):
    name = "gateway"
    watches = ((GROUP, "gatewayclasses"), (GROUP, "gateways"), (GROUP, "httproutes"), ("", "services"))

    def react(self, etype, rt, obj):
        if self.store.lookup(GROUP, "v1", "httproutes") is None:
            return
        # Any change can change another object's status (a Gateway appearing accepts its routes):
        # recompute everything, after a short delay that coalesces bursts of events.
        self.later("all", 0.05, self.reconcile_all)

    def _list(self, kind, namespace=None):
        rt = self.store.lookup(GROUP, "v1", kind)
        return self.store.list(rt, Selector(namespace))[0] if rt else []

    def reconcile_all(self):
        classes = {c["metadata"]["name"]: c for c in self._list("gatewayclasses")}
        for gc in classes.values():
            generation = gc["metadata"].get("generation", 1)
            self._update(gc, {"conditions": [_condition("Accepted", True, "Accepted", "Accepted", generation)]})
        gateways = {}
        for gw in self._list("gateways"):
            if gw["spec"].get("gatewayClassName") not in classes:
                continue
            gateways[(gw["metadata"]["namespace"], gw["metadata"]["name"])] = gw
            generation = gw["metadata"].get("generation", 1)
            listeners = [
                {
                    "name": listener["name"],
                    "attachedRoutes": 0,
                    "supportedKinds": [{"group": GROUP, "kind": "HTTPRoute"}],
                    "conditions": [_condition("Accepted", True, "Accepted", "Listener accepted", generation)],
                }
                for listener in gw["spec"].get("listeners") or []
            ]
            conditions = [
                _condition("Accepted", True, "Accepted", "Gateway accepted", generation),
                _condition("Programmed", True, "Programmed", "Gateway programmed (kube-emulator)", generation),
            ]
            self._update(gw, {"conditions": conditions, "listeners": listeners})
        for route in self._list("httproutes"):
            self._route(route, gateways, classes)

    def _route(self, route, gateways, classes):
        meta, spec = route["metadata"], route.get("spec") or {}
        generation = meta.get("generation", 1)
        resolved, missing = True, []
        for rule in spec.get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                if ref.get("kind", "Service") != "Service" or ref.get("group", "") != "":
                    continue
                namespace = ref.get("namespace") or meta["namespace"]
                if self.get("v1", "Service", namespace, ref["name"]) is None:
                    resolved, missing = False, [*missing, f"{namespace}/{ref['name']}"]
        refs_condition = _condition(
            "ResolvedRefs",
            resolved,
            "ResolvedRefs" if resolved else "BackendNotFound",
            "Resolved all the Object references for the Route"
            if resolved
            else f"Service(s) {', '.join(missing)} not found",
            generation,
        )
        parents = []
        for ref in spec.get("parentRefs") or []:
            if ref.get("kind", "Gateway") != "Gateway" or ref.get("group", GROUP) != GROUP:
                continue
            gw = gateways.get((ref.get("namespace") or meta["namespace"], ref["name"]))
            if gw is None:
                continue  # no Gateway (or no class): no controller reports on this parent
            accepted, reason = self._admits(gw, ref, route)
            message = "Accepted HTTPRoute" if accepted else f"{reason} on Gateway {ref['name']}"
            parent_ref = {"group": GROUP, "kind": "Gateway", **ref}
            parents.append(
                {
                    "parentRef": parent_ref,
                    "controllerName": classes[gw["spec"]["gatewayClassName"]]["spec"]["controllerName"],
                    "conditions": [_condition("Accepted", accepted, reason, message, generation), refs_condition],
                }
            )
        self._update(route, {"parents": parents})

    @staticmethod
    def _admits(gw, ref, route):
        listeners = gw["spec"].get("listeners") or []
        if ref.get("sectionName"):
            listeners = [x for x in listeners if x["name"] == ref["sectionName"]]
        if ref.get("port"):
            listeners = [x for x in listeners if x.get("port") == ref["port"]]
        same_ns = route["metadata"]["namespace"] == gw["metadata"]["namespace"]
        allowed = [
            x
            for x in listeners
            if ((x.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same") == "All"
            or (((x.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same") == "Same" and same_ns)
        ]
        if not allowed:
            return False, "NotAllowedByListeners"
        hosts = (route.get("spec") or {}).get("hostnames") or []
        if not any(_host_matches(x.get("hostname"), hosts) for x in allowed):
            return False, "NoMatchingListenerHostname"
        return True, "Accepted"

    def _update(self, obj, status):
        """Write the status when it differs in more than the transition times."""

        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k != "lastTransitionTime"}
            if isinstance(value, list):
                return [strip(v) for v in value]
            return value

        if strip(obj.get("status") or {}) != strip(status):
            self.set_status(obj, status)
