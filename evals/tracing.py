"""The harder level's one simulation: requests walked through the call graph, minute by minute, under the
conditions evals/flow.py sets. Every request is tallied (the minute's load, errors and latency, so its metrics);
its log lines are kept as a sample; a few requests are traced (spans, and log lines with their trace id).

A retry is a new client span. A retried call meets the same bug and makes the same calls again (sticky), but
may reach a healthy instance where the trouble was one instance's (transient). A callee's failure reaches its
callers as their failed calls, so spans, logs and error rates agree on how much fails, and retries multiply
the calls a failing callee gets, up to the callers' retry budgets."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from evals.flow import CONNECT_TIMEOUT_MS, Call, Minute, Net, answered, conditions, demand, level, poisson, settle
from evals.world import Stage, ts

REQUESTS_PER_MIN = 200           # requests simulated per minute (a batch job's calls on top, as many per call/s)
TRACES_PER_MIN = 24              # … of which traced (head sampling)
LOG_KEEP = 0.15                  # share of an untraced request's log lines that are kept
ACCESS_KEEP = 0.03               # share of answered requests with an access-log line
ROUTES = ("GET /api/v1/items", "GET /api/v1/list", "POST /api/v1/orders", "GET /api/v1/search")
SHED_MESSAGES = ["503 Service Unavailable: server overloaded, request shed",
                 "java.util.concurrent.RejectedExecutionException: worker queue is full (capacity 256)"]


def upstream_messages(callee: str, port: int) -> list[str]:
    """What a caller logs when its callee answered with an error."""
    return [f"upstream {callee} returned 503 Service Unavailable",
            f"GET http://{callee}:{port}/v1 -> 500 Internal Server Error",
            f"call to {callee} failed: status 500"]


def timeout_messages(callee: str, timeout_ms: float) -> list[str]:
    return [f"call to {callee} timed out after {timeout_ms:.0f}ms", f"context deadline exceeded calling {callee}"]


@dataclass
class Walker:
    net: Net
    st: Stage
    mn: Minute
    up: dict[str, list[tuple[str, str]]]          # service → instances taking requests this minute
    spans: list[dict] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)
    traced: bool = False
    tid: str = ""
    n: int = 0
    sticky_draw: dict = field(default_factory=dict)

    @property
    def rng(self) -> random.Random:
        return self.net.w.rng

    def minute(self) -> None:
        """The minute's requests, from every entry in proportion to its traffic, then a batch job's calls as
        many per call/s; the first of each are traced."""
        mn, rng, rate = self.mn, self.rng, self.net.entry_rps * demand(self.mn.m)
        n, traced = REQUESTS_PER_MIN, poisson(rng, TRACES_PER_MIN)
        entries = self.net.entries
        weights = [self.net.w.services[e].base_rps for e in entries]
        for k in range(n):
            self.start(k < traced)
            e = rng.choices(entries, weights)[0]
            self.serve(e, mn.m + rng.random(), None, rng.choice(ROUTES), (e,))
        surge = self.st.extra["surge_from"]
        batch = poisson(rng, n * mn.batch / rate) if surge else 0
        for k in range(batch):
            self.start(k < round(traced * batch / n))
            self.batch(mn.calls[(surge[0], self.st.root)], mn.m + rng.random())
        mn.tally.requests = n + batch

    def start(self, traced: bool) -> None:
        self.traced, self.tid, self.n, self.sticky_draw = traced, f"{self.rng.getrandbits(128):032x}", 0, {}

    def batch(self, c: Call, t: float) -> None:
        """A batch job's call, under a span of its own in the caller (no request waits for it)."""
        sid = self._id()
        ok, ms, why = self.call(c, t + 0.001 / 60, sid, (c.site.caller, "batch"))
        if not ok:
            self.log(c.site.caller, t + ms / 60000, "error", f"batch reindex: {why}")
        self.span({"time": t, "trace_id": self.tid, "span_id": sid, "service": c.site.caller, "kind": "internal",
                   "operation": "batch reindex", "status": "ok" if ok else "error", "duration_ms": round(ms + 2, 1)},
                  {})

    def _id(self) -> str:
        self.n += 1
        return f"{self.tid[:8]}{self.n:08x}"

    def _sticky(self, key: tuple) -> float:
        """A retried call meets the same bug again: one draw per place in the request's call tree (the services
        from the entry down), which a retry goes through again."""
        if key not in self.sticky_draw:
            self.sticky_draw[key] = self.rng.random()
        return self.sticky_draw[key]

    def serve(self, s: str, t: float, parent: str | None, op: str, where: tuple) -> tuple[float, bool]:
        """A request at service s from minute-time t: its server span, calls and logs; (duration ms, ok)."""
        mn, rng, sid = self.mn, self.rng, self._id()
        if rng.random() < mn.shed[s]:        # turned away at the door
            self.log(s, t, "error", rng.choice(SHED_MESSAGES))
            return self.answer(s, t, sid, parent, op, 0.5, {"http.status_code": 503, "error.type": "overloaded"})
        own = self.net.own_ms[s] * mn.slow[s] * math.exp(rng.gauss(0, 0.35))
        cursor = t + own * 0.4 / 60000
        failed_call = None
        for site in self.calls_of(s, where):
            ok, ms, why = self.call(mn.calls[(s, site.callee)], cursor, sid, where)
            cursor += ms / 60000
            if not ok and site.critical:
                failed_call = failed_call or why
            elif not ok:
                self.log(s, cursor, "warn", f"{site.callee} unavailable ({why}); serving a degraded response")
        sticky_hit = self._sticky(("own", where)) < mn.own_sticky[s]
        dur = (cursor - t) * 60000 + own * 0.6
        attrs = None
        if sticky_hit or rng.random() < mn.own_transient[s]:
            attrs = self._own_failure(s, cursor, sticky_hit)
        elif failed_call:
            attrs = {"http.status_code": 500, "error.type": "upstream"}
            self.log(s, cursor, "error", failed_call)
        elif rng.random() < ACCESS_KEEP:
            path = op if parent is None else f"GET /v1/{rng.choice(('items', 'list', 'query', 'get'))}"
            self.log(s, t + dur / 60000, "info", f"{path} 200 {dur:.0f}ms")
        return self.answer(s, t, sid, parent, op, dur, attrs)

    def calls_of(self, s: str, where: tuple) -> list:
        """The calls a request makes (a retried request makes the same ones): an edge or gateway routes it to one
        callee by its path, other services call each callee for their share of requests."""
        sites = self.net.out(s)
        if sites and self.net.w.services[s].tier in ("edge", "gateway"):
            u = self._sticky(("route", where))
            return [next((x for i, x in enumerate(sites) if u < sum(y.p for y in sites[:i + 1])), sites[-1])]
        return [x for x in sites if self._sticky(("calls", where, x.callee)) < x.p]

    def answer(self, s: str, t: float, sid: str, parent: str | None, op: str, dur: float,
               attrs: dict | None) -> tuple[float, bool]:
        tally = self.mn.tally
        tally.arrivals[s] += 1
        tally.errors[s] += attrs is not None
        tally.ms.setdefault(s, []).append(dur)
        self.span({"time": t, "trace_id": self.tid, "span_id": sid, "parent_span_id": parent, "service": s,
                   "kind": "server", "operation": op, "status": "ok" if attrs is None else "error",
                   "duration_ms": round(dur, 1)}, attrs or {})
        return dur, attrs is None

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

    def call(self, c: Call, t: float, parent: str, where: tuple) -> tuple[bool, float, str]:
        """One call with the retries its budget allows: (ok, ms in all, why it failed)."""
        site, total, key = c.site, 0.0, (c.site.caller, c.site.callee)
        self.mn.tally.calls[key] += 1
        for attempt in range(1 + site.retries):
            ok, ms, why = self.attempt(c, t, parent, where + (site.callee,))
            total += ms
            t += ms / 60000
            if ok:
                return True, total, ""
            self.mn.tally.first_failed[key] += attempt == 0
            if attempt == site.retries or self.rng.random() >= c.retry_p:
                break
            self.log(site.caller, t, "warn", f"retrying call to {site.callee} (attempt {attempt + 2}/"
                                             f"{site.retries + 1}): {why}")
            t += 0.05 * 2 ** attempt / 60        # backoff
        return False, total, why

    def attempt(self, c: Call, t: float, parent: str, where: tuple) -> tuple[bool, float, str]:
        """One client span, and the callee's server span when the call reaches it."""
        rng, site, cid = self.rng, c.site, self._id()
        wire = site.wire_ms * math.exp(rng.gauss(0, 0.3)) + c.delay_ms
        lost = (self._sticky(("way", where)) < c.on_way) if c.on_way_sticky else rng.random() < c.on_way
        ok, why, attrs = True, "", {}
        if lost:
            ok, why, attrs = False, rng.choice(c.edge.messages), dict(c.edge.span_error)
            ms = (self.serve(site.callee, t + wire / 2 / 60000, cid, f"handle {site.caller}", where)[0] + wire
                  if answered(c.edge) else
                  CONNECT_TIMEOUT_MS if "timeout" in str(c.edge.span_error.get("error.type")) else 3 * wire)
        elif site.callee in self.net.w.services:
            served, ok = self.serve(site.callee, t + wire / 2 / 60000, cid, f"handle {site.caller}", where)
            ms = served + wire
            if ms > site.timeout_ms:
                ok, ms = False, site.timeout_ms
                why, attrs = rng.choice(timeout_messages(site.callee, site.timeout_ms)), {"error.type": "timeout"}
            elif not ok:
                why = rng.choice(upstream_messages(site.callee, self.net.w.services[site.callee].port))
                attrs = {"http.status_code": 500, "error.type": "upstream_500"}
        else:
            ms = wire
        self.span({"time": t, "trace_id": self.tid, "span_id": cid, "parent_span_id": parent,
                   "service": site.caller, "kind": "client", "peer_service": site.callee,
                   "operation": f"call {site.callee}", "status": "ok" if ok else "error",
                   "duration_ms": round(ms, 1)}, attrs)
        return ok, ms, why

    def span(self, row: dict, attrs: dict) -> None:
        """A traced request's span as exporters write it: no empty fields."""
        if not self.traced:
            return
        row["time"] = ts(row["time"])
        if row.get("parent_span_id", "") is None:
            del row["parent_span_id"]
        self.spans.append({**row, "attributes": attrs} if attrs else row)

    def log(self, s: str, t: float, level: str, message: str) -> None:
        """A traced request's log lines carry its trace id; of the others a sample is kept."""
        if not self.traced and self.rng.random() >= LOG_KEEP:
            return
        inst, zone = self.rng.choice(self.up[s])
        self.logs.append({"time": ts(t), "service": s, "level": level, "instance": inst, "zone": zone,
                          **({"trace_id": self.tid} if self.traced else {}), "message": message})


def run(net: Net, st: Stage, window: int, up) -> tuple[list[Minute], list[dict], list[dict]]:
    """Every minute's conditions, requests and their tally; with the spans and log lines they left."""
    minutes: list[Minute] = []
    spans: list[dict] = []
    logs: list[dict] = []
    for m in range(window):
        mn = conditions(net, st, m, minutes[-1] if minutes else None)
        walker = Walker(net, st, mn, up(st, m))
        walker.minute()
        settle(net, st, mn)
        minutes.append(mn)
        spans += walker.spans
        logs += walker.logs
    return minutes, spans, logs
