"""The harder level's one simulation: requests flowing down the call graph, minute by minute.

Each call site (caller → callee) carries a share of the caller's requests, whether a failed call fails the
request or the caller falls back, its retries and its timeout. Per minute, callees first, a service's failure
share and latency follow from its own trouble and from its calls' (a callee's failure reaches its callers
through these shares, diluted by fan-out, retries and fallbacks); then, callers first, its load follows from
its callers' attempts, so retries multiply the load on a failing callee. Metrics and untraced logs are drawn
from these figures (evals/signals.py) and sampled traces walk the same probabilities request by request
(evals/tracing.py): spans, logs and metrics tell one story."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from evals.world import Failure, Stage, World

WIRE_MS = (0.4, 2.5)             # in-cluster time on the wire per call
EXTERNAL_MS = (60.0, 250.0)      # an external API's answer: all of it on the wire as far as we can see
TIMEOUTS_MS = {"edge": (10000,), "gateway": (5000, 8000), "mid": (1000, 2000, 3000)}   # deadlines shrink downwards
OWN_MS = {"edge": (3, 8), "gateway": (2, 5), "mid": (6, 30), "leaf": (2, 10), "db": (1.5, 6), "cache": (0.3, 1.5)}
TAIL_SIGMA = 0.45                # spread of a request's latency (lognormal): what a timeout cuts off
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

    def out(self, service: str) -> list[Site]:
        return [s for s in self.sites if s.caller == service]

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
        # edges and gateways route each request to one of their callees (by path); the others call a share
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


def tail(mean_ms: float, timeout_ms: float) -> float:
    """Share of calls slower than the timeout, for a lognormal with this mean."""
    if mean_ms <= 0:
        return 0.0
    z = (math.log(timeout_ms / mean_ms) + TAIL_SIGMA ** 2 / 2) / TAIL_SIGMA
    return 0.5 * math.erfc(z / math.sqrt(2))


def queueing(cpu: float) -> float:
    """How much longer a request takes its own time at this CPU."""
    return 1.0 + 6.0 * max(0.0, cpu - QUEUE_AT) / max(1.02 - cpu, 0.02)


def shedding(cpu: float) -> float:
    return min(0.6, max(0.0, (cpu - SHED_AT) * 8))


@dataclass
class Call:
    """One call site in one minute."""
    site: Site
    edge: Failure | None         # the fault on the way, if any
    on_way: float                # share of attempts failing on the way (never reaching the callee)
    on_way_sticky: bool
    delay_ms: float              # added on the wire
    timeout: float               # share of attempts the caller's timeout cuts off
    attempts: float              # per call, retries included
    retry_p: float               # chance a failed attempt is retried, as the retry budget allows
    final: float                 # share of calls failing after the retries
    final_sticky: float
    why: tuple[float, float, float]      # of the failed attempts: on the way, the callee's error, the timeout
    ms: float                    # mean time per call, retries included


@dataclass
class Minute:
    m: int
    load: dict[str, float] = field(default_factory=dict)        # requests/s arriving, retries included
    own_sticky: dict[str, float] = field(default_factory=dict)  # own code failing (the fault, a bad deploy)
    own_transient: dict[str, float] = field(default_factory=dict)   # … and per attempt (background errors)
    shed: dict[str, float] = field(default_factory=dict)        # turned away at the door: no calls, no work
    fail: dict[str, float] = field(default_factory=dict)        # share of its requests answered with an error
    sticky: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)     # mean server time, ms
    slow: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    calls: dict[tuple[str, str], Call] = field(default_factory=dict)
    batch: float = 0.0           # calls/s a batch job in the surge's caller sends the root


def _fn(st: Stage, key: str, service: str, m: int, default: float) -> float:
    fn = st.extra[key].get(service)
    return fn(m) if fn else default


def survive(x: float, p: float) -> float:
    """Chance a request gets through `p` calls (a share of one call, or several) that each fail with x."""
    return 1.0 - p * x if p <= 1 else (1.0 - x) ** p


def step(net: Net, st: Stage, m: int, prev: Minute | None) -> Minute:
    """One minute: failures and latency callees first, then loads and CPU callers first."""
    mn = Minute(m)
    for s in net.order:
        cpu_before = prev.cpu[s] if prev else 0.0
        f = st.fails.get(s)
        own = level(f, m) if f and f.peer is None and f.level == "error" else 0.0
        mn.shed[s] = shedding(cpu_before)
        mn.own_sticky[s] = own if f and f.sticky else 0.0
        mn.own_transient[s] = 1 - (1 - (own - mn.own_sticky[s])) * (1 - net.background[s])
        mn.slow[s] = queueing(cpu_before) * _fn(st, "slow", s, m, 1.0)
        latency = net.own_ms[s] * mn.slow[s]
        ok, ok_sticky = (1 - mn.own_sticky[s]) * (1 - mn.own_transient[s]), 1 - mn.own_sticky[s]
        for site in net.out(s):
            c = mn.calls[(s, site.callee)] = _call(net, st, mn, site, m)
            latency += site.p * c.ms
            if site.critical:
                ok *= survive(c.final, site.p)
                ok_sticky *= survive(c.final_sticky, site.p)
        mn.fail[s], mn.sticky[s] = 1 - ok * (1 - mn.shed[s]), 1 - ok_sticky
        mn.latency[s] = (1 - mn.shed[s]) * latency + mn.shed[s] * net.own_ms[s]
    _loads(net, st, mn)
    return mn


def _call(net: Net, st: Stage, mn: Minute, site: Site, m: int) -> Call:
    d = site.callee
    f = st.fails.get(site.caller)
    edge = f if f and f.peer == d else None
    on_way = level(edge, m)
    sticky = bool(edge and edge.sticky)
    delay = _fn(st, "delay", site.caller, m, 0.0) + _fn(st, "delay", d, m, 0.0)
    d_fail, d_sticky = mn.fail.get(d, 0.0), mn.sticky.get(d, 0.0)
    d_transient = (d_fail - d_sticky) / (1 - d_sticky) if d_sticky < 1 else 0.0
    reach_ms = site.wire_ms + delay + mn.latency.get(d, 0.0)
    to = tail(reach_ms, site.timeout_ms)
    a_sticky = 1 - (1 - (on_way if sticky else 0.0)) * (1 - d_sticky)
    a_transient = 1 - (1 - (0.0 if sticky else on_way)) * (1 - d_transient) * (1 - to)
    attempts, final = retried(a_sticky, a_transient, site.retries, 1.0)
    retry_p = min(1.0, RETRY_BUDGET / (attempts - 1)) if attempts > 1 else 1.0
    attempts, final = retried(a_sticky, a_transient, site.retries, retry_p)
    fail_ms = (reach_ms if answered(edge) else CONNECT_TIMEOUT_MS if edge and "timeout" in
               str(edge.span_error.get("error.type")) else 3 * site.wire_ms)
    attempt_ms = on_way * fail_ms + (1 - on_way) * ((1 - to) * reach_ms + to * site.timeout_ms)
    why = (on_way, (1 - on_way) * d_fail, (1 - on_way) * (1 - d_fail) * to)
    total = sum(why) or 1.0
    return Call(site, edge, on_way, sticky, delay, to, attempts, retry_p, final, a_sticky,
                tuple(w / total for w in why), attempts * attempt_ms)


def retried(stuck: float, transient: float, retries: int, retry_p: float) -> tuple[float, float]:
    """Attempts per call and the share of calls failing after them: a stuck call (a bug, a wrong setting) fails
    every attempt; the others fail each attempt with `transient`; a failed attempt is retried with retry_p."""
    attempts = final = 0.0
    for share, fail in ((stuck, 1.0), (1 - stuck, transient)):
        made = 1.0               # chance this attempt is made
        for k in range(retries + 1):
            attempts += share * made
            final += share * made * fail * (1.0 if k == retries else 1 - retry_p)
            made *= fail * retry_p
    return attempts, final


def _loads(net: Net, st: Stage, mn: Minute) -> None:
    """Callers first: what arrives at each service, retries included; then its CPU."""
    rng, surge = net.w.rng, st.extra["surge_from"]
    load: dict[str, float] = {e: net.w.services[e].base_rps * demand(mn.m) for e in net.entries}
    if surge:                # the root's load grows by the surge's factor, all of it from the batch job
        mn.batch = (surge[1](mn.m) - 1) * net.reached[st.root] * sum(load.values())
    for s in reversed(net.order):
        for site in net.out(s):
            c = mn.calls[(s, site.callee)]
            arrive = 1.0 if answered(c.edge) else 1 - c.on_way
            calls = (load.get(s, 0.0) * (1 - mn.shed.get(s, 0.0)) * site.p
                     + (mn.batch if surge and (s, site.callee) == (surge[0], st.root) else 0))
            load[site.callee] = load.get(site.callee, 0.0) + calls * c.attempts * arrive
    mn.load = load
    for s in net.order:      # a hog (a noisy neighbour, a hot loop) holds the CPU at its level whatever the load
        cpu = max(net.cpu_idle[s] + net.cpu_per_rps[s] * load.get(s, 0.0), _fn(st, "steal", s, mn.m, 0.0))
        mn.cpu[s] = min(0.995, max(0.01, cpu + rng.uniform(-0.02, 0.02)))


def run(net: Net, st: Stage, window: int) -> list[Minute]:
    out: list[Minute] = []
    for m in range(window):
        out.append(step(net, st, m, out[-1] if out else None))
    return out


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
