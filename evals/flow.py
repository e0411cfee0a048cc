"""The harder level's network: call sites, each service's own time and CPU cost, and what holds in a minute.

Each call site (caller → callee) carries a share of the caller's requests, whether a failed call fails the
request or the caller falls back, its retries and its timeout. A minute's conditions (its faults' shares,
shedding and queueing from the last minute's CPU, the retry budget from the last minute's failed calls) are
set here; requests walked through the call graph under them (evals/tracing.py) give the minute's load, errors
and latency, so every metric, log line and span comes from the same simulated requests."""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field

from evals.world import Failure, Stage, World

WIRE_MS = (0.4, 2.5)             # in-cluster time on the wire per call
EXTERNAL_MS = (60.0, 250.0)      # an external API's answer: all of it on the wire as far as we can see
TIMEOUTS_MS = {"edge": (10000,), "gateway": (5000, 8000), "mid": (1000, 2000, 3000)}   # deadlines shrink downwards
OWN_MS = {"edge": (3, 8), "gateway": (2, 5), "mid": (6, 30), "leaf": (2, 10), "db": (1.5, 6), "cache": (0.3, 1.5)}
QUEUE_AT = 0.72                  # CPU above this queues requests: own time grows
SHED_AT = 0.93                   # … and above this a service sheds load with 503s
CONNECT_TIMEOUT_MS = 1000.0      # a call that cannot connect waits this long
RETRY_BUDGET = 0.5               # retries a caller allows per call at most (Envoy, Finagle: a retry budget)
MAX_DB_CONNECTIONS = 200.0
REJECTED = ("invalid_response",)   # call failures after the callee answered: the caller rejects what it got
NOISE = ["java.net.SocketTimeoutException: Read timed out", "context canceled",
         'ERROR: duplicate key value violates unique constraint "idempotency_key_pkey"',
         "io.grpc.StatusRuntimeException: UNAVAILABLE: io exception",
         "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
         "failed to publish event: kafka: client has run out of available brokers to talk to",
         "json: cannot unmarshal string into Go struct field Item.price of type float64",
         "redis: connection pool timeout"]


@dataclass
class Site:
    """One call site: how the caller calls the callee."""
    caller: str
    callee: str
    p: float                     # calls per request of the caller
    critical: bool               # a failed call fails the caller's request; else it falls back, degraded
    retries: int                 # attempts after a failed one
    timeout_ms: float
    wire_ms: float               # time on the wire per attempt


@dataclass
class Net:
    """The world as requests see it: call sites, each service's own time and how much CPU a request costs."""
    w: World
    sites: list[Site]
    own_ms: dict[str, float]
    cpu_idle: dict[str, float]
    cpu_per_rps: dict[str, float]
    background: dict[str, float]         # each service's usual share of failing requests (5xx)
    memory: dict[str, float]
    order: list[str]                     # callees before callers (the call graph is acyclic)
    noise: dict[str, list[str]] = field(default_factory=dict)   # what its usual errors say
    reached: dict[str, float] = field(default_factory=dict)     # reach() as built
    outs: dict[str, list[Site]] = field(default_factory=dict)   # each service's call sites, once asked

    def out(self, service: str) -> list[Site]:
        if not self.outs:
            for s in self.sites:
                self.outs.setdefault(s.caller, []).append(s)
        return self.outs.get(service, [])

    @property
    def entry_rps(self) -> float:
        return sum(self.w.services[e].base_rps for e in self.entries)

    def site(self, caller: str, callee: str) -> Site:
        return next(s for s in self.sites if s.caller == caller and s.callee == callee)

    @property
    def entries(self) -> list[str]:
        return [s for s, v in self.w.services.items() if v.tier == "edge"]

    def reach(self) -> dict[str, float]:
        """Calls each service (and external) gets per request entering the system."""
        total = sum(self.w.services[e].base_rps for e in self.entries)
        got = {e: self.w.services[e].base_rps / total for e in self.entries}
        for s in reversed(self.order):
            for site in self.out(s):
                got[site.callee] = got.get(site.callee, 0.0) + got.get(s, 0.0) * site.p
        return got


def demand(m: int) -> float:
    """Traffic entering the system: a gentle afternoon rise."""
    return 1.0 + 0.35 * math.exp(-((m - 60) / 25) ** 2)


def build_net(w: World) -> Net:
    rng = w.rng
    sites = []
    for caller, callees in w.calls.items():
        tier = w.services[caller].tier
        # edges and gateways route each request to one of their callees (by path); the others call each for a share
        weights = [rng.uniform(0.3, 1.0) for _ in callees] if tier in ("edge", "gateway") else None
        for i, callee in enumerate(callees):
            ext = callee not in w.services
            p = weights[i] / sum(weights) if weights else rng.uniform(0.35, 0.9)
            sites.append(Site(caller, callee, round(p, 3), tier in ("edge", "gateway") or rng.random() < 0.8,
                              0 if tier == "edge" else rng.choice((0, 1, 2, 2)),
                              float(rng.choice(TIMEOUTS_MS[tier]) * (2 if ext else 1)),
                              rng.uniform(*(EXTERNAL_MS if ext else WIRE_MS))))
    order = _callees_first(w)
    own = {s: rng.uniform(*OWN_MS[w.services[s].tier]) for s in order}
    net = Net(w, sites, own, {s: rng.uniform(0.04, 0.12) for s in order}, {},
              {s: rng.uniform(0.001, 0.008) for s in order}, {s: rng.uniform(0.35, 0.6) for s in order}, order)
    net.noise = {s: rng.sample(NOISE, 2) for s in order}
    peak = demand(60)
    total = sum(w.services[e].base_rps for e in net.entries)
    net.reached = net.reach()
    for s, r in net.reached.items():
        if s in w.services:        # at the usual peak a service uses 25–50% of its CPU
            net.cpu_per_rps[s] = rng.uniform(0.25, 0.5) / max(r * total * peak, 0.01)
    return net


def _callees_first(w: World) -> list[str]:
    order: list[str] = []

    def visit(s: str) -> None:
        if s in order:
            return
        for c in w.calls.get(s, []):
            if c in w.services:
                visit(c)
        order.append(s)
    for s in w.services:
        visit(s)
    return order


def answered(edge: Failure | None) -> bool:
    return edge is not None and edge.span_error.get("error.type") in REJECTED


def level(f: Failure | None, m: int) -> float:
    """The share of requests a failure hits at minute m."""
    if f is None or m < f.start or (f.end is not None and m >= f.end):
        return 0.0
    return min(1.0, f.share * (f.shape(m) if f.shape else 1.0))


def queueing(cpu: float) -> float:
    """How much longer a request takes its own time at this CPU."""
    return 1.0 + 6.0 * max(0.0, cpu - QUEUE_AT) / max(1.02 - cpu, 0.02)


def shedding(cpu: float) -> float:
    return min(0.6, max(0.0, (cpu - SHED_AT) * 8))


@dataclass
class Call:
    """One call site in one minute: what happens on the way, and how often a failed attempt is retried."""
    site: Site
    edge: Failure | None         # the fault on the way, if any
    on_way: float                # share of attempts failing on the way (before the callee answers)
    on_way_sticky: bool          # … the same on a retry (a wrong setting, an expired certificate)
    delay_ms: float              # added on the wire
    retry_p: float               # chance a failed attempt is retried, as the retry budget allows


@dataclass
class Tally:
    """What the minute's simulated requests did, per service and call site."""
    requests: int = 0            # requests entering the system (a batch job's calls counted alike)
    arrivals: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    ms: dict[str, list[float]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    first_failed: Counter = field(default_factory=Counter)


@dataclass
class Minute:
    m: int
    own_sticky: dict[str, float] = field(default_factory=dict)  # own code failing (the fault, a bad deploy)
    own_transient: dict[str, float] = field(default_factory=dict)   # … and per attempt (background errors)
    shed: dict[str, float] = field(default_factory=dict)        # turned away at the door: no calls, no work
    slow: dict[str, float] = field(default_factory=dict)        # own time multiplied by queueing, GC, slow disks
    calls: dict[tuple[str, str], Call] = field(default_factory=dict)
    batch: float = 0.0           # calls/s a batch job in the surge's caller sends the root
    tally: Tally = field(default_factory=Tally)
    load: dict[str, float] = field(default_factory=dict)        # requests/s arriving, retries included
    cpu: dict[str, float] = field(default_factory=dict)

    def error_rate(self, s: str) -> float:
        return self.tally.errors[s] / self.tally.arrivals[s] if self.tally.arrivals[s] else 0.0

    def p99(self, s: str) -> float:
        ms = sorted(self.tally.ms.get(s) or [0.0])
        return ms[min(len(ms) - 1, int(0.99 * len(ms)))]

    def mean_ms(self, s: str) -> float:
        ms = self.tally.ms.get(s) or [0.0]
        return sum(ms) / len(ms)


def _fn(st: Stage, key: str, service: str, m: int, default: float) -> float:
    fn = st.extra[key].get(service)
    return fn(m) if fn else default


def conditions(net: Net, st: Stage, m: int, prev: Minute | None) -> Minute:
    """What holds in minute m: the faults' shares, and from the last minute's CPU and failed calls the shedding,
    queueing and retry budget."""
    mn = Minute(m)
    for s in net.order:
        cpu = prev.cpu[s] if prev else 0.0
        f = st.fails.get(s)
        own = level(f, m) if f and f.peer is None and f.level == "error" else 0.0
        mn.shed[s] = shedding(cpu)
        mn.own_sticky[s] = own if f and f.sticky else 0.0
        mn.own_transient[s] = 1 - (1 - (own - mn.own_sticky[s])) * (1 - net.background[s])
        mn.slow[s] = queueing(cpu) * _fn(st, "slow", s, m, 1.0)
    for site in net.sites:
        f = st.fails.get(site.caller)
        edge = f if f and f.peer == site.callee else None
        key = (site.caller, site.callee)
        first_failed = prev.tally.first_failed[key] / prev.tally.calls[key] if prev and prev.tally.calls[key] else 0
        demand_ = site.retries * first_failed     # retries per call if every failed attempt were retried
        mn.calls[key] = Call(site, edge, level(edge, m), bool(edge and edge.sticky),
                             _fn(st, "delay", site.caller, m, 0.0) + _fn(st, "delay", site.callee, m, 0.0),
                             min(1.0, RETRY_BUDGET / demand_) if demand_ > RETRY_BUDGET else 1.0)
    surge = st.extra["surge_from"]
    if surge:                # the root's load grows by the surge's factor, all of it from the batch job
        mn.batch = (surge[1](m) - 1) * net.reached[st.root] * net.entry_rps * demand(m)
    return mn


def settle(net: Net, st: Stage, mn: Minute) -> None:
    """After the requests: each service's load (the simulated arrivals, scaled to the traffic) and CPU."""
    per_request = (net.entry_rps * demand(mn.m) + mn.batch) / max(mn.tally.requests, 1)
    mn.load = {s: mn.tally.arrivals[s] * per_request for s in net.order}
    for s in net.order:      # a hog (a noisy neighbour, a hot loop) holds the CPU at its level whatever the load
        cpu = max(net.cpu_idle[s] + net.cpu_per_rps[s] * mn.load[s], _fn(st, "steal", s, mn.m, 0.0))
        mn.cpu[s] = min(0.995, max(0.01, cpu + net.w.rng.uniform(-0.02, 0.02)))


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
