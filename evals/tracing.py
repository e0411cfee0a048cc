"""Sampled traces for the harder level: single requests walked through the call graph with the minute's
probabilities from evals/flow.py, so a failing callee shows in its callers' spans and logs as often as the
flow says. A retry is a new client span; a request that hits a bug fails the same way on every retry
(sticky), one that met a bad instance may get through on the next (transient). The logs a traced request
writes carry its trace id."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from evals.flow import CONNECT_TIMEOUT_MS, Call, Minute, Net, answered, demand, level, poisson
from evals.world import Stage, ts

TRACES_PER_MIN = 16              # requests traced per minute at the usual traffic (head sampling)
ROUTES = ("GET /api/v1/items", "GET /api/v1/list", "POST /api/v1/orders", "GET /api/v1/search")


def upstream_messages(callee: str, port: int) -> list[str]:
    """What a caller logs when its callee answered with an error."""
    return [f"upstream {callee} returned 503 Service Unavailable",
            f"GET http://{callee}:{port}/v1 -> 500 Internal Server Error",
            f"call to {callee} failed: status 500"]


def timeout_messages(callee: str, timeout_ms: float) -> list[str]:
    return [f"call to {callee} timed out after {timeout_ms:.0f}ms", f"context deadline exceeded calling {callee}"]


@dataclass
class Tracer:
    net: Net
    st: Stage
    mn: Minute
    up: dict[str, list[tuple[str, str]]]          # service → instances taking requests this minute
    spans: list[dict] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)
    tid: str = ""
    n: int = 0
    sticky_draw: dict = field(default_factory=dict)

    @property
    def rng(self) -> random.Random:
        return self.net.w.rng

    def minute(self) -> None:
        """This minute's sampled requests, from every entry in proportion to its traffic, and as many of a batch
        job's calls (the same share of them is traced)."""
        entries, mn = self.net.entries, self.mn
        rate = sum(self.net.w.services[e].base_rps for e in entries) * demand(mn.m)
        for e in entries:
            for _ in range(poisson(self.rng, TRACES_PER_MIN * self.net.w.services[e].base_rps * demand(mn.m) / rate)):
                self.start()
                self.serve(e, mn.m + self.rng.random(), None, self.rng.choice(ROUTES))
        surge = self.st.extra["surge_from"]
        for _ in range(poisson(self.rng, TRACES_PER_MIN * mn.batch / rate) if surge else 0):
            self.start()
            self.batch(mn.calls[(surge[0], self.st.root)], mn.m + self.rng.random())

    def start(self) -> None:
        self.tid, self.n, self.sticky_draw = f"{self.rng.getrandbits(128):032x}", 0, {}

    def batch(self, c: Call, t: float) -> None:
        """A batch job's call, under a span of its own in the caller (no request waits for it)."""
        sid = self._id()
        ok, ms, why = self.call(c, t + 0.001 / 60, sid)
        if not ok:
            self.log(c.site.caller, t + ms / 60000, "error", f"batch reindex: {why}")
        self.span({"time": ts(t), "trace_id": self.tid, "span_id": sid, "parent_span_id": None,
                   "service": c.site.caller, "kind": "internal", "operation": "batch reindex",
                   "status": "ok" if ok else "error", "duration_ms": round(ms + 2, 1)}, {})

    def _id(self) -> str:
        self.n += 1
        return f"{self.tid[:8]}{self.n:08x}"

    def _sticky(self, key: tuple) -> float:
        """The same request meets the same bug on every retry: one draw per request and place."""
        if key not in self.sticky_draw:
            self.sticky_draw[key] = self.rng.random()
        return self.sticky_draw[key]

    def serve(self, s: str, t: float, parent: str | None, op: str) -> tuple[float, bool]:
        """A request at service s from minute-time t: its server span, calls and logs; (duration ms, ok)."""
        mn, rng = self.mn, self.rng
        sid = self._id()
        if rng.random() < mn.shed[s]:        # turned away at the door
            self.log(s, t, "error", rng.choice(SHED_MESSAGES))
            self.span({"time": ts(t), "trace_id": self.tid, "span_id": sid, "parent_span_id": parent, "service": s,
                       "kind": "server", "operation": op, "status": "error", "duration_ms": 0.5},
                      {"http.status_code": 503, "error.type": "overloaded"})
            return 0.5, False
        own = self.net.own_ms[s] * mn.slow[s] * math.exp(rng.gauss(0, 0.35))
        cursor = t + own * 0.4 / 60000
        failed_call: tuple[Call, str] | None = None
        for site in self.net.out(s):
            c = mn.calls[(s, site.callee)]
            if rng.random() < site.p:
                ok, ms, why = self.call(c, cursor, sid)
                cursor += ms / 60000
                if not ok and site.critical:
                    failed_call = failed_call or (c, why)
                elif not ok:
                    self.log(s, cursor, "warn", f"{site.callee} unavailable ({why}); serving a degraded response")
        sticky_hit = self._sticky(("own", s)) < mn.own_sticky[s]
        own_fail = sticky_hit or rng.random() < mn.own_transient[s]
        dur = (cursor - t) * 60000 + own * 0.6
        status = "error" if own_fail or failed_call else "ok"
        attrs: dict = {}
        if own_fail:
            attrs = self._own_failure(s, cursor, sticky_hit)
        elif failed_call:
            attrs = {"http.status_code": 500, "error.type": "upstream"}
            self.log(s, cursor, "error", failed_call[1])
        self.span({"time": ts(t), "trace_id": self.tid, "span_id": sid, "parent_span_id": parent, "service": s,
                   "kind": "server", "operation": op, "status": status, "duration_ms": round(dur, 1)}, attrs)
        return dur, status == "ok"

    def _own_failure(self, s: str, t: float, sticky_hit: bool) -> dict:
        """The service's own code failed: why (its fault, its usual errors), in its log and span."""
        f = self.st.fails.get(s)
        fault = f if f and f.peer is None and f.level == "error" else None
        weights = [0.0 if sticky_hit or not fault or fault.sticky else level(fault, self.mn.m), self.net.background[s]]
        if sticky_hit or self.rng.choices(("fault", "noise"), weights)[0] == "fault":
            self.log(s, t, "error", self.rng.choice(fault.messages))
            return dict(fault.span_error) or {"error.type": "internal"}
        self.log(s, t, "error", self.rng.choice(self.net.noise[s]))
        return {"http.status_code": 500, "error.type": "internal"}

    def call(self, c: Call, t: float, parent: str) -> tuple[bool, float, str]:
        """One call with the retries its budget allows: (ok, ms in all, why it failed)."""
        site, total = c.site, 0.0
        for attempt in range(1 + site.retries):
            ok, ms, why = self.attempt(c, t, parent)
            total += ms
            t += ms / 60000
            if ok:
                return True, total, ""
            if attempt == site.retries or self.rng.random() >= c.retry_p:
                break
            self.log(site.caller, t, "warn", f"retrying call to {site.callee} (attempt {attempt + 2}/"
                                             f"{site.retries + 1}): {why}")
            t += 0.05 * 2 ** attempt / 60        # backoff
        return False, total, why

    def attempt(self, c: Call, t: float, parent: str) -> tuple[bool, float, str]:
        """One client span, and the callee's server span when the call reaches it."""
        rng, site, cid = self.rng, c.site, self._id()
        wire = site.wire_ms * math.exp(rng.gauss(0, 0.3)) + c.delay_ms
        lost = (self._sticky(("way", site.callee)) < c.on_way) if c.on_way_sticky else rng.random() < c.on_way
        ok, why, attrs = True, "", {}
        if lost:
            ok, why, attrs = False, rng.choice(c.edge.messages), dict(c.edge.span_error)
            ms = (self.serve(site.callee, t + wire / 2 / 60000, cid, f"handle {site.caller}")[0] + wire
                  if answered(c.edge) else
                  CONNECT_TIMEOUT_MS if "timeout" in str(c.edge.span_error.get("error.type")) else 3 * wire)
        elif site.callee in self.net.w.services:
            served, ok = self.serve(site.callee, t + wire / 2 / 60000, cid, f"handle {site.caller}")
            ms = served + wire
            if ms > site.timeout_ms:
                ok, ms = False, site.timeout_ms
                why, attrs = rng.choice(timeout_messages(site.callee, site.timeout_ms)), {"error.type": "timeout"}
            elif not ok:
                why = rng.choice(upstream_messages(site.callee, self.net.w.services[site.callee].port))
                attrs = {"http.status_code": 500, "error.type": "upstream_500"}
        else:
            ms = wire
        self.span({"time": ts(t), "trace_id": self.tid, "span_id": cid, "parent_span_id": parent,
                   "service": site.caller, "kind": "client", "peer_service": site.callee,
                   "operation": f"call {site.callee}", "status": "ok" if ok else "error",
                   "duration_ms": round(ms, 1)}, attrs)
        return ok, ms, why

    def span(self, row: dict, attrs: dict) -> None:
        """A span as exporters write it: no empty fields."""
        if row["parent_span_id"] is None:
            del row["parent_span_id"]
        self.spans.append({**row, "attributes": attrs} if attrs else row)

    def log(self, s: str, t: float, level: str, message: str) -> None:
        inst, zone = self.rng.choice(self.up[s])
        self.logs.append({"time": ts(t), "service": s, "level": level, "instance": inst, "zone": zone,
                          "trace_id": self.tid, "message": message})


SHED_MESSAGES = ["503 Service Unavailable: server overloaded, request shed",
                 "java.util.concurrent.RejectedExecutionException: worker queue is full (capacity 256)"]
