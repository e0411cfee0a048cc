"""Failing spans by edge, with what the errors said."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from tools.common import base_filter, clip, no_data, nothing_found, table
from tools.logged_failures import logged_failures, record
from tools.results import EdgeErrors, LoggedFailure, Status
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool

MESSAGE_KEYS = ("exception.message", "error.message", "message", "error", "error.type", "http.status_code",
                "http.response.status_code", "rpc.grpc.status_code", "db.system")


def _what(span: dict) -> str:
    attrs = span.get("attributes") if isinstance(span.get("attributes"), dict) else {}
    parts = [f"{k}={attrs[k]}" for k in MESSAGE_KEYS if attrs.get(k) not in (None, "")]
    return clip("; ".join(parts) or span.get("operation") or "", 200)


@tool
def trace_errors(ctx: ToolContext, service: str | None = None, peer_service: str | None = None,
                 start: datetime | None = None, end: datetime | None = None) -> ToolResult:
    """Failing spans by edge (service -> peer or operation): how many, since when, and sample error messages
    from the spans and their traces' logs.

    Args:
        peer_service: only client spans calling this peer
    """
    if (nd := no_data(ctx, "spans", "Use search_logs for error messages instead.")):
        return nd
    if (unknown := _status_not_recorded(ctx, base_filter(ctx, start, end, service))):
        return unknown
    f = base_filter(ctx, start, end, service, status="error", peer_service=peer_service)
    counts = ctx.telemetry.count("spans", f, by=("service", "peer_service", "kind"), limit=200)
    counts.sort(key=lambda r: -r["n"])
    samples = ctx.telemetry.sample("spans", f, limit=300, order="spread")
    ids, rows = [], []
    for c in counts[:15]:
        mine = [s for s in samples if s["service"] == c["service"] and s.get("peer_service") == c["peer_service"]
                and s.get("kind") == c["kind"]]
        first = ctx.telemetry.sample("spans", f.but(services=(c["service"],), peer_service=c["peer_service"],
                                                    kinds=(c["kind"],) if c["kind"] else None), limit=1)
        what = sorted({_what(s) for s in mine if _what(s)})[:3]
        logs = []
        if ctx.telemetry.coverage("logs").present and mine:
            # The same traces' warnings and errors in any service: the callee's own exception is often the story.
            tids = tuple(sorted({s["trace_id"] for s in mine[:20]}))
            logs = [f"{r['service']}: {clip(r['message'], 200)}" for r in ctx.telemetry.sample(
                "logs", base_filter(ctx, start, end, trace_ids=tids, levels=("warn", "error", "fatal")), limit=3)]
        row = EdgeErrors(c["service"], c["peer_service"], c["kind"], c["n"], first[0]["time"] if first else None,
                         " | ".join(what), " | ".join(logs))
        edge = f"{c['service']}→{c['peer_service']}" if c["peer_service"] else f"{c['service']} ({c['kind'] or 'span'})"
        ev = ctx.ledger.add(source="spans", tool="trace_errors", service=c["service"], start=row.first, end=f.end,
                            filters={"service": service, "peer_service": peer_service, "status": "error"},
                            attributes={"peer_service": c["peer_service"], "status": "error", "kind": c["kind"]},
                            summary=f"{c['n']} failing spans {edge} from {fmt_time(row.first)}: "
                                    f"{clip(row.what, 160)}",
                            rows=[asdict(row)] + mine[:10])
        row.evidence = ev.id
        ids.append(ev.id)
        rows.append(row)
    if not rows:
        return nothing_found(ctx, source="spans", tool="trace_errors", service=service, start=f.start, end=f.end,
                             filters={"service": service, "peer_service": peer_service, "status": "error"}, data=[],
                             summary=f"no failing spans{' of ' + service if service else ''}"
                                     f"{' to ' + peer_service if peer_service else ''}",
                             text=f"no failing spans {fmt_span(f.start, f.end)}{_own_error_logs(ctx, f, service)}")
    head = f"failing spans {fmt_span(f.start, f.end)}: {sum(c['n'] for c in counts)} in {len(counts)} edges"
    text = head + "\n" + table(rows, ["evidence", "service", "peer_service", "kind", "errors", "first", "what", "logs"])
    return ToolResult(text=text, evidence_ids=ids, data=rows)


def _own_error_logs(ctx: ToolContext, f, service: str | None) -> str:
    """'no failing spans' of a service that logs errors reads as healthy when its spans only fail to mark them
    (a callee answering 503 with exceptions in its own logs): say the two views disagree, and where to look."""
    if not service or not ctx.telemetry.coverage("logs").present:
        return ""
    own = f.but(status=None, peer_service=None, levels=("error", "fatal"))
    n = sum(r["n"] for r in ctx.telemetry.count("logs", own, by=("service",), limit=5))
    return (f"; but {service} logged {n} error lines in this range: its spans do not mark those failures "
            f"(search_logs service={service} level=error)") if n else ""


def _status_not_recorded(ctx: ToolContext, f) -> ToolResult | None:
    """Spans without a status cannot show failures: 'no failing spans' would read as healthy. Say so, and count
    the error logs that carry a trace id instead (the failures the spans could not record)."""
    rows = ctx.telemetry.span_latency(f, by=(), limit=1)
    if not rows or not rows[0]["n"] or rows[0]["with_status"]:
        return None
    text = ("span status not recorded: these spans cannot show which calls failed (missing is not healthy). ")
    inferred: list[LoggedFailure] = []
    if ctx.telemetry.coverage("logs").present:
        logs = [r for r in ctx.telemetry.count("logs", f.but(levels=("error", "fatal")), by=("service",), limit=50)
                if r["n"]]
        text += ("error logs by service instead (search_logs level=error for their text):\n"
                 + table(logs, ["service", "n"]) if logs else "No error logs either.")
        inferred = logged_failures(ctx, f)
        if (lines := record(ctx, f, inferred)):
            text += "\nerrors that reached a caller (it logged a warning or error after them in the same trace):\n" + lines
    else:
        text += "There are no logs to infer failures from either."
    return ToolResult(text=text, status=Status.NO_DATA, data=inferred,
                      evidence_ids=[r.evidence for r in inferred if r.evidence])
