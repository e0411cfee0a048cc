"""Where to look first: the incident, the call graph, and which service failed first."""
from __future__ import annotations

from datetime import datetime, timedelta

from dataclasses import asdict, replace

from tools import coverage, nodes
from tools.analysis import alert_time, baseline_end
from tools.backends.base import SOURCES
from tools.common import base_filter, no_data, nothing_found, table
from tools.results import Edge, Overview, SourceCoverage, Status
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool

P50_MIN_SPANS = 5            # calls on an edge before its median means anything
P99_MIN_SPANS = 100          # calls before a p99 is more than the sample's maximum
# What a metric name measures where the name alone does not say (which side of a call times it), said beside
# the names when a snapshot has them: an LLM read Nezha's PodClientLatency as the pod's own slowness.
METRIC_MEANINGS = (
    ("PodClientLatency", "PodClientLatency*: the pod's outgoing calls timed at the caller (the callee's time + the "
                         "network)"),
    ("PodServerLatency", "PodServerLatency*: requests the pod served, timed at the callee (its handling, own calls "
                         "included, no network)"),
    ("source_", "source_*/destination_*: one call edge timed at the caller/at the callee (the gap is the network)"),
)
LATENCY_CEILING = "a latency pinned at a round maximum (3600 s) is a histogram's top bucket, not a time"


@tool
def describe_incident(ctx: ToolContext) -> ToolResult:
    """The page, the question asked, the time window, which telemetry sources exist with how many records
    each, and the services and metric names seen."""
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
        rows.append(SourceCoverage(s, c.rows if c.present else None, c.first, c.last, c.skipped_lines or None))
        cut_short += [f"WARNING: {name} was cut short: records after {fmt_time(c.last)} may be missing"
                      for name in c.cut_short] + [f"WARNING: {note}" for note in c.capped]
    lines.append(table([{**asdict(r), "records": "NO DATA" if r.records is None else r.records} for r in rows],
                       ["source", "records", "first", "last", "skipped_malformed"]))
    lines.extend(cut_short)
    # Telemetry that stops before the page, starts late or has empty minutes is missing data, not a quiet
    # system: say so before anyone reads the silence as "traffic stopped".
    at = alert_time(inc)
    ends_early = {r.source: r.last for r in rows if r.source in ("logs", "spans", "metrics")
                  and r.last is not None and r.last < at - timedelta(minutes=5)}
    lines += [w for s in ("logs", "spans", "metrics") if (w := coverage.describe(ctx, s))]
    services = sorted(ctx.telemetry.services(inc.window))
    if services:
        lines.append(f"services with telemetry ({len(services)}): {', '.join(services[:60])}")
        lines += [line for line in (nodes.by_node_line(ctx),) if line]
    # Which metric names exist (and for which services), so nobody asks for series that are not there.
    metrics: dict[str, set[str]] = {}
    if ctx.telemetry.coverage("metrics").present:
        for r in ctx.telemetry.metric_names(base_filter(ctx, None, None)):
            metrics.setdefault(r["name"], set()).update([r["service"]] if r.get("service") else [])
    if metrics:
        lines.append(f"metric names ({len(metrics)}): {', '.join(sorted(metrics)[:80])}")
        if (meant := [m for prefix, m in METRIC_MEANINGS if any(n.startswith(prefix) for n in metrics)]):
            lines.append("metric meanings: " + "; ".join(meant + [LATENCY_CEILING]))
    ev = ctx.ledger.add(source="incident", tool="describe_incident", service=inc.alert.service,
                        start=inc.window.start, end=inc.window.end,
                        summary=f"page: {inc.alert.summary or inc.title} (service {inc.alert.service or '-'})",
                        attributes={"alert_at": inc.alert.at.isoformat() if inc.alert.at else None},
                        rows=[asdict(r) for r in rows])
    return ToolResult(text="\n".join(lines), evidence_ids=[ev.id],
                      data=Overview(inc, rows, services, metrics, ends_early,
                                    {s: h for s in ("logs", "spans", "metrics") if (h := coverage.holes(ctx, s))}))


@tool
def service_map(ctx: ToolContext, start: datetime | None = None, end: datetime | None = None,
                service: str | None = None) -> ToolResult:
    """Call graph from spans: caller -> callee calls, errors, latency; a callee with no telemetry of its own is
    marked external.

    Args:
        service: only edges where it is the caller or the callee
    """
    if (nd := no_data(ctx, "spans", "Without spans the call graph is unknown; use logs that name peers.")):
        return nd
    f = base_filter(ctx, start, end)
    edges = [_edge(e) for e in ctx.telemetry.span_edges(f) if not service or service in (e["caller"], e["callee"])]
    if not edges:
        return nothing_found(ctx, source="spans", tool="service_map", service=service, start=f.start, end=f.end,
                             filters={"service": service}, data=[],
                             summary=f"no calls {'of ' + service + ' ' if service else ''}in spans",
                             text=f"no call edges {'of ' + service + ' ' if service else ''}{fmt_span(f.start, f.end)}")
    ev = ctx.ledger.add(source="spans", tool="service_map", service=service, start=f.start, end=f.end,
                        filters={"service": service}, attributes={"view": "service_map"},
                        summary=f"{len(edges)} call edges; with errors: " + (", ".join(
                            f"{e.caller}→{e.callee} {e.error_pct}%" for e in edges if e.errors)[:300] or "none"),
                        rows=[{**asdict(e), "error_pct": e.error_pct} for e in edges])
    text = (f"[{ev.id}] call graph {fmt_span(f.start, f.end)}\nlatency percentiles are over each edge's calls "
            f"(one span each) over the range: p50 from {P50_MIN_SPANS} calls, p99 from {P99_MIN_SPANS}, '-' below that "
            f"(latency_by_service compares p90s per 30 s before and after)"
            + coverage.range_note(ctx, "spans", f.start, f.end) + "\n" + table(
                edges, ["caller", "callee", "calls", "errors", "error_pct", "p50_ms", "p99_ms", "external"], limit=60))
    return ToolResult(text=text, evidence_ids=[ev.id], data=edges)


def _edge(e: dict) -> Edge:
    """An edge whose percentiles are only given where its sample carries them: the p99 of 8 calls is their
    maximum, and the p50 and p99 of one call are the same number."""
    spans = int(e.get("spans") or e["calls"])
    return Edge(e["caller"], e["callee"], e["calls"], e["errors"],
                e.get("p50_ms") if spans >= P50_MIN_SPANS else None,
                e.get("p99_ms") if spans >= P99_MIN_SPANS else None, bool(e.get("external")), spans)


@tool
def error_onsets(ctx: ToolContext, service: str | None = None) -> ToolResult:
    """When each service's errors rose above its own baseline (error logs and spans, error_rate,
    connection_errors), earliest first."""
    onsets = [replace(o) for o in ctx.onsets() if not service or o.service == service]
    inc = ctx.incident
    # Log and span onsets count errors per minute; metric onsets are the metric's own value (a rate, a share).
    rows = [{"service": o.service, "onset": o.onset, "signal": o.signal, "baseline": round(o.baseline, 3),
             "peak": round(o.peak, 3), "unit": o.signal.split(":")[1] if ":" in o.signal else "errors/min",
             "errors_since": None if ":" in o.signal else o.errors,
             "ended": fmt_time(o.ended_at) if o.ended_at else None} for o in onsets]
    ids = []
    notes = []
    for o in onsets[:12]:
        src = o.signal.split(":")[0]
        # An onset right after minutes without records of its source may have begun in them.
        note = coverage.caveat(ctx, src, o.onset)
        ev = ctx.ledger.add(source=src, tool="error_onsets", service=o.service, start=o.onset, end=inc.window.end,
                            filters={"service": o.service, "signal": o.signal},
                            attributes={"signal": o.signal, "onset": o.onset.isoformat(),
                                        **({"name": o.signal.split(':')[1]} if ":" in o.signal else {})},
                            summary=f"{o.service} errors rose at {fmt_time(o.onset)} ({o.signal}: "
                                    f"{o.baseline:.3g}/min before → peak {o.peak:.3g})" + (f"; {note}" if note else ""))
        ids.append(ev.id)
        notes += [f"{ev.id}: {note}"] if note else []
        o.evidence = rows[onsets.index(o)]["evidence"] = ev.id
    missing = [s for s in ("logs", "spans", "metrics") if not ctx.telemetry.coverage(s).present]
    head = (f"error onsets (baseline: {fmt_time(inc.window.start)}–{fmt_time(baseline_end(inc))}, "
            f"alert at {fmt_time(alert_time(inc))}); before/after tools' default {ctx.split_note()}")
    if missing:
        head += f"\nNO DATA from: {', '.join(missing)}"
    if not rows and len(missing) == 3:
        return ToolResult(text=head, data=[], status=Status.NO_DATA)
    if not rows:
        return nothing_found(ctx, source="incident", tool="error_onsets", service=service, start=inc.window.start,
                             end=inc.window.end, filters={"service": service}, data=[],
                             summary=f"no error onset in {service or 'any service'}",
                             text=head + _baseline_bursts(ctx, service) + "\n" + (
                                 f"{service}'s errors did not rise above its baseline" if service
                                 else "no service's errors rose above its baseline"))
    head += _baseline_bursts(ctx, service)
    ended = any(o.ended_at for o in onsets)
    if ended:
        head += ("\nended: back at its baseline from then on, well before the page: an earlier episode, not the "
                 "paged symptom (unless it returns)")
    text = head + "\n" + table(rows, ["evidence", "service", "onset", "signal", "baseline", "peak", "unit",
                                      "errors_since"] + (["ended"] if ended else [])) + "".join("\n" + n for n in notes)
    return ToolResult(text=text, evidence_ids=ids, data=onsets)


BURST_MIN = 10           # error lines in one minute of the baseline …
BURST_X = 5              # … and this many times the service's usual minute there: an episode inside the baseline


def _baseline_bursts(ctx: ToolContext, service: str | None) -> str:
    """Error bursts inside the baseline itself: onsets are measured against it, so an episode there is no
    onset (the relay seat found basic's 29 "No instances available" errors at 09:33 only by searching)."""
    if not ctx.telemetry.coverage("logs").present:
        return ""
    start, end = ctx.incident.window.start, ctx.baseline_end()
    per: dict[str, dict] = {}
    for r in ctx.telemetry.count("logs", base_filter(ctx, start, end, service, levels=("error", "fatal")),
                                 by=("service",), bucket_s=60, limit=50_000):
        if r.get("bucket") and r.get("service"):
            per.setdefault(r["service"], {})[r["bucket"]] = r["n"]
    minutes = max(1, round((end - start).total_seconds() / 60))
    found = []
    for svc, by_min in per.items():
        counts = sorted(list(by_min.values()) + [0] * max(0, minutes - len(by_min)))
        usual, (at, top) = counts[len(counts) // 2], max(by_min.items(), key=lambda kv: kv[1])
        if top >= BURST_MIN and top >= BURST_X * max(usual, 1):
            found.append((top, f"{svc} {top} at {fmt_time(at)} (usual {usual}/min)"))
    if not found:
        return ""
    return ("\nerror bursts inside the baseline itself (no onset: onsets rise above the baseline; an episode "
            "there may be an earlier one, or where this began): " + "; ".join(t for _, t in sorted(found)[::-1][:5]))
