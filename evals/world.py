"""The simulated world: a topology of services in tiers, traffic with an afternoon peak, a staged fault's
failures propagating up the call graph, and the telemetry and change records all of it leaves behind.

The faults themselves (one per root-cause kind) and the truth are in evals/simulator.py. Every random
choice draws from the world's one generator, in a fixed order: same seed, same bytes.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

START = datetime(2026, 3, 6, 15, 0, tzinfo=timezone.utc)
WINDOW = 150                                   # minutes of telemetry
HARDER_WINDOW = 70                             # … at the harder level, whose traces are dense
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
LEVELS = ("easy", "medium", "hard")            # propagated here; "harder" walks requests (evals/tracing.py)
DIFFICULTIES = LEVELS + ("harder",)
POOL = {
    "edge": ["web", "mobile-bff", "partner-api"],
    "gateway": ["api-gateway", "graphql", "edge-router"],
    "mid": ["search", "checkout", "orders", "cart", "catalog", "pricing", "profile", "recommendations",
            "inventory", "shipping", "billing", "reviews", "notifications", "auth", "session", "ads", "media",
            "loyalty", "returns", "tax", "wishlist", "payments"],
    "leaf": ["token", "index", "images", "feature-flags", "geo", "audit", "ledger", "quotes", "stock", "config-svc"],
    "db": ["orders-db", "users-db", "catalog-db", "billing-db"],
    "cache": ["redis-session", "memcached-catalog"],
}
EXTERNAL = ["payments-provider", "geo-api", "email-gateway", "sms-gateway", "fraud-check-api", "maps-api"]
SIZES = {"easy": (8, 12), "medium": (12, 22), "hard": (20, 40), "harder": (10, 16)}


@dataclass
class Service:
    name: str
    tier: str
    instances: list[tuple[str, str]]
    port: int
    base_rps: float


@dataclass
class World:
    rng: random.Random
    services: dict[str, Service]
    calls: dict[str, list[str]]                # caller → callees (services and externals)
    externals: list[str]

    def callers(self, svc: str) -> list[str]:
        return [c for c, cs in self.calls.items() if svc in cs]


@dataclass
class Failure:
    start: int                                 # minute
    share: float                               # fraction of requests failing
    messages: list[str]                        # error log lines (real-world phrasings)
    peer: str | None = None                    # the callee whose calls fail, if any
    span_error: dict = field(default_factory=dict)
    # read by the harder level only: a retry of the same request fails again (a bug, a wrong setting) or may
    # reach a healthy instance; the share's shape over time (a ramp, a sawtooth); when it ends (a rollback);
    # warn: the service logs it but its requests do not fail (wrong results its callers reject)
    sticky: bool = True
    shape: Callable[[int], float] | None = None
    end: int | None = None
    level: str = "error"


def ts(minute: float) -> str:
    t = START + timedelta(minutes=minute)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def build_world(rng: random.Random, difficulty: str) -> World:
    lo, hi = SIZES[difficulty]
    n = rng.randint(lo, hi)
    tiers = {"edge": rng.randint(1, 2), "gateway": rng.randint(1, 2), "db": rng.randint(1, 3),
             "cache": rng.randint(0, 2)}
    rest = max(4, n - sum(tiers.values()))
    tiers["leaf"] = min(len(POOL["leaf"]), max(2, rest // 3))
    tiers["mid"] = min(len(POOL["mid"]), rest - tiers["leaf"])
    services: dict[str, Service] = {}
    for tier in ("edge", "gateway", "mid", "leaf", "db", "cache"):
        for name in rng.sample(POOL[tier], tiers[tier]):
            k = rng.randint(2, 6) if tier != "db" else rng.randint(1, 3)
            insts = [(f"{name}-{rng.getrandbits(24):06x}-"
                      f"{''.join(rng.choice('bcdfghjkmnpqrstvwxz') for _ in range(5))}",
                      ZONES[i % 3]) for i in range(k)]
            services[name] = Service(name, tier, insts, rng.choice((8080, 8443, 9090, 5432 if tier == "db" else 8080)),
                                     rng.uniform(20, 80) if tier in ("edge", "gateway") else rng.uniform(5, 40))
    by = {t: [s.name for s in services.values() if s.tier == t] for t in POOL}
    calls: dict[str, list[str]] = {}
    for e in by["edge"]:
        calls[e] = rng.sample(by["gateway"], k=len(by["gateway"]))
    mids = by["mid"]
    for g in by["gateway"]:
        calls[g] = rng.sample(mids, k=min(len(mids), rng.randint(2, 4)))
    for i, m in enumerate(mids):
        later = mids[i + 1:]
        options = later + by["leaf"] + by["db"] + by["cache"]
        calls[m] = sorted(set(rng.sample(options, k=min(len(options), rng.randint(1, 3)))))
    externals = rng.sample(EXTERNAL, k=rng.randint(1, 2))
    for x in externals:
        for m in rng.sample(mids, k=min(len(mids), rng.randint(1, 2))):
            calls[m].append(x)
    # every service below the edge has a caller
    for s in services.values():
        if s.tier != "edge" and not any(s.name in cs for cs in calls.values()):
            pool = mids if s.tier != "mid" else by["gateway"]
            calls.setdefault(rng.choice([p for p in pool if p != s.name] or by["gateway"]), []).append(s.name)
    return World(rng, services, {k: v for k, v in calls.items() if v}, externals)


def traffic(minute: int, surge_at: int | None = None) -> float:
    """Afternoon peak shape, with an optional surge (a sale, a retry storm, a noisy neighbour)."""
    peak = 1.0 + 0.8 * math.exp(-((minute - 110) / 35) ** 2)
    if surge_at is not None and minute >= surge_at - 8:
        peak *= 1.0 + 1.6 * min(1.0, (minute - surge_at + 8) / 10)
    return peak


@dataclass
class Stage:
    """One fault being staged: where and when it starts, what fails, and the records it leaves behind."""
    w: World
    root: str
    onset: int
    share: float                               # fraction of the root's requests failing
    callee: str | None                         # one of the root's callees inside the system, if any
    fails: dict[str, Failure] = field(default_factory=dict)
    harder: bool = False                       # staged for simulated requests: see Failure's last fields
    variant: int = 0                           # which of a kind's harder cases (a fault may stage it otherwise)
    sticky: bool = True
    shape: Callable[[int], float] | None = None
    # the records it leaves (deployments, scaling, registry, certs: service → not_after, metrics: (service,
    # name) → f(minute)) and how it bends the world: a surge from a minute, a (service, zone) down, services
    # that receive no requests, every service reporting disk use; for the harder level also: service → f(minute)
    # multiplying its own time (slow), adding CPU (steal) or ms on the wire of its calls (delay), and a caller
    # whose calls to the root surge (surge_from: a batch job); a truth summary of its own (summary)
    extra: dict = field(default_factory=lambda: {
        "deployments": [], "scaling": [], "registry": [], "certs": {}, "metrics": {}, "surge": None, "infra": [],
        "zone_down": None, "silent": set(), "disk_everywhere": False, "slow": {}, "steal": {}, "delay": {},
        "surge_from": None})

    @property
    def rng(self) -> random.Random:
        return self.w.rng

    @property
    def port(self) -> int:
        return self.w.services[self.root].port if self.root in self.w.services else 443

    def at_root(self, msgs: list[str], peer: str | None = None, span: dict | None = None) -> None:
        self.fails[self.root] = Failure(self.onset, self.share, msgs, peer, span or {"error.type": "internal"},
                                        self.sticky, self.shape)

    def at_callers(self, msgs: list[str], span: dict) -> None:
        for c in self.w.callers(self.root):
            self.fails[c] = Failure(self.onset + self.rng.randint(0, 1), self.share,
                                    [m.format(peer=self.root, port=self.port) for m in msgs], self.root, span,
                                    self.sticky, self.shape)

    def propagate(self) -> None:
        """Callers of failing services fail after them, up the graph, with delays and diluted."""
        w, rng, fails = self.w, self.rng, self.fails
        frontier = [s for s in fails if s in w.services]
        while frontier:
            nxt = []
            for s in frontier:
                for c in w.callers(s):
                    if c in fails or c in self.extra["silent"]:
                        continue
                    f = fails[s]
                    fails[c] = Failure(f.start + rng.randint(1, 4), f.share * 0.6,
                                       [rng.choice([f"upstream {s} returned 503 Service Unavailable",
                                                    f"call to {s} timed out after 1500ms",
                                                    f"GET http://{s}:{w.services[s].port}/v1 -> 504 Gateway Timeout"])],
                                       s, {"error.type": "upstream_503", "http.status_code": 503})
                    nxt.append(c)
            frontier = nxt


def telemetry(st: Stage, difficulty: str) -> tuple[list[dict], list[dict], list[dict]]:
    """Logs, metrics and spans, minute by minute."""
    noise = {"easy": 0.01, "medium": 0.03, "hard": 0.06}[difficulty]
    logs: list[dict] = []
    metrics: list[dict] = []
    spans: list[dict] = []
    for m in range(WINDOW):
        for s in st.w.services.values():
            _service_minute(st, s, m, noise, logs, metrics)
        if m % 2 == 0:                         # spans every other minute
            spans += _spans(st, m)
    return logs, metrics, spans


def _service_minute(st: Stage, s: Service, m: int, noise: float, logs: list[dict], metrics: list[dict]) -> None:
    rng, extra, zone_down = st.rng, st.extra, st.extra["zone_down"]
    load = traffic(m, extra["surge"] if s.name == st.root else None)
    f = st.fails.get(s.name)
    failing = f is not None and m >= f.start
    silent = s.name in extra["silent"] and m >= st.onset          # handshakes fail: no requests arrive
    down_zone = zone_down[1] if zone_down and zone_down[0] == s.name and m >= st.onset else None
    up = [(i, z) for i, z in s.instances if z != down_zone] or s.instances[:1]
    # logs: one sampled access line a minute, the errors, background noise
    if not silent:
        inst, zone = rng.choice(up)
        logs.append({"time": ts(m + rng.random()), "service": s.name, "level": "info", "instance": inst,
                     "zone": zone, "message": f"GET /v1/{rng.choice(('items', 'list', 'query', 'get'))} 200 "
                                              f"{int(rng.gauss(35, 8) * (6 if failing else 1)) + 2}ms"})
    if failing:
        n_err = max(1, round(f.share * 30 * load * rng.uniform(0.7, 1.3)))
        for _ in range(n_err):
            inst, zone = rng.choice(up)
            logs.append({"time": ts(m + rng.random()), "service": s.name, "level": "error", "instance": inst,
                         "zone": zone, "message": rng.choice(f.messages)})
    if rng.random() < noise * len(s.instances):
        inst, zone = rng.choice(s.instances)
        logs.append({"time": ts(m + rng.random()), "service": s.name,
                     "level": rng.choice(("warn", "warn", "error")), "instance": inst, "zone": zone,
                     "message": rng.choice([f"GET /v1/items/{rng.randint(1, 99999)} 404 Not Found",
                                            "retrying request (attempt 2/3): connection reset by peer",
                                            "slow request: 740ms exceeded 500ms budget",
                                            "cache miss rate above 20%"])})
    # metrics
    err = (f.share * rng.uniform(0.8, 1.2) if failing else 0.0) + rng.uniform(0.001, 0.004)
    vals = {"cpu_utilization": 0.28 + 0.12 * load + rng.uniform(-0.03, 0.03),
            "memory_utilization": 0.5 + rng.uniform(-0.02, 0.02),
            "request_rate": s.base_rps * load * (0.05 if silent else 1) * rng.uniform(0.95, 1.05),
            "error_rate": 0.0 if silent else err,
            "latency_p99_ms": (90 + 20 * load) * (8 if failing else 1) * rng.uniform(0.9, 1.1),
            "instance_count": float(len(s.instances))}
    if s.tier == "db":
        vals["db_connections_in_use"] = 40 + 30 * load + rng.uniform(-4, 4)
    if extra["disk_everywhere"] or s.tier == "db":
        vals["disk_utilization"] = 0.45 + rng.uniform(-0.01, 0.01)
    for (svc, name), fn in extra["metrics"].items():
        if svc == s.name:
            vals[name] = fn(m)
    for name, v in vals.items():
        metrics.append({"time": ts(m), "service": s.name, "name": name, "value": round(v, 4)})


def _spans(st: Stage, m: int) -> list[dict]:
    """One call per edge: the client side, and the server side when the call reached it."""
    w, rng, spans = st.w, st.rng, []
    for caller, callees in w.calls.items():
        for callee in callees:
            f = st.fails.get(caller)
            broken = f is not None and m >= f.start and f.peer == callee and rng.random() < min(0.95, f.share * 3)
            tid, cid = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"
            t = ts(m + rng.random())
            dur = rng.uniform(5, 40) * (30 if broken else 1)
            spans.append({"time": t, "trace_id": tid, "span_id": cid, "service": caller, "kind": "client",
                          "peer_service": callee, "operation": f"call {callee}",
                          "status": "error" if broken else "ok", "duration_ms": round(dur, 2),
                          "attributes": dict(f.span_error) if broken else
                          ({"db.system": "postgresql"} if w.services.get(callee) and
                           w.services[callee].tier == "db" else {})})
            own = st.fails.get(callee)
            if callee in w.services and not broken and not (callee in st.extra["silent"] and m >= st.onset):
                bad = own is not None and m >= own.start and own.peer is None and rng.random() < own.share * 2
                spans.append({"time": t, "trace_id": tid, "span_id": f"{rng.getrandbits(64):016x}",
                              "parent_span_id": cid, "service": callee, "kind": "server",
                              "operation": f"handle {caller}", "status": "error" if bad else "ok",
                              "duration_ms": round(dur * 0.8, 2),
                              "attributes": {"http.status_code": 500} if bad else {}})
    return spans


def change_records(st: Stage, difficulty: str) -> tuple[dict[str, list[dict]], list[dict]]:
    """Deployments, scaling, certificates and registry: the fault's own records, routine activity and, unless
    easy, red herrings (returned as truth selectors)."""
    w, rng, onset, extra = st.w, st.rng, st.onset, st.extra
    others = [s for s in w.services if s != st.root and s not in st.fails]
    deployments = list(extra["deployments"])
    for k in range(rng.randint(1, 3)):
        svc = rng.choice(others or list(w.services))
        v = rng.randint(10, 90)
        deployments.append({"time": ts(rng.randint(5, WINDOW - 5)), "service": svc, "kind": "deploy",
                            "version": f"2026.3.{v + 1}", "previous_version": f"2026.3.{v}", "actor": "ci",
                            "status": "succeeded", "description": "routine release"})
    red = []
    if difficulty != "easy" and others:
        herring = rng.choice(others)
        deployments.append({"time": ts(onset - rng.randint(4, 15)), "service": herring, "kind": "deploy",
                            "version": "v9.4.1", "previous_version": "v9.4.0", "actor": "ci", "status": "succeeded",
                            "description": "bump dependencies",
                            "changes": {"feature.new_ranking": {"from": False, "to": True}}})
        red.append({"source": "deployments", "where": {"service": herring}})
    scaling = list(extra["scaling"])
    if difficulty != "easy" and others:
        svc = rng.choice(others)
        n = len(w.services[svc].instances)
        scaling.append({"time": ts(onset - rng.randint(10, 40)), "service": svc, "action": "scale_up", "from_count": n,
                        "desired_count": n + 1, "actual_count": n + 1, "status": "succeeded",
                        "message": f"scaled up to {n + 1} replicas"})
    certificates = certificates_of(w, extra["certs"], rng)
    if difficulty != "easy" and others:
        herring = rng.choice(others)
        for c in certificates:
            if c["service"] == herring:
                c["not_after"] = ts(onset + rng.randint(8, 25) * 1440)
        red.append({"source": "certificates", "where": {"service": herring}})
    registry = registrations(w) + extra["registry"]
    from evals.infra import infra_records        # evals.infra builds on this module
    return {"deployments": deployments, "scaling": scaling, "certificates": certificates, "registry": registry,
            "infra_changes": infra_records(st, WINDOW, set(st.fails))}, red


def certificates_of(w: World, expired: dict[str, str], rng: random.Random) -> list[dict]:
    """Every service's server certificate: far from expiry, unless the fault set its not_after."""
    out = []
    for s in w.services.values():
        na = expired.get(s.name) or ts(rng.randint(60, 400) * 1440)
        out.append({"service": s.name, "name": f"{s.name}-tls", "subject": f"CN={s.name}.internal",
                    "issuer": "CN=internal-ca", "not_after": na, "purpose": "server"})
    return out


def registrations(w: World) -> list[dict]:
    """Every instance registered at the window's start."""
    return [{"time": ts(0), "service": s.name, "instance": i, "event": "register",
             "address": f"10.{ZONES.index(z)}.{k}.{j + 10}:{s.port}", "zone": z}
            for k, s in enumerate(w.services.values()) for j, (i, z) in enumerate(s.instances)]
