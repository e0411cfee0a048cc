"""The incident this project started from, written as a v1 snapshot (deterministic, bit for bit).

Friday peak, 2026-03-06. SearchService reports connection errors to TokenService. The real cause:
search failed to scale up into the peak (the cluster had no CPU left), its CPU saturated, and its
connects to token timed out; search's traffic to its other dependencies fell. token is healthy and
its other callers (checkout, profile) are fine. Red herrings: a deploy of catalog minutes before, and
token's certificate expiring in three weeks.

    python -m evals.demo_incident evals/incidents/search-token-peak
"""
from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tools.domain.incident import write_snapshot


START = datetime(2026, 3, 6, 15, 0, tzinfo=timezone.utc)
MINUTES = 180
ONSET = 118                      # 16:58: search's CPU saturates
SCALE_FAILS = (115, 117, 119, 121, 124)
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
INSTANCES = {"web": 3, "api-gateway": 3, "search": 4, "token": 3, "catalog": 3, "index": 3, "checkout": 3,
             "profile": 2}
CALLS = {"web": ["api-gateway"], "api-gateway": ["search", "checkout", "profile"],
         "search": ["token", "catalog", "index"], "checkout": ["token"], "profile": ["token"]}
PORTS = {"token": 8443, "catalog": 8080, "index": 9200, "search": 8080, "checkout": 8080, "profile": 8080,
         "api-gateway": 8080}


def at(minute: float) -> datetime:
    return START + timedelta(minutes=minute)


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def load(minute: int) -> float:
    """Traffic multiplier: flat afternoon, Friday peak ramping from 16:30 to 17:10."""
    return 1.0 + 2.2 * min(1.0, max(0.0, (minute - 90) / 40))


def instances(svc: str, rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for i in range(INSTANCES[svc]):
        suffix = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        out.append((f"{svc}-7f9c{i}-{suffix}", ZONES[i % 3]))
    return out


def write(out: Path, seed: int = 20260306) -> Path:
    rng = random.Random(seed)
    inst = {s: instances(s, rng) for s in INSTANCES}
    logs, metrics, spans = [], [], []
    for m in range(MINUTES):            # one random stream, drawn in this order, so the bytes never change
        _minute_metrics(m, inst, rng, metrics)
        _minute_logs(m, inst, rng, logs)
        _minute_traces(m, inst, rng, spans)
    deployments = [
        {"time": ts(at(72)), "service": "profile", "version": "2026.03.06-1", "previous_version": "2026.03.05-3",
         "kind": "deploy", "actor": "deploy-bot", "status": "succeeded", "description": "routine release"},
        {"time": ts(at(108)), "service": "catalog", "version": "v3.14.2", "previous_version": "v3.14.1",
         "kind": "deploy", "actor": "jenkins", "status": "succeeded",
         "description": "catalog v3.14.2: image bump and cache TTL tuning",
         "changes": {"image": {"from": "registry.local/catalog:v3.14.1", "to": "registry.local/catalog:v3.14.2"},
                     "cache.ttl_seconds": {"from": 300, "to": 600}}},
    ]
    scaling = [{"time": ts(at(60)), "service": "checkout", "action": "scale_up", "from_count": 2, "desired_count": 3,
                "actual_count": 3, "status": "succeeded", "message": "scaled up to 3 replicas"}]
    for m in SCALE_FAILS:
        scaling.append({"time": ts(at(m)), "service": "search", "action": "scale_up", "from_count": 4,
                        "desired_count": 8, "actual_count": 4, "status": "failed",
                        "message": "0/24 nodes are available: 24 Insufficient cpu. "
                                   "preemption: 0/24 nodes are available"})
    certificates = [
        {"service": "token", "name": "token-server-tls", "subject": "CN=token.internal", "issuer": "CN=internal-ca",
         "not_before": "2025-03-27T00:00:00Z", "not_after": "2026-03-27T00:00:00Z", "purpose": "server"},
        {"service": "search", "name": "search-client-mtls", "subject": "CN=search.internal",
         "issuer": "CN=internal-ca", "not_before": "2026-01-10T00:00:00Z", "not_after": "2026-07-10T00:00:00Z",
         "purpose": "client", "peer_service": "token"},
        {"service": "api-gateway", "name": "edge-tls", "subject": "CN=api.example.com", "issuer": "CN=public-ca",
         "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-12-31T00:00:00Z", "purpose": "server"},
    ]
    registry = []
    for svc, members in inst.items():
        for i, (name, zone) in enumerate(members):
            registry.append({"time": ts(at(0)), "service": svc, "instance": name, "event": "register",
                             "address": f"10.{ZONES.index(zone)}.{list(INSTANCES).index(svc)}.{10 + i}:{PORTS.get(svc, 8080)}",
                             "zone": zone})
            registry.append({"time": ts(at(0.5)), "service": svc, "instance": name, "event": "healthy", "zone": zone})
    return write_snapshot(out, {
        "format": 1, "id": "search-token-peak", "title": "SearchService cannot connect to TokenService",
        "window": {"start": "2026-03-06T15:00:00Z", "end": "2026-03-06T18:00:00Z"},
        "alert": {"at": "2026-03-06T17:05:00Z", "service": "search",
                  "summary": "Connection errors from search to token above 5% for 5m",
                  "labels": {"severity": "page", "team": "search"}},
        "question": None}, {
        "root_cause": {"service": "search", "kind": "failed_scale_up", "onset": "2026-03-06T16:58:00Z",
                       "summary": "search failed to scale up into the Friday peak (no CPU left in the cluster); "
                                  "its CPU saturated and its connects to token timed out"},
        "acceptable": [{"service": "search", "kind": "resource_saturation"}],
        "key_evidence": [{"source": "scaling", "where": {"service": "search", "status": "failed"}},
                         {"source": "metrics", "where": {"service": "search", "name": "cpu_utilization"}}],
        "red_herrings": [{"source": "deployments", "where": {"service": "catalog"}},
                         {"source": "certificates", "where": {"service": "token"}}],
        "difficulty": "medium"}, {
        "logs": logs, "metrics": metrics, "spans": spans, "deployments": deployments, "scaling": scaling,
        "certificates": certificates, "registry": registry, "infra_changes": infra_changes()})


def infra_changes() -> list[dict]:
    """Routine infrastructure work the hour before: nothing to do with the page."""
    return [{"time": ts(at(35)), "kind": "node_drain", "zone": ZONES[2], "target": "node ip-10-2-9-41",
             "actor": "node-upgrader", "status": "succeeded",
             "description": "node ip-10-2-9-41 drained for a kernel upgrade; its pods rescheduled"}]


def _minute_metrics(m: int, inst: dict, rng: random.Random, metrics: list[dict]) -> None:
    """Every instance's metrics for minute m."""
    lf = load(m)
    for svc, members in inst.items():
        for name, zone in members:
            busy = 0.22 + 0.1 * lf + rng.uniform(-0.03, 0.03)
            if svc == "search":
                busy = 0.3 + 0.14 * lf + rng.uniform(-0.02, 0.02)
                if m >= ONSET:
                    busy = rng.uniform(0.95, 0.99)
            rate = 12 * lf * (0.5 if svc in ("checkout", "profile") else 1.0) + rng.uniform(-1, 1)
            if svc in ("catalog", "index") and failing(m):
                rate *= 0.45                                          # search sends them less
            err = 0.002 + rng.uniform(0, 0.002)
            p99 = 90 + 15 * lf + rng.uniform(-8, 8)
            conn = rng.choice((0, 0, 0, 0.1))
            if svc == "search" and failing(m):
                err, p99, conn = rng.uniform(0.12, 0.2), rng.uniform(1900, 2600), rng.uniform(6, 11)
            if svc == "api-gateway" and m >= ONSET + 3:
                err, p99 = rng.uniform(0.05, 0.09), rng.uniform(1100, 1600)
            base = {"time": ts(at(m)), "service": svc, "instance": name, "zone": zone}
            for metric, value in (("cpu_utilization", busy), ("memory_utilization", 0.55 + rng.uniform(-0.02, 0.02)),
                                  ("request_rate", rate), ("error_rate", err), ("latency_p99_ms", p99),
                                  ("connection_errors", conn), ("instance_count", len(members))):
                metrics.append({**base, "name": metric, "value": round(value, 4)})


def _minute_logs(m: int, inst: dict, rng: random.Random, logs: list[dict]) -> None:
    """Access logs (sampled), the failure's errors and background noise for minute m."""
    lf = load(m)
    for svc, members in inst.items():
        for name, zone in members:
            for _ in range(max(1, int(3 * lf * (0.5 if svc in ("checkout", "profile") else 1)))):
                t = at(m + rng.random())
                ms = int(rng.gauss(40, 10) * (1 if not (svc == "search" and failing(m)) else 9))
                path = {"search": "/v2/search?q=…", "token": "/oauth/introspect", "catalog": "/items/{id}",
                        "index": "/_search", "checkout": "/cart/checkout", "profile": "/me",
                        "web": "/", "api-gateway": "/api/v2/search"}[svc]
                logs.append({"time": ts(t), "service": svc, "level": "info", "instance": name, "zone": zone,
                             "message": f"GET {path} 200 {max(ms, 2)}ms"})
            if rng.random() < 0.04:                                   # background noise, all afternoon
                t = at(m + rng.random())
                peer = rng.choice(CALLS.get(svc, ["redis"]))
                msg = rng.choice([f"retrying request to {peer} (attempt 2/3): connection reset by peer",
                                  f"GET /items/{rng.randint(1000, 99999)} 404 not found",
                                  "slow request: 812ms exceeded 500ms budget"])
                logs.append({"time": ts(t), "service": svc, "level": "warn" if "retry" in msg or "slow" in msg
                             else "error", "instance": name, "zone": zone, "message": msg})
            if svc == "search" and failing(m):
                for _ in range(rng.randint(5, 9)):
                    t = at(m + rng.random())
                    logs.append({"time": ts(t), "service": svc, "level": "error", "instance": name, "zone": zone,
                                 "message": f"connect to token:8443 timed out after 1000ms "
                                            f"(pool=token-client, in_flight={rng.randint(180, 260)})",
                                 "trace_id": f"{rng.getrandbits(128):032x}"})
                if rng.random() < 0.5:
                    logs.append({"time": ts(at(m + rng.random())), "service": svc, "level": "warn",
                                 "instance": name, "zone": zone,
                                 "message": f"request queue depth {rng.randint(400, 900)} above 256; shedding"})
            if svc == "api-gateway" and m >= ONSET + 3:
                for _ in range(rng.randint(2, 5)):
                    logs.append({"time": ts(at(m + rng.random())), "service": svc, "level": "error",
                                 "instance": name, "zone": zone,
                                 "message": "upstream search returned 504 Gateway Timeout after 1500ms"})


def _minute_traces(m: int, inst: dict, rng: random.Random, spans: list[dict]) -> None:
    """A few traces per route for minute m."""
    for route in ("search", "checkout", "profile"):
        for _ in range(3):
            tid = f"{rng.getrandbits(128):032x}"
            t = at(m + rng.random())
            root, gw = span_id(rng), span_id(rng)
            fail = route == "search" and failing(m) and rng.random() < 0.8
            spans.append(_span(t, tid, root, None, "web", "GET /", "server", 60 if not fail else 1600,
                               "error" if fail and m >= ONSET + 3 else "ok", inst, rng))
            spans.append(_span(t, tid, gw, root, "api-gateway", f"/api/v2/{route}", "server",
                               50 if not fail else 1500, "error" if fail and m >= ONSET + 3 else "ok", inst, rng))
            svc_span = span_id(rng)
            spans.append(_span(t, tid, svc_span, gw, route, f"handle {route}", "server", 40 if not fail else 1400,
                               "error" if fail else "ok", inst, rng))
            if route == "search":
                cs = span_id(rng)
                if fail:
                    spans.append(_span(t, tid, cs, svc_span, "search", "POST /oauth/introspect", "client", 1000,
                                       "error", inst, rng, peer="token",
                                       attrs={"error.type": "connect_timeout", "server.address": "token",
                                              "server.port": 8443,
                                              "exception.message": "connect to token:8443 timed out after 1000ms"}))
                    continue
                spans.append(_span(t, tid, cs, svc_span, "search", "POST /oauth/introspect", "client", 9, "ok",
                                   inst, rng, peer="token"))
                spans.append(_span(t, tid, span_id(rng), cs, "token", "POST /oauth/introspect", "server", 6, "ok",
                                   inst, rng))
                for dep in ("catalog", "index"):
                    c2 = span_id(rng)
                    spans.append(_span(t, tid, c2, svc_span, "search", f"GET {dep}", "client", 15, "ok", inst,
                                       rng, peer=dep))
                    spans.append(_span(t, tid, span_id(rng), c2, dep, f"GET /{dep}", "server", 11, "ok", inst, rng))
            else:
                cs = span_id(rng)
                spans.append(_span(t, tid, cs, svc_span, route, "POST /oauth/introspect", "client", 8, "ok", inst,
                                   rng, peer="token"))
                spans.append(_span(t, tid, span_id(rng), cs, "token", "POST /oauth/introspect", "server", 5, "ok",
                                   inst, rng))


def failing(m: float) -> bool:
    return m >= ONSET + 1


def span_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _span(t, tid, sid, parent, svc, op, kind, dur, status, inst, rng, peer=None, attrs=None) -> dict:
    name, _zone = rng.choice(inst[svc])
    rec = {"time": ts(t), "trace_id": tid, "span_id": sid, "parent_span_id": parent, "service": svc,
           "operation": op, "kind": kind, "status": status, "duration_ms": round(dur * rng.uniform(0.8, 1.2), 2),
           "attributes": {"service.instance.id": name, **(attrs or {})}}
    if peer:
        rec["peer_service"] = peer
    return rec


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else "evals/incidents/search-token-peak")))
