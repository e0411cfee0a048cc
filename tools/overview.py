"""Where to look first: the incident, the call graph, and which service failed first."""
from __future__ import annotations

from datetime import datetime, timedelta

from tools.analysis import alert_time, baseline_end, error_onsets as compute_onsets
from tools.backends.base import SOURCES
from tools.common import base_filter, no_data, table
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool


@tool
def describe_incident(ctx: ToolContext) -> ToolResult:
    """Describe the incident: the page (alert), the question asked, the time window, and which telemetry
    sources exist with how many records each. Call this first."""
    inc = ctx.incident
    lines = [f"incident {inc.id}: {inc.title}",
             f"window: {fmt_span(inc.window.start, inc.window.end)}",
             f"alert: at {inc.alert.at.isoformat() if inc.alert.at else '-'} on service {inc.alert.service or '-'}: "
             f"{inc.alert.summary or '-'}"]
    if inc.alert.labels:
        lines.append("alert labels: " + ", ".join(f"{k}={v}" for k, v in inc.alert.labels.items()))
    if inc.question:
        lines.append(f"question: {inc.question}")
    rows, cut_short = [], []
    for s in SOURCES:
        c = ctx.telemetry.coverage(s)
        rows.append({"source": s, "records": c.rows if c.present else "NO DATA", "first": c.first, "last": c.last,
                     "skipped_malformed": c.skipped_lines or None})
        cut_short += [f"WARNING: {name} was cut short: records after {fmt_time(c.last)} may be missing"
                      for name in c.cut_short] + [f"WARNING: {note}" for note in c.capped]
    lines.append(table(rows, ["source", "records", "first", "last", "skipped_malformed"]))
    lines.extend(cut_short)
    # Telemetry that stops before the page is missing data, not a quiet system: say so before anyone
    # reads the silence as "traffic stopped".
    at = alert_time(inc)
    ends_early = {r["source"]: r["last"] for r in rows if r["source"] in ("logs", "spans", "metrics")
                  and r["last"] is not None and r["last"] < at - timedelta(minutes=5)}
    for source, last in ends_early.items():
        lines.append(f"WARNING: {source} end at {fmt_time(last)}, before the page at {fmt_time(at)}: "
                     f"anything later is missing, not quiet")
    services = sorted(getattr(ctx.telemetry, "services", set()) or [])
    if services:
        lines.append(f"services with telemetry ({len(services)}): {', '.join(services[:60])}")
    # Which metric names exist (and for which services), so nobody asks for series that are not there.
    metrics: dict[str, set[str]] = {}
    if ctx.telemetry.coverage("metrics").present:
        for r in ctx.telemetry.metric_names(base_filter(ctx, None, None)):
            metrics.setdefault(r["name"], set()).update([r["service"]] if r.get("service") else [])
    if metrics:
        lines.append(f"metric names ({len(metrics)}): {', '.join(sorted(metrics)[:80])}")
    ev = ctx.ledger.add(source="incident", tool="describe_incident", service=inc.alert.service,
                        start=inc.window.start, end=inc.window.end,
                        summary=f"page: {inc.alert.summary or inc.title} (service {inc.alert.service or '-'})",
                        attributes={"alert_at": inc.alert.at.isoformat() if inc.alert.at else None}, rows=rows)
    return ToolResult(text="\n".join(lines), evidence_ids=[ev.id],
                      data={"incident": inc, "services": services, "metrics": metrics, "ends_early": ends_early,
                            "sources": {r["source"]: r["records"] for r in rows}})


@tool
def service_map(ctx: ToolContext, start: datetime | None = None, end: datetime | None = None,
                service: str | None = None) -> ToolResult:
    """The call graph seen in spans: caller → callee edges with call counts, error counts and latency.
    Callees that emit no telemetry of their own are marked external (a dependency outside the system).

    Args:
        start: from this time (RFC 3339); default the incident window's start.
        end: until this time; default the window's end.
        service: only edges where this service is the caller or the callee.
    """
    if (nd := no_data(ctx, "spans")):
        return ToolResult(text=nd + " Without spans the call graph is unknown; use logs that name peers.")
    f = base_filter(ctx, start, end)
    edges = ctx.telemetry.span_edges(f)
    if service:
        edges = [e for e in edges if service in (e["caller"], e["callee"])]
    for e in edges:
        e["error_pct"] = round(100 * e["errors"] / e["calls"], 2) if e["calls"] else 0.0
    ev = ctx.ledger.add(source="spans", tool="service_map", service=service, start=f.start, end=f.end,
                        filters={"service": service}, attributes={"view": "service_map"},
                        summary=f"{len(edges)} call edges; with errors: " + (", ".join(
                            f"{e['caller']}→{e['callee']} {e['error_pct']}%" for e in edges if e["errors"])[:300] or "none"),
                        rows=edges)
    text = f"[{ev.id}] call graph {fmt_span(f.start, f.end)}\n" + table(
        edges, ["caller", "callee", "calls", "errors", "error_pct", "p50_ms", "p99_ms", "external"], limit=60)
    return ToolResult(text=text, evidence_ids=[ev.id], data=edges)


@tool
def error_onsets(ctx: ToolContext, service: str | None = None) -> ToolResult:
    """When each service's errors rose above its own baseline (error logs, error spans, error_rate and
    connection_errors metrics), earliest first. The earliest onset along the dependency chain is where
    to look for the first failing system; later onsets in callers are usually symptoms.

    Args:
        service: only this service.
    """
    onsets = ctx.cache.get("onsets")
    if onsets is None:
        onsets = ctx.cache["onsets"] = compute_onsets(ctx.telemetry)
    if service:
        onsets = [o for o in onsets if o.service == service]
    inc = ctx.incident
    rows = [{"service": o.service, "onset": o.onset, "signal": o.signal, "baseline_per_min": round(o.baseline, 3),
             "peak_per_min": round(o.peak, 3), "errors_since": o.errors} for o in onsets]
    ids = []
    for o in onsets[:12]:
        src = o.signal.split(":")[0]
        ev = ctx.ledger.add(source=src, tool="error_onsets", service=o.service, start=o.onset, end=inc.window.end,
                            filters={"service": o.service, "signal": o.signal},
                            attributes={"signal": o.signal, "onset": o.onset.isoformat(),
                                        **({"name": o.signal.split(':')[1]} if ":" in o.signal else {})},
                            summary=f"{o.service} errors rose at {fmt_time(o.onset)} ({o.signal}: "
                                    f"{o.baseline:.3g}/min before → peak {o.peak:.3g})")
        ids.append(ev.id)
        rows[onsets.index(o)]["evidence"] = ev.id
    missing = [s for s in ("logs", "spans", "metrics") if not ctx.telemetry.coverage(s).present]
    head = (f"error onsets (baseline: {fmt_time(inc.window.start)}–{fmt_time(baseline_end(inc))}, "
            f"alert at {fmt_time(alert_time(inc))})")
    if not rows:
        head += "\nno service's errors rose above its baseline"
    if missing:
        head += f"\nNO DATA from: {', '.join(missing)}"
    text = head + "\n" + table(rows, ["evidence", "service", "onset", "signal", "baseline_per_min", "peak_per_min",
                                      "errors_since"])
    return ToolResult(text=text, evidence_ids=ids, data=onsets)
