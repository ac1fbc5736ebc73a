"""Fault injection and the request log."""

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


@dataclass
class RequestRecord:
    verb: str
    path: str
    status: int
    duration: float
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    content_type: str | None = None
    time: float = field(default_factory=time.time)
    # False for an update or patch (server-side apply included) that left the object's
    # resourceVersion alone: the API server wrote nothing.
    wrote: bool = True

    def to_dict(self):
        return asdict(self)


class RequestLog:
    """The requests since the last reset. A request is logged when it ends, and only if it began
    after the reset: a watch a client opened before (helm --wait) and dropped is noticed by the
    server only at its next check, and belongs to the run that opened it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records = []
        self._since = 0.0

    def add(self, record):
        with self._lock:
            if record.time - record.duration >= self._since:
                self._records.append(record)

    def records(self):
        with self._lock:
            return list(self._records)

    def reset(self):
        with self._lock:
            self._records.clear()
            self._since = time.time()

    def counts(self, writes_only=False):
        return Counter(r.verb for r in self.records() if r.resource and (not writes_only or r.verb in WRITE_VERBS))


@dataclass
class _Rule:
    verb: str | None
    resource: str | None
    nth: int
    status: int
    times: int | None  # None: every matching request from the nth on
    message: str | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, verb, resource):
        return self.verb in (None, verb) and self.resource in (None, resource)


class Faults:
    """What the server should get wrong. Safe to call from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._latencies = []
        self._watch_limits = []
        self._refuse = None  # set by the server: callable(seconds)

    def add(self, verb=None, resource=None, nth=1, status=500, times=1, message=None):
        """Answer the nth request matching verb/resource (and the `times - 1` after it) with `status`."""
        with self._lock:
            self._rules.append(_Rule(verb, resource, nth, status, times, message))

    def forbid(self, verb, resource):
        """403 Forbidden for every `verb` request on `resource`, as RBAC would."""
        self.add(verb=verb, resource=resource, nth=1, status=403, times=None)

    def latency(self, seconds, verb=None, resource=None):
        with self._lock:
            self._latencies.append((seconds, verb, resource))

    def close_watch_after(self, n_events, resource=None):
        """Every later watch (on resource) is closed by the server after n_events events."""
        with self._lock:
            self._watch_limits.append((n_events, resource))

    def refuse_connections(self, seconds):
        """Stop listening for `seconds`: clients get connection refused, then the server is back."""
        if self._refuse is None:
            raise RuntimeError("the emulator is not running")
        self._refuse(seconds)

    def clear(self):
        with self._lock:
            self._rules.clear()
            self._latencies.clear()
            self._watch_limits.clear()

    # -- used by the server -----------------------------------------------------------------------
    def status_for(self, verb, resource):
        """(status, message) of the fault this request triggers, or None."""
        names = _names(resource)
        with self._lock:
            for rule in self._rules:
                if not any(rule.matches(verb, n) for n in names):
                    continue
                rule.seen += 1
                if rule.seen >= rule.nth and (rule.times is None or rule.fired < rule.times):
                    rule.fired += 1
                    return rule.status, rule.message
        return None

    def delay_for(self, verb, resource):
        names = _names(resource)
        with self._lock:
            return sum(s for s, v, r in self._latencies if v in (None, verb) and (r is None or r in names))

    def watch_limit(self, resource):
        names = _names(resource)
        with self._lock:
            limits = [n for n, r in self._watch_limits if r is None or r in names]
        return min(limits) if limits else None


def _names(resource):
    """A fault's resource may be given as `secrets`, `deployments.apps` or a kind (`Deployment`)."""
    if resource is None:
        return {""}
    return {resource.plural, resource.qualified, resource.kind, resource.kind.lower()}
