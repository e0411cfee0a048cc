"""A small, fully controlled incident for unit tests (the demo and the corpus test the rest).

api → search → {token, index}; search → geo-api (external). search fails to scale up at 11:10,
its CPU saturates, its calls to token time out from 11:13, api's errors follow at 11:15.
Red herrings: a deploy of index at 11:05; token's certificate expiring in 20 days.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import yaml

T0 = datetime(2026, 3, 6, 10, 0, tzinfo=timezone.utc)
ZONES = ("z-a", "z-b")


def ts(minute: float) -> str:
    return (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def write_jsonl(path: Path, rows: list[dict], gz: bool = False) -> None:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)


def incident_yaml(ident: str = "mini", service: str = "api") -> dict:
    return {"format": 1, "id": ident, "title": "api errors", "window": {"start": ts(0), "end": ts(120)},
            "alert": {"at": ts(90), "service": service, "summary": "api 5xx above 2%", "labels": {"severity": "page"}},
            "question": None}


def build(root: Path, *, spans: bool = True, gz: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "incident.yaml").write_text(yaml.safe_dump(incident_yaml(), sort_keys=False))
    logs, metrics, span_rows = [], [], []
    for m in range(120):
        for svc, n in (("api", 4), ("search", 4), ("token", 3), ("index", 2)):
            for i in range(n):
                zone = ZONES[i % 2]
                logs.append({"time": ts(m + i / 10), "service": svc, "level": "info", "instance": f"{svc}-{zone}",
                             "zone": zone, "message": f"GET /{svc} 200 {12 + i}ms"})
        if m >= 73:
            logs.append({"time": ts(m + 0.5), "service": "search", "level": "error", "instance": "search-z-a",
                         "zone": "z-a", "message": "connect to token:8443 timed out after 1000ms",
                         "trace_id": f"t{m}"})
            logs.append({"time": ts(m + 0.6), "service": "search", "level": "error", "instance": "search-z-b",
                         "zone": "z-b", "message": "connect to token:8443 timed out after 1000ms"})
        if m >= 75:
            for k in range(3):
                z = ZONES[(m + k) % 2]
                logs.append({"time": ts(m + 0.7 + k / 10), "service": "api", "level": "error", "instance": f"api-{z}",
                             "zone": z, "message": "upstream search returned 503"})
        if m % 6 == 1:
            logs.append({"time": ts(m), "service": "index", "level": "error", "message": "cache miss storm", "zone": "z-a"})
        for svc in ("api", "search", "token", "index"):
            cpu = 0.97 if (svc == "search" and m >= 72) else 0.35 + 0.01 * (m % 5)
            metrics.append({"time": ts(m), "name": "cpu_utilization", "value": cpu, "service": svc})
            metrics.append({"time": ts(m), "name": "instance_count", "value": 4, "service": svc})
            metrics.append({"time": ts(m), "name": "memory_utilization", "value": 0.5, "service": svc})
        if spans:
            tid = f"t{m}"
            err = m >= 73
            span_rows += [
                {"time": ts(m), "trace_id": tid, "span_id": f"{m}a", "service": "api", "duration_ms": 40,
                 "kind": "server", "status": "error" if m >= 75 else "ok", "operation": "GET /search", "zone": "z-a"},
                {"time": ts(m), "trace_id": tid, "span_id": f"{m}b", "parent_span_id": f"{m}a", "service": "search",
                 "duration_ms": 30, "kind": "server", "status": "error" if err else "ok", "operation": "search"},
                {"time": ts(m), "trace_id": tid, "span_id": f"{m}c", "parent_span_id": f"{m}b", "service": "search",
                 "duration_ms": 1000 if err else 5, "kind": "client", "peer_service": "token",
                 "status": "error" if err else "ok",
                 "attributes": {"error.type": "timeout", "exception.message": "connect timed out"} if err else {}},
                {"time": ts(m), "trace_id": tid, "span_id": f"{m}e", "parent_span_id": f"{m}b", "service": "search",
                 "duration_ms": 80, "kind": "client", "peer_service": "geo-api", "status": "ok"},
                {"time": ts(m), "trace_id": tid, "span_id": f"{m}f", "parent_span_id": f"{m}b", "service": "index",
                 "duration_ms": 3, "kind": "server", "status": "ok"},
            ]
            if not err:
                span_rows.append({"time": ts(m), "trace_id": tid, "span_id": f"{m}d", "parent_span_id": f"{m}c",
                                  "service": "token", "duration_ms": 2, "kind": "server", "status": "ok"})
    sfx = ".jsonl.gz" if gz else ".jsonl"
    write_jsonl(root / f"logs{sfx}", logs, gz)
    write_jsonl(root / f"metrics{sfx}", metrics, gz)
    if spans:
        write_jsonl(root / f"spans{sfx}", span_rows, gz)
    write_jsonl(root / f"deployments{sfx}", [
        {"time": ts(65), "service": "index", "version": "v42", "previous_version": "v41", "kind": "deploy",
         "actor": "ci", "status": "succeeded", "changes": {"image": {"from": "index:v41", "to": "index:v42"}}}], gz)
    write_jsonl(root / f"scaling{sfx}", [
        {"time": ts(70 + k), "service": "search", "action": "scale_up", "from_count": 4, "desired_count": 8,
         "actual_count": 4, "status": "failed", "message": "0/12 nodes are available: 12 Insufficient cpu"}
        for k in range(3)], gz)
    write_jsonl(root / f"certificates{sfx}", [
        {"service": "token", "not_after": "2026-03-26T00:00:00Z", "name": "token-server", "purpose": "server"},
        {"service": "api", "not_after": "2027-01-01T00:00:00Z", "name": "api-server", "purpose": "server"}], gz)
    write_jsonl(root / f"registry{sfx}", [
        {"time": ts(0), "service": svc, "instance": f"{svc}-{z}", "event": "register", "address": f"10.0.{i}.{j}:8080",
         "zone": z} for i, svc in enumerate(("api", "search", "token", "index")) for j, z in enumerate(ZONES)], gz)
    return root


def _rewrite(path: Path, fn) -> None:
    rows = [json.loads(l) for l in open(path)] if path.exists() else []
    write_jsonl(path, [r for r in (fn(r) for r in rows) if r is not None])


@dataclass(frozen=True)
class Variant:
    """One cause of search's failure: its root-cause kind, the service where its fix belongs (the taxonomy's
    root_cause.service convention, in the mini incident), and what it changes in the evidence."""
    kind: str
    service: str
    make: Callable[[Path], None]


VARIANTS: dict[str, Variant] = {}              # case name → variant; test_heuristic runs every one


def cause(name: str, service: str = "search", kind: str | None = None):
    def register(make: Callable[[Path], None]) -> Callable[[Path], None]:
        VARIANTS[name] = Variant(kind or name, service, make)
        return make
    return register


def variant(root: Path, name: str) -> Path:
    """The mini incident with search's failure caused by VARIANTS[name] instead of a failed scale-up.

    search's errors (its calls to token failing from 11:13) stay; what changes is the evidence of why."""
    if name not in VARIANTS:
        raise ValueError(name)
    d = build(root)
    (d / "scaling.jsonl").unlink()
    _rewrite(d / "metrics.jsonl", lambda m: {**m, "value": 0.4} if m["name"] == "cpu_utilization" else m)
    VARIANTS[name].make(d)
    return d


def errors_say(d: Path, text: str, service: str = "search") -> None:
    _rewrite(d / "logs.jsonl", lambda l: {**l, "message": text} if l["service"] == service and
             l["level"] == "error" else l)
    _rewrite(d / "spans.jsonl", lambda s: {**s, "attributes": {"exception.message": text}}
             if s["service"] == service and s.get("kind") == "client" and s["status"] == "error" else s)


def metric(d: Path, service: str, name: str, f) -> None:
    rows = [json.loads(l) for l in open(d / "metrics.jsonl")]
    rows += [{"time": ts(m), "name": name, "value": f(m), "service": service, "instance": f"{service}-{z}"}
             for m in range(120) for z in ZONES]
    write_jsonl(d / "metrics.jsonl", rows)


def calls_fail_to(d: Path, peer: str, attributes: dict) -> None:
    """search's failing calls go to `peer` instead of token."""
    _rewrite(d / "spans.jsonl", lambda s: {**s, "peer_service": peer, "attributes": attributes}
             if s.get("peer_service") == "token" and s["status"] == "error" else s)


@cause("memory_leak")
def _memory_leak(d: Path) -> None:
    metric(d, "search", "memory_utilization", lambda m: min(0.99, 0.45 + max(0, m - 30) * 0.012))
    errors_say(d, "container search killed: OOMKilled (exit code 137)")


@cause("disk_full")
def _disk_full(d: Path) -> None:
    metric(d, "search", "disk_utilization", lambda m: min(1.0, 0.6 + max(0, m - 40) * 0.012))
    errors_say(d, "write /var/lib/search/segments/0042: no space left on device")


@cause("dns_failure")
def _dns_failure(d: Path) -> None:
    errors_say(d, "dial tcp: lookup token.svc.cluster.local on 10.96.0.10:53: no such host")


@cause("config_change")
def _config_change(d: Path) -> None:
    write_jsonl(d / "deployments.jsonl", [
        {"time": ts(71), "service": "search", "kind": "config", "status": "succeeded", "actor": "ops",
         "changes": {"token.client.timeout_ms": {"from": 2000, "to": 50}}}])
    errors_say(d, "call to token failed: context deadline exceeded (timeout 50ms)")


@cause("registry_misroute", service="token")
def _registry_misroute(d: Path) -> None:
    with open(d / "registry.jsonl", "a") as f:
        for i, z in enumerate(ZONES):
            f.write(json.dumps({"time": ts(72), "service": "token", "instance": f"token-{z}", "event": "update",
                                "address": f"10.99.0.{i}:8443"}) + "\n")
    errors_say(d, "dial tcp 10.99.0.1:8443: connect: connection refused")


@cause("rate_limited", service="geo-api")
def _rate_limited(d: Path) -> None:
    errors_say(d, "POST https://geo-api/v1/lookup returned 429 Too Many Requests")
    calls_fail_to(d, "geo-api", {"http.status_code": 429})


@cause("dependency_outage", service="geo-api")
def _dependency_outage(d: Path) -> None:
    errors_say(d, "POST https://geo-api/v1/lookup: 503 Service Unavailable")
    calls_fail_to(d, "geo-api", {"http.status_code": 503})


@cause("database_saturation")
def _database_saturation(d: Path) -> None:
    metric(d, "search", "db_connections_in_use", lambda m: 100.0 if m >= 72 else 30.0 + m % 7)
    errors_say(d, "timeout acquiring connection from pool after 5000ms (100/100 in use)")


@cause("network_partition")
def _network_partition(d: Path) -> None:            # search's instances in z-b become unreachable at 11:12
    cut = ts(72)
    _rewrite(d / "logs.jsonl", lambda l: None if l["service"] == "search" and l.get("zone") == "z-b"
             and l["time"] >= cut else ({**l, "level": "info", "message": "GET /search 200 14ms"}
                                        if l["service"] == "search" and l["level"] == "error" else l))
    _rewrite(d / "spans.jsonl", lambda s: {**s, "status": "ok", "attributes": {}} if s["service"] == "search" else s)
    _rewrite(d / "logs.jsonl", lambda l: {**l, "message": "dial tcp 10.1.1.7:8080 (search, us-b): i/o timeout"}
             if l["service"] == "api" and l["level"] == "error" else l)


@cause("network_partition_seen_by_callers", kind="network_partition")
def _partition_seen_by_callers(d: Path) -> None:
    """search-z-b (10.0.1.1) is cut off from other zones at 11:12 but keeps serving its own zone, so no zone of
    search's falls silent: only api's timeouts, from both zones, all naming that address, place the cut."""
    _rewrite(d / "logs.jsonl", lambda l: {**l, "level": "info", "message": "GET /search 200 14ms"}
             if l["service"] == "search" and l["level"] == "error" else l)
    _rewrite(d / "spans.jsonl", lambda s: {**s, "status": "ok", "attributes": {}} if s["service"] == "search" else s)
    _rewrite(d / "logs.jsonl", lambda l: {**l, "message": "dial tcp 10.0.1.1:8080: i/o timeout"}
             if l["service"] == "api" and l["level"] == "error" else l)


@cause("database_saturation_db", service="search-db", kind="database_saturation")
def _database_of_its_own(d: Path) -> None:          # the database is a service of its own, called by search
    metric(d, "search-db", "db_connections_in_use", lambda m: 200.0 if m >= 72 else 60.0 + m % 9)
    errors_say(d, "FATAL: remaining connection slots are reserved for non-replication superuser connections")
    _rewrite(d / "spans.jsonl", lambda s: {**s, "peer_service": "search-db",
                                           "attributes": {**s.get("attributes", {}), "db.system": "postgresql"}}
             if s.get("peer_service") == "token" and s["status"] == "error" else s)


@cause("application_error_wrong_results", service="token", kind="application_error")
def _wrong_results(d: Path) -> None:
    """token answers every call, quickly and with its own spans ok, from 11:13 with a body search cannot decode:
    only search's failing calls and error lines say so; token logs nothing wrong."""
    errors_say(d, "failed to decode token response: unexpected end of JSON input")
    calls_fail_to(d, "token", {"error.type": "invalid_response"})
    rows = [json.loads(l) for l in open(d / "spans.jsonl")]
    rows = [{**s, "duration_ms": 6} if s.get("peer_service") == "token" else s for s in rows]
    rows += [{"time": s["time"], "trace_id": s["trace_id"], "span_id": s["span_id"] + "d", "parent_span_id":
              s["span_id"], "service": "token", "duration_ms": 2, "kind": "server", "status": "ok"}
             for s in rows if s.get("peer_service") == "token" and s["status"] == "error"]
    write_jsonl(d / "spans.jsonl", rows)


def heuristic_run(d: Path):
    """The built-in investigator on the snapshot at `d`, through the loop (its telemetry closed after)."""
    from agent.loop import Investigation
    from agent.models.heuristic import HeuristicModel
    from tools import ToolContext
    from tools.backends.snapshot import SnapshotTelemetry
    from tools.domain.evidence import EvidenceLedger
    tel = SnapshotTelemetry(d)
    try:
        return Investigation(HeuristicModel(), ToolContext(tel, EvidenceLedger())).run()
    finally:
        tel.close()


def answer(d: Path) -> tuple[str | None, str | None]:
    """What the heuristic names as the root cause of the snapshot at `d`: (service, kind), or (None, None)."""
    rc = heuristic_run(d).report.root_cause
    return (rc.service, rc.kind) if rc else (None, None)
