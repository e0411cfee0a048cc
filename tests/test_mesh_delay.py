"""Network delay from a service mesh's per-edge latency (client side vs server side), with no spans at all, and
changes found by scanning every service must begin before the page."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from agent.heuristic.facts import Facts
from factory import answer
from agent.heuristic.mesh import mesh_delay
from agent.loop import Investigation
from agent.models.base import Message
from agent.models.heuristic import HeuristicModel
from tools import TOOLS
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.evidence import EvidenceLedger
from tools.toolset import ToolContext

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
EDGES = [("web", "cart"), ("web", "store"), ("cart", "store")]


def at(minute: float) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def mesh_system(root: Path, fault: str, fault_at: int = 10, page_at: int = 13, minutes: int = 16) -> Path:
    """Three services, metrics only. fault: network (calls into store wait 0.2 s more at the client, store's own
    proxy sees no change), slow (store itself 0.2 s slower: both sides) or cpu (store's CPU jumps)."""
    root.mkdir(parents=True)
    (root / "incident.yaml").write_text(yaml.safe_dump({
        "format": 1, "id": f"mesh-{fault}", "title": "web latency SLO burn",
        "window": {"start": at(0), "end": at(minutes)},
        "alert": {"at": at(page_at), "service": "web", "summary": "web latency SLO burn"}}))
    rows = []
    for m in range(minutes):
        bad = m >= fault_at
        for caller, callee in EDGES:
            base = 0.004 + 0.0005 * (m % 3)
            into_store = bad and callee == "store"
            server = base + (0.2 if into_store and fault == "slow" else 0.0)
            client = server + 0.001 + (0.2 if into_store and fault == "network" else 0.0)
            for name, v in (("source_50", client), ("destination_50", server)):
                rows.append({"time": at(m), "service": caller, "name": name, "value": v,
                             "labels": {"peer_service": callee}})
        for svc, cpu in (("web", 0.2), ("cart", 0.15), ("store", 0.1)):
            hot = svc == "store" and fault == "cpu" and bad
            rows.append({"time": at(m), "service": svc, "name": "cpu_utilization",
                         "value": 0.95 if hot else cpu + 0.01 * (m % 3)})
    (root / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_metric_changes_splits_per_edge_series_by_callee(tmp_path):
    ctx = ToolContext(SnapshotTelemetry(mesh_system(tmp_path / "m", "network")), EvidenceLedger())
    res = TOOLS["metric_changes"](ctx, {"name": "source_50"})
    edges = {(r.service, r.peer_service) for r in res.data if r.direction == "up"}
    assert edges == {("web", "store"), ("cart", "store")}
    assert "peer_service" in res.text
    assert {ctx.ledger.get(e).summary.split(" ")[2] for e in res.evidence_ids} >= {"web→store", "cart→store"}


def test_network_delay_is_found_from_mesh_metrics_without_spans(tmp_path):
    assert answer(mesh_system(tmp_path / "net", "network")) == ("store", "network_delay")


def test_a_callee_slower_on_both_sides_is_not_the_network(tmp_path):
    """The server side rose as much as the client side: the time is spent in store, not between the proxies."""
    f = Facts()
    d = mesh_system(tmp_path / "slow", "slow")
    ctx = ToolContext(SnapshotTelemetry(d), EvidenceLedger())
    for name in ("describe_incident", "source_50", "destination_50"):
        args = {} if name == "describe_incident" else {"name": name, "limit": 60}
        tool = name if name == "describe_incident" else "metric_changes"
        f.add(tool, args, _message(TOOLS[tool](ctx, args)))
    assert mesh_delay(f) == []
    assert answer(d)[1] != "network_delay"


def test_a_cpu_jump_after_the_page_is_not_what_was_paged_for(tmp_path):
    """Found by scanning every service, with no failing call leading to it: only its timing ties it to the
    page, so one that began after the page is not the cause (before: it was confirmed)."""
    assert answer(mesh_system(tmp_path / "before", "cpu", fault_at=10, page_at=13)) == ("store", "resource_saturation")
    assert answer(mesh_system(tmp_path / "after", "cpu", fault_at=12, page_at=10)) != ("store", "resource_saturation")


def _message(res) -> Message:
    return Message(role="tool", content=res.text, data=res.data, evidence_ids=res.evidence_ids)


def spans_system(root: Path, name: str, minutes: int, page_at: int, trace) -> Path:
    """A snapshot of spans only, paged at web: 12 traces a minute, `trace(m)` giving each one's spans as
    (span id, parent, service, kind, duration ms, peer service[, operation: else "<service>.op"])."""
    root.mkdir(parents=True)
    (root / "incident.yaml").write_text(yaml.safe_dump({
        "format": 1, "id": name, "title": "web latency SLO burn", "window": {"start": at(0), "end": at(minutes)},
        "alert": {"at": at(page_at), "service": "web", "summary": "web latency SLO burn"}}))
    spans = [{"time": at(i / 12), "trace_id": f"t{i:05d}", "span_id": sid, "parent_span_id": parent, "service": svc,
              "kind": kind, "duration_ms": dur, "operation": op[0] if op else f"{svc}.op",
              **({"peer_service": peer} if peer else {})}
             for i in range(minutes * 12) for sid, parent, svc, kind, dur, peer, *op in trace(i)]
    (root / "spans.jsonl").write_text("".join(json.dumps(r) + "\n" for r in spans))
    return root


def lone_edge_system(root: Path) -> Path:
    """web calls only store (a leaf); from minute 10 the time between web's client span and store's server span
    grows by 200 ms. No mesh metrics: spans alone."""
    def trace(i):
        own, wire = 5.0 + (i % 3), (200.0 if i / 12 >= 10 else 1.0 + (i % 2) * 0.5)
        return (("w", None, "web", "server", own + wire + 4, None), ("wc", "w", "web", "client", own + wire, "store"),
                ("ss", "wc", "store", "server", own, None))
    return spans_system(root, "lone-edge", 16, 13, trace)


def test_one_slow_edge_into_a_leaf_is_a_lead_not_the_answer(tmp_path):
    """Between a caller's span and a leaf's span lies the network and the leaf's own request queue: with one
    edge and no mesh metrics to tell them apart, network delay is offered as open, never confirmed."""
    tel = SnapshotTelemetry(lone_edge_system(tmp_path / "lone"))
    try:
        report = Investigation(HeuristicModel(), ToolContext(tel, EvidenceLedger())).run().report
    finally:
        tel.close()
    assert not (report.root_cause and (report.root_cause.service, report.root_cause.kind) == ("store", "network_delay"))
    assert any((h.service, h.kind, h.status) == ("store", "network_delay", "open") for h in report.hypotheses)


def two_edge_system(root: Path, into_at: float, out_at: float) -> Path:
    """web → store → db, spans only: the wire time of web→store grows by 200 ms from into_at, of store→db by
    150 ms from out_at; the page is at minute 17."""
    def trace(i):
        m, jitter, own = i / 12, (i % 2) * 0.5, 5.0 + (i % 3)
        w_in = 200.0 if m >= into_at else 1.0 + jitter
        w_out = 150.0 if m >= out_at else 1.0 + jitter
        return (("w", None, "web", "server", 2 * own + w_in + w_out + 4, None),
                ("wc", "w", "web", "client", 2 * own + w_in + w_out, "store"),
                ("ss", "wc", "store", "server", 2 * own + w_out, None),
                ("sc", "ss", "store", "client", own + w_out, "db"),
                ("ds", "sc", "db", "server", own, None))
    return spans_system(root, "two-edges", 20, 17, trace)


def test_edges_around_a_service_slowing_minutes_apart_are_not_one_network_delay(tmp_path):
    """A delay in the network around store slows its calls in and out at once; here the outgoing edge slowed
    five minutes after the incoming one, which leaves only calls into store slowed by one episode."""
    assert answer(two_edge_system(tmp_path / "together", 10, 10)) == ("store", "network_delay")
    assert answer(two_edge_system(tmp_path / "apart", 10, 15)) != ("store", "network_delay")
