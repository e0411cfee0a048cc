"""The incident simulator: v1 snapshots with truth.yaml for every root-cause kind.

A random topology in tiers (edge → gateways → mid-tier → leaves, databases, caches, and dependencies
outside the system) across three zones; traffic with an afternoon peak; a fault of one kind at one
service that propagates up the call graph with delays; and what makes RCA hard in real life: unrelated
deploys, background errors, certificates that expire later, a missing source, the page far from the
cause, callers whose connection errors point at a healthy callee. Messages are the phrasings real
systems use, never strings only this simulator emits. Deterministic: same (kind, seed, difficulty),
same bytes.

    python -m evals.simulator corpus evals/incidents                 # the committed corpus, bit for bit
    python -m evals.simulator one --kind cert_expired --seed 7 --out /tmp/incident
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from agent.report import KINDS
from evals.demo_incident import write as write_demo
from tools.domain.incident import write_snapshot

START = datetime(2026, 3, 6, 15, 0, tzinfo=timezone.utc)
WINDOW = 150                                   # minutes of telemetry
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
DIFFICULTIES = ("easy", "medium", "hard")
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
SIZES = {"easy": (8, 12), "medium": (12, 22), "hard": (20, 40)}


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
            insts = [(f"{name}-{rng.getrandbits(24):06x}-{''.join(rng.choice('bcdfghjkmnpqrstvwxz') for _ in range(5))}",
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


def pick_root(w: World, kind: str) -> str:
    rng = w.rng
    with_callers = lambda names: [n for n in names if w.callers(n)]  # noqa: E731
    with_callees = [n for n in w.calls if w.services[n].tier in ("mid", "gateway") and
                    any(c in w.services for c in w.calls[n])]
    if kind == "dependency_outage" or (kind == "rate_limited" and rng.random() < 0.7):
        return rng.choice(with_callers(w.externals))
    if kind == "database_saturation":
        return rng.choice(with_callers([s for s in w.services if w.services[s].tier == "db"]))
    if kind in ("config_change", "dns_failure", "failed_scale_up", "resource_saturation"):
        return rng.choice(with_callees)
    mids_leaves = [s for s in w.services if w.services[s].tier in ("mid", "leaf")]
    return rng.choice(with_callers(mids_leaves))


def plan_fault(w: World, kind: str, root: str, onset: int, difficulty: str) -> tuple[dict[str, Failure], dict]:
    """The failures the fault causes (service → Failure) and the extra records it leaves behind."""
    rng, share = w.rng, {"easy": 0.35, "medium": 0.22, "hard": 0.12}[difficulty]
    extra: dict = {"deployments": [], "scaling": [], "registry": [], "certs": {}, "metrics": {}, "surge": None,
                   "zone_down": None, "silent": set()}
    svc_callees = [c for c in w.calls.get(root, []) if c in w.services]
    callee = rng.choice(svc_callees) if svc_callees else None
    fails: dict[str, Failure] = {}
    callers = w.callers(root)
    port = w.services[root].port if root in w.services else 443

    def at_root(msgs: list[str], peer: str | None = None, span: dict | None = None):
        fails[root] = Failure(onset, share, msgs, peer, span or {"error.type": "internal"})

    def at_callers(msgs: list[str], span: dict):
        for c in callers:
            fails[c] = Failure(onset + rng.randint(0, 1), share, [m.format(peer=root, port=port) for m in msgs],
                               root, span)

    if kind == "deploy_regression":
        v = rng.randint(100, 400)
        extra["deployments"].append({"time": ts(onset - rng.randint(2, 6)), "service": root, "kind": "deploy",
                                     "version": f"v1.{v + 1}.0", "previous_version": f"v1.{v}.0", "actor": "ci",
                                     "status": "succeeded", "description": f"release v1.{v + 1}.0"})
        at_root([f"panic: runtime error: invalid memory address or nil pointer dereference [handler={root}]",
                 "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"sku\" is null",
                 "HTTP 500 Internal Server Error: unhandled exception in request handler"],
                span={"error.type": "500", "http.status_code": 500})
    elif kind == "config_change":
        key, old, new = rng.choice([("client.timeout_ms", 2000, 150), ("pool.max_connections", 50, 4),
                                    ("retry.max_attempts", 3, 0), ("upstream.endpoint", f"{callee}:8080", f"{callee}-v0:8080")])
        extra["deployments"].append({"time": ts(onset - rng.randint(1, 5)), "service": root, "kind": "config",
                                     "actor": rng.choice(["ops-bot", "jane", "terraform"]), "status": "succeeded",
                                     "description": f"tune {key}", "changes": {key: {"from": old, "to": new}}})
        msg = {"client.timeout_ms": f"call to {callee} failed: context deadline exceeded (timeout {new}ms)",
               "pool.max_connections": f"timeout waiting for a free connection to {callee} (pool size {new})",
               "retry.max_attempts": f"request to {callee} failed after 1 attempt: connection reset by peer",
               "upstream.endpoint": f"dial tcp: lookup {callee}-v0: no such host"}[key]
        at_root([msg], callee, {"error.type": "timeout" if "timeout" in msg else "connect"})
    elif kind == "memory_leak":
        extra["metrics"][(root, "memory_utilization")] = lambda m: min(0.99, 0.42 + max(0, m - onset + 45) * 0.013)
        for k, (inst, zone) in enumerate(w.services[root].instances):
            t = onset + k
            extra["registry"] += [{"time": ts(t), "service": root, "instance": inst, "event": "deregister", "zone": zone},
                                  {"time": ts(t + 1), "service": root, "instance": inst, "event": "register", "zone": zone}]
        at_root(["Container was OOMKilled (exit code 137); restarting",
                 "java.lang.OutOfMemoryError: Java heap space",
                 "upstream connect error or disconnect/reset before headers. reset reason: connection termination"])
    elif kind in ("failed_scale_up", "resource_saturation"):
        extra["surge"] = onset
        extra["metrics"][(root, "cpu_utilization")] = lambda m: (rng.uniform(0.95, 0.99) if m >= onset
                                                                 else 0.35 + 0.15 * traffic(m, onset) / 2.6)
        n = len(w.services[root].instances)
        if kind == "failed_scale_up":
            reason = rng.choice(["0/{n} nodes are available: {n} Insufficient cpu.",
                                 "exceeded quota: compute-resources, requested: cpu=2, used: cpu=96, limited: cpu=96",
                                 "FailedScheduling: 0/{n} nodes are available: {n} node(s) didn't match pod anti-affinity"])
            for k in range(rng.randint(2, 5)):
                extra["scaling"].append({"time": ts(onset - 3 + 2 * k), "service": root, "action": "scale_up",
                                         "from_count": n, "desired_count": 2 * n, "actual_count": n, "status": "failed",
                                         "message": reason.format(n=rng.randint(12, 40))})
        msgs = [f"connect to {callee}:{w.services[callee].port} timed out after 1000ms" if callee else
                "request timed out after 1000ms", "upstream request timeout", "503 Service Unavailable: server overloaded"]
        at_root(msgs, callee, {"error.type": "connect_timeout"})     # the loud symptom: a healthy callee
    elif kind == "cert_expired":
        extra["certs"][root] = ts(onset - rng.uniform(0, 2))
        extra["silent"].add(root)
        at_callers(["tls: failed to verify certificate: x509: certificate has expired or is not yet valid "
                    "(connecting to {peer}:{port})", "remote error: tls: bad certificate"],
                   {"error.type": "tls_handshake", "exception.message": "x509: certificate has expired"})
    elif kind == "registry_misroute":
        for inst, zone in w.services[root].instances:
            if rng.random() < 0.7:
                extra["registry"].append({"time": ts(onset - rng.uniform(0, 1)), "service": root, "instance": inst,
                                          "event": "update", "address": f"10.{rng.randint(100, 250)}.{rng.randint(0, 255)}."
                                                                        f"{rng.randint(2, 250)}:{port}", "zone": zone})
            else:
                extra["registry"].append({"time": ts(onset - rng.uniform(0, 1)), "service": root, "instance": inst,
                                          "event": "deregister", "zone": zone})
        extra["silent"].add(root)
        at_callers(["dial tcp 10.{peer_ip}: connect: connection refused".replace("{peer_ip}", f"{rng.randint(100, 250)}.3.7:{port}"),
                    "no healthy upstream", "upstream connect error or disconnect/reset before headers. "
                    "reset reason: connection failure"], {"error.type": "connection_refused"})
    elif kind == "network_partition":
        zone = rng.choice(ZONES)
        extra["zone_down"] = (root, zone)
        at_callers([f"dial tcp 10.{ZONES.index(zone)}.4.17:{{port}}: i/o timeout", "context deadline exceeded "
                    "while dialing {peer}", "no route to host"], {"error.type": "connect_timeout"})
        for c in callers:
            fails[c].share = share * 0.8
    elif kind == "dns_failure":
        at_root([f"dial tcp: lookup {callee}.svc.cluster.local on 10.96.0.10:53: no such host",
                 f"Temporary failure in name resolution: {callee}.svc.cluster.local",
                 f"java.net.UnknownHostException: {callee}.svc.cluster.local"], callee, {"error.type": "dns"})
    elif kind == "disk_full":
        extra["metrics"][(root, "disk_utilization")] = lambda m: min(1.0, 0.55 + max(0, m - onset + 40) * 0.0115)
        at_root(["write /var/lib/data/wal/000042.log: no space left on device",
                 "failed to flush segment: ENOSPC: no space left on device"])
    elif kind == "dependency_outage":
        at_callers(["POST https://api.{peer}.example/v2/charge: 503 Service Unavailable",
                    "call to {peer} timed out after 5000ms", "upstream {peer} returned 502 Bad Gateway"],
                   {"http.status_code": 503, "error.type": "503"})
    elif kind == "database_saturation":
        extra["metrics"][(root, "db_connections_in_use")] = lambda m: (200.0 if m >= onset else
                                                                      60 + 50 * traffic(m) / 1.8 + rng.uniform(-5, 5))
        extra["metrics"][(root, "latency_p99_ms")] = lambda m: rng.uniform(4000, 9000) if m >= onset else rng.uniform(8, 20)
        at_callers(["timeout acquiring connection from pool after 5000ms (pool exhausted)",
                    "FATAL: remaining connection slots are reserved for non-replication superuser connections",
                    "could not obtain connection to {peer} within 5s"], {"db.system": "postgresql", "error.type": "pool_timeout"})
    elif kind == "rate_limited":
        at_callers(["POST https://{peer}/v1/lookup returned 429 Too Many Requests (retry-after: 30)",
                    "rate limit exceeded calling {peer}; backing off", "HTTP 429 from {peer}: quota exceeded"],
                   {"http.status_code": 429, "error.type": "429"})
    else:
        raise ValueError(f"unknown kind {kind!r}")
    # callers of failing services fail after them, up the graph, with delays and diluted
    frontier = [s for s in fails if s in w.services]
    while frontier:
        nxt = []
        for s in frontier:
            for c in w.callers(s):
                if c in fails or c in extra["silent"]:
                    continue
                f = fails[s]
                fails[c] = Failure(f.start + rng.randint(1, 4), f.share * 0.6,
                                   [rng.choice([f"upstream {s} returned 503 Service Unavailable",
                                                f"call to {s} timed out after 1500ms",
                                                f"GET http://{s}:{w.services[s].port}/v1 -> 504 Gateway Timeout"])],
                                   s, {"error.type": "upstream_503", "http.status_code": 503})
                nxt.append(c)
        frontier = nxt
    return fails, extra


def simulate(kind: str, seed: int, difficulty: str = "medium", out: Path | str = "incident") -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; one of {', '.join(DIFFICULTIES)}")
    out = Path(out)
    rng = random.Random(f"{kind}/{seed}/{difficulty}")
    w = build_world(rng, difficulty)
    root = pick_root(w, kind)
    onset = rng.randint(92, 112)
    fails, extra = plan_fault(w, kind, root, onset, difficulty)
    noise = {"easy": 0.01, "medium": 0.03, "hard": 0.06}[difficulty]
    logs, metrics, spans = [], [], []
    surge = extra["surge"]
    zone_down = extra["zone_down"]
    for m in range(WINDOW):
        for s in w.services.values():
            load = traffic(m, surge if s.name == root else None)
            f = fails.get(s.name)
            failing = f is not None and m >= f.start
            silent = s.name in extra["silent"] and m >= onset          # handshakes fail: no requests arrive
            down_zone = zone_down[1] if zone_down and zone_down[0] == s.name and m >= onset else None
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
            # metrics, per service and minute
            err = (f.share * rng.uniform(0.8, 1.2) if failing else 0.0) + rng.uniform(0.001, 0.004)
            vals = {"cpu_utilization": 0.28 + 0.12 * load + rng.uniform(-0.03, 0.03),
                    "memory_utilization": 0.5 + rng.uniform(-0.02, 0.02),
                    "request_rate": s.base_rps * load * (0.05 if silent else 1) * rng.uniform(0.95, 1.05),
                    "error_rate": 0.0 if silent else err,
                    "latency_p99_ms": (90 + 20 * load) * (8 if failing else 1) * rng.uniform(0.9, 1.1),
                    "instance_count": float(len(s.instances))}
            if s.tier == "db":
                vals["db_connections_in_use"] = 40 + 30 * load + rng.uniform(-4, 4)
            if kind == "disk_full" or s.tier == "db":
                vals["disk_utilization"] = 0.45 + rng.uniform(-0.01, 0.01)
            for (svc, name), fn in extra["metrics"].items():
                if svc == s.name:
                    vals[name] = fn(m)
            for name, v in vals.items():
                metrics.append({"time": ts(m), "service": s.name, "name": name, "value": round(v, 4)})
        # spans: every other minute, one call per edge, client and (when reachable) server side
        if m % 2 == 0:
            for caller, callees in w.calls.items():
                for callee in callees:
                    f = fails.get(caller)
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
                    own = fails.get(callee)
                    if callee in w.services and not broken and not (callee in extra["silent"] and m >= onset):
                        bad = own is not None and m >= own.start and own.peer is None and rng.random() < own.share * 2
                        spans.append({"time": t, "trace_id": tid, "span_id": f"{rng.getrandbits(64):016x}",
                                      "parent_span_id": cid, "service": callee, "kind": "server",
                                      "operation": f"handle {caller}", "status": "error" if bad else "ok",
                                      "duration_ms": round(dur * 0.8, 2),
                                      "attributes": {"http.status_code": 500} if bad else {}})
    # change records: red herrings and routine activity
    others = [s for s in w.services if s != root and s not in fails]
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
                            "description": "bump dependencies", "changes": {"feature.new_ranking": {"from": False, "to": True}}})
        red.append({"source": "deployments", "where": {"service": herring}})
    scaling = list(extra["scaling"])
    if difficulty != "easy" and others:
        svc = rng.choice(others)
        n = len(w.services[svc].instances)
        scaling.append({"time": ts(onset - rng.randint(10, 40)), "service": svc, "action": "scale_up", "from_count": n,
                        "desired_count": n + 1, "actual_count": n + 1, "status": "succeeded",
                        "message": f"scaled up to {n + 1} replicas"})
    certificates = []
    for s in w.services.values():
        na = extra["certs"].get(s.name) or ts(rng.randint(60, 400) * 1440)
        certificates.append({"service": s.name, "name": f"{s.name}-tls", "subject": f"CN={s.name}.internal",
                             "issuer": "CN=internal-ca", "not_after": na, "purpose": "server"})
    if difficulty != "easy" and others:
        herring = rng.choice(others)
        for c in certificates:
            if c["service"] == herring:
                c["not_after"] = ts(onset + rng.randint(8, 25) * 1440)
        red.append({"source": "certificates", "where": {"service": herring}})
    registry = [{"time": ts(0), "service": s.name, "instance": i, "event": "register",
                 "address": f"10.{ZONES.index(z)}.{k}.{j + 10}:{s.port}", "zone": z}
                for k, s in enumerate(w.services.values()) for j, (i, z) in enumerate(s.instances)]
    registry += extra["registry"]
    tables = {"logs": logs, "metrics": metrics, "spans": spans, "deployments": deployments, "scaling": scaling,
              "certificates": certificates, "registry": registry}
    # what the page says: the edge (far from the cause) when hard, else the nearest failing caller
    failing_known = sorted((f.start, s) for s, f in fails.items() if s in w.services)
    if difficulty == "hard":
        alert_service = failing_known[-1][1]
        droppable = {"spans"} if kind not in ("dependency_outage", "rate_limited", "database_saturation",
                                               "registry_misroute", "network_partition", "cert_expired") else set()
        droppable |= {"deployments"} if kind not in ("deploy_regression", "config_change") else set()
        droppable |= {"registry"} if kind not in ("registry_misroute",) else set()
        if droppable:
            tables.pop(rng.choice(sorted(droppable)))
    else:
        alert_service = root if root in w.services and root not in extra["silent"] else failing_known[0][1]
    key = KEY_EVIDENCE[kind](root)
    truth = {"root_cause": {"service": root, "kind": kind, "onset": ts(onset)[:16] + ":00Z",
                            "summary": SUMMARY[kind].format(root=root)},
             "acceptable": ACCEPTABLE.get(kind, lambda r, w: [])(root, w),
             "key_evidence": [k for k in key if k["source"] in tables],
             "red_herrings": red, "difficulty": difficulty}
    alert_at = failing_known[0][0] + rng.randint(4, 8) if failing_known else onset + 5
    incident = {"format": 1, "id": f"{kind}-{seed:02d}-{difficulty}",
                "title": f"{alert_service} errors above SLO",
                "window": {"start": ts(0)[:19] + "Z", "end": ts(WINDOW)[:19] + "Z"},
                "alert": {"at": ts(alert_at)[:19] + "Z", "service": alert_service,
                          "summary": f"{alert_service}: error rate above 2% for 5m", "labels": {"severity": "page"}},
                "question": None}
    if out.exists():
        shutil.rmtree(out)
    return write_snapshot(out, incident, truth, tables)


KEY_EVIDENCE = {
    "deploy_regression": lambda r: [{"source": "deployments", "where": {"service": r}}],
    "config_change": lambda r: [{"source": "deployments", "where": {"service": r}}],
    "memory_leak": lambda r: [{"source": "metrics", "where": {"service": r, "name": "memory_utilization"}}],
    "failed_scale_up": lambda r: [{"source": "scaling", "where": {"service": r, "status": "failed"}},
                                  {"source": "metrics", "where": {"service": r, "name": "cpu_utilization"}}],
    "resource_saturation": lambda r: [{"source": "metrics", "where": {"service": r, "name": "cpu_utilization"}}],
    "cert_expired": lambda r: [{"source": "certificates", "where": {"service": r}}],
    "registry_misroute": lambda r: [{"source": "registry", "where": {"service": r}}],
    "network_partition": lambda r: [{"source": "logs", "where": {"service": r}}],
    "dns_failure": lambda r: [{"source": "logs", "where": {"service": r}}],
    "disk_full": lambda r: [{"source": "metrics", "where": {"service": r, "name": "disk_utilization"}}],
    "dependency_outage": lambda r: [{"source": "spans", "where": {"peer_service": r}}],
    "database_saturation": lambda r: [{"source": "metrics", "where": {"service": r, "name": "db_connections_in_use"}}],
    "rate_limited": lambda r: [{"source": "spans", "where": {"peer_service": r}}],
}
SUMMARY = {
    "deploy_regression": "a deploy of {root} introduced errors in its own code",
    "config_change": "a config change deployed to {root} set a wrong value; its calls fail",
    "memory_leak": "{root}'s memory grew until its processes were OOM-killed",
    "failed_scale_up": "{root} could not scale up into a surge (no capacity); CPU saturated; requests timed out",
    "resource_saturation": "{root}'s CPU saturated under a traffic surge with no scaling failure",
    "cert_expired": "{root}'s TLS certificate expired; its callers' handshakes fail",
    "registry_misroute": "the registry sent {root}'s traffic to wrong or stale addresses",
    "network_partition": "{root}'s instances in one zone became unreachable",
    "dns_failure": "{root}'s name lookups for a dependency fail",
    "disk_full": "{root}'s disk filled up; writes fail",
    "dependency_outage": "{root}, outside the system, is failing its callers",
    "database_saturation": "{root} ran out of connections; callers time out acquiring them",
    "rate_limited": "{root} throttles its callers with 429s",
}
ACCEPTABLE = {
    "dns_failure": lambda r, w: [],
    "database_saturation": lambda r, w: [{"service": c, "kind": "database_saturation"} for c in w.callers(r)[:1]],
    "rate_limited": lambda r, w: [{"service": c, "kind": "rate_limited"} for c in w.callers(r)[:1]],
    "failed_scale_up": lambda r, w: [{"service": r, "kind": "resource_saturation"}],
}


def build_corpus(out_dir: Path | str, seeds_per_kind: int = 5) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [write_demo(out_dir / "search-token-peak")]
    for kind in KINDS:
        for seed in range(1, seeds_per_kind + 1):
            difficulty = DIFFICULTIES[(seed - 1) % 3]
            paths.append(simulate(kind, seed, difficulty, out_dir / f"{kind}-{seed:02d}-{difficulty}"))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m evals.simulator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("out", type=Path)
    c.add_argument("--seeds", type=int, default=5)
    o = sub.add_parser("one")
    o.add_argument("--kind", required=True, choices=sorted(KINDS))
    o.add_argument("--seed", type=int, default=1)
    o.add_argument("--difficulty", default="medium", choices=DIFFICULTIES)
    o.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if a.cmd == "corpus":
        print(f"{len(build_corpus(a.out, a.seeds))} incidents in {a.out}")
    else:
        print(simulate(a.kind, a.seed, a.difficulty, a.out))


if __name__ == "__main__":
    main()
