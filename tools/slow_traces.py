"""Drill-down for latency_by_service: in a service's slowest traces after the split, the span path down to
the span whose own time holds the trace's time (an LLM in the model's seat asked which child span carried the
extra time of the slowest traces, and had no tool that said it)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from tools.backends.base import Filter
from tools.common import clip
from tools.toolset import ToolContext, fmt_time

SLOW_TRACES = 3          # traces drilled into
SLOW_SAMPLE = 2000       # the service's spans after the split the slowest are picked from (a spread sample)
CARRIES = 0.5            # a child holding this share of its parent's time is where the parent's time went


@dataclass
class SlowTrace:
    trace_id: str
    total_ms: float                          # the service's longest span in the trace
    path: list[str] = field(default_factory=list)      # "service operation ms", from the service's span down
    service: str = ""                        # the span at the end of the path: its own time holds the time
    operation: str | None = None
    own_ms: float = 0.0                      # its duration minus its children's
    spread: str | None = None                # where its own time is small: its children, the largest first
    usual_ms: float | None = None            # p50 of that service and operation before the split
    peer: str | None = None                  # the end span is a client call to this service, with no span under it


def slowest_traces(ctx: ToolContext, service: str, split: datetime, end: datetime) -> list[SlowTrace]:
    """The SLOW_TRACES slowest traces through `service` after `split`, each followed from the service's longest
    span down through the child holding over CARRIES of its parent's time."""
    mine = ctx.telemetry.sample("spans", Filter(start=split, end=end, services=(service,)), limit=SLOW_SAMPLE,
                                order="spread")
    top: dict[str, dict] = {}
    for s in sorted(mine, key=lambda s: -(s.get("duration_ms") or 0)):
        top.setdefault(s["trace_id"], s)
        if len(top) == SLOW_TRACES:
            break
    if not top:
        return []
    w = ctx.incident.window
    kids: dict[tuple[str, str], list[dict]] = {}
    for s in ctx.telemetry.sample("spans", Filter(start=w.start, end=w.end, trace_ids=tuple(top)), limit=5000):
        if s.get("parent_span_id"):
            kids.setdefault((s["trace_id"], s["parent_span_id"]), []).append(s)
    out = []
    for tid, node in top.items():
        path = [node]
        while (below := kids.get((tid, node["span_id"]))) and \
                (k := max(below, key=lambda c: c.get("duration_ms") or 0)).get("duration_ms", 0) >= \
                CARRIES * (node.get("duration_ms") or 0) and k not in path:
            path.append(node := k)
        below = sorted(kids.get((tid, node["span_id"]), []), key=lambda c: -(c.get("duration_ms") or 0))
        own = max((node.get("duration_ms") or 0) - sum(c.get("duration_ms") or 0 for c in below), 0.0)
        out.append(SlowTrace(tid, round(path[0].get("duration_ms") or 0, 1), _path(path), node["service"],
                             node.get("operation"), round(own, 1),
                             f"{len(below)} children: " + ", ".join(_path([c])[0] for c in below[:3])
                             if below and own < CARRIES * (node.get("duration_ms") or 0) else None,
                             peer=node.get("peer_service") if node.get("kind") == "client" and not below else None))
    _usual(ctx, out, split)
    return out


def _path(spans: list[dict]) -> list[str]:
    """'service operation ms' per span, the service named only where it changes."""
    out, last = [], None
    for s in spans:
        op = clip(str(s.get("operation") or "-"), 60)
        to = f" → {s['peer_service']}" if s.get("kind") == "client" and s.get("peer_service") else ""
        out.append(f"{s['service'] + ' ' if s['service'] != last else ''}{op}{to} {s.get('duration_ms') or 0:,.0f}")
        last = s["service"]
    return out


def _usual(ctx: ToolContext, rows: list[SlowTrace], split: datetime) -> None:
    """Each end span's usual time: the p50 of its service and operation before the split."""
    f = Filter(start=ctx.incident.window.start, end=split, services=tuple(sorted({r.service for r in rows})))
    p50 = {(r["service"], r["operation"]): r["p50_ms"]
           for r in ctx.telemetry.span_latency(f, by=("service", "operation"), limit=5000)}
    for r in rows:
        r.usual_ms = p50.get((r.service, r.operation))


def render(ctx: ToolContext, service: str, split: datetime, end: datetime) -> str:
    """The drill-down's lines for a tool's text, with one evidence record ('' when the service has no spans)."""
    rows = slowest_traces(ctx, service, split, end)
    if not rows:
        return ""
    ev = ctx.ledger.add(source="spans", tool="latency_by_service", service=service, start=split, end=end,
                        filters={"service": service, "view": "slowest traces"},
                        attributes={"view": "slowest traces", "carrier": rows[0].service},
                        summary=f"slowest trace through {service} after {fmt_time(split)}: "
                                f"{rows[0].total_ms:,.0f} ms, {rows[0].own_ms:,.0f} ms of it in {rows[0].service}'s "
                                f"own time ({rows[0].operation})", rows=[asdict(r) for r in rows])
    lines = [f"trace {r.trace_id} {r.total_ms:,.0f} ms: {' → '.join(r.path)}; "
             + (f"own time {r.own_ms:,.0f} ms in {r.service} {r.operation or '-'}"
                + (f", a call to {r.peer} with no span of {r.peer}'s under it: the wire, or {r.peer} before its "
                   f"server span began" if r.peer else "") if not r.spread else
                f"the time spread over {r.spread}")
             + (f" (usual {r.usual_ms:,.3g} ms)" if r.usual_ms is not None else "") for r in rows]
    return (f"\n[{ev.id}] slowest traces through {service} after {fmt_time(split)} (ms): the path down through the "
            f"child holding over {CARRIES:.0%} of its parent's time, to the span whose own time holds it (usual: its "
            f"p50 before)\n" + "\n".join(clip(line, 600) for line in lines))
