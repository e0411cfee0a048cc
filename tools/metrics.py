"""Metric tools: one metric's change against its baseline, and where in the zones errors concentrate."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from tools.analysis import alert_time, baseline_end, detect_shift
from tools.common import base_filter, no_data, table, time_range
from tools.results import MetricResult, MetricSummary, Status, ZoneBreakdown, ZoneRow
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool


def metric_summary(group: str, points: list[tuple[datetime, float]], base_end: datetime) -> MetricSummary:
    """Baseline vs. after, and where the series left its baseline (up or down)."""
    up = detect_shift(points, base_end, min_delta=0.0, rel=1.25)
    down = detect_shift(points, base_end, min_delta=0.0, rel=1.25, direction=-1)
    shift, direction = (up, "up") if (up.onset and (not down.onset or up.onset <= down.onset)) else (down, "down")
    vals = [v for _, v in points]
    top = max(vals) if vals else None
    # when it first came (and stayed) within 5% of its peak: "saturated from", "full from"
    near_at = next((t for i, (t, v) in enumerate(points) if top is not None and v >= 0.95 * top and t >= base_end
                    and sum(w >= 0.95 * top for _, w in points[i:i + 5]) >= min(3, len(points) - i)), None)
    return MetricSummary(
        group=group, baseline=up.baseline, near_peak_at=near_at,
        after=shift.after if shift.onset else (vals[-1] if vals else None),
        max=top, max_at=max(points, key=lambda p: p[1])[0] if points else None,
        min=min(vals) if vals else None, last=vals[-1] if vals else None,
        shift=direction if shift.onset else None, shift_at=shift.onset,
        change_pct=round(100 * (shift.after - up.baseline) / up.baseline, 1) if shift.onset and up.baseline else None)


@tool
def query_metric(ctx: ToolContext, name: str, service: str | None = None,
                 by: Literal["none", "instance", "zone", "service"] = "none",
                 agg: Literal["avg", "max", "sum", "min"] = "avg",
                 start: datetime | None = None, end: datetime | None = None) -> ToolResult:
    """One metric per group (by): baseline, value after the change, max and when, and when it left its
    baseline. Names: see describe_incident; *_utilization and error_rate are 0..1.

    Args:
        agg: per minute, and across instances with by=none
    """
    if (nd := no_data(ctx, "metrics")):
        return nd
    f = base_filter(ctx, start, end, service, name=name)
    group = () if by == "none" else (by,)
    series = ctx.telemetry.metric_series(f, by=group, step_s=60, agg=agg)
    if not series:
        names = sorted({r["name"] for r in ctx.telemetry.metric_names(f.but(name=None))})
        return ToolResult(text=f"no metric {name!r} for {service or 'any service'} in {fmt_span(f.start, f.end)}. "
                               f"Metrics present there: {', '.join(names[:60]) or 'none'}", status=Status.NO_DATA)
    if group and all(r.get(by) is None for r in series):
        have = [lab for lab in ("service", "instance", "zone") if lab != by and any(
            r.get(lab) for r in ctx.telemetry.metric_series(f, by=(lab,), step_s=3600))]
        return ToolResult(text=f"{name} cannot be split by {by}: its series carry no {by} label (labels present: "
                               f"{', '.join(have) or 'none'}); ask with by=none or another split", status=Status.NO_DATA)
    groups: dict[str, list[tuple[datetime, float]]] = {}
    for r in series:
        groups.setdefault(str(r.get(by, "all")) if group else "all", []).append((r["bucket"], r["value"]))
    b_end = baseline_end(ctx.incident)
    rows = [metric_summary(g, pts, b_end) for g, pts in groups.items()]
    rows.sort(key=lambda r: (r.shift_at is None, r.shift_at or f.start))
    whole = [(t, v) for pts in groups.values() for t, v in pts]
    overall = metric_summary("all", sorted(whole), b_end) if len(groups) > 1 else rows[0]
    # A dozen evenly spaced points so the shape is visible without the whole series.
    pts = sorted(groups.values(), key=len)[-1] if len(groups) == 1 else None
    shape = ""
    if pts:
        step = max(1, len(pts) // 12)
        shape = "shape: " + ", ".join(f"{fmt_time(t)}={v:.3g}" for t, v in pts[::step])
    summary = (f"{name} of {service or 'all'}: baseline {overall.baseline:.3g}, max {overall.max:.3g} at "
               f"{fmt_time(overall.max_at)}" + (f", shifted {overall.shift} at {fmt_time(overall.shift_at)} "
                                                f"({overall.change_pct}%)" if overall.shift else ", no shift"))
    ev = ctx.ledger.add(source="metrics", tool="query_metric", service=service, start=f.start, end=f.end,
                        filters={"name": name, "service": service, "by": by, "agg": agg},
                        attributes={"name": name, "shift": overall.shift}, summary=summary,
                        rows=[asdict(r) for r in rows])
    cols = ["group", "baseline", "after", "max", "max_at", "last", "shift", "shift_at", "change_pct"]
    text = (f"[{ev.id}] {summary}\n" + table(rows, cols, limit=30).replace("group", by if group else "series", 1)
            + (f"\n{shape}" if shape else ""))
    return ToolResult(text=text, evidence_ids=[ev.id], data=MetricResult(name, service, overall, rows))


@tool
def zone_breakdown(ctx: ToolContext, service: str | None = None, split_at: datetime | None = None,
                   start: datetime | None = None, end: datetime | None = None) -> ToolResult:
    """Errors and traffic by zone before vs. after split_at: spread evenly, or concentrated in one zone (a zone
    or network problem)?"""
    s, e = time_range(ctx, start, end)
    onsets = [o.onset for o in ctx.onsets() if not service or o.service == service]
    split = split_at or (onsets[0] if onsets else alert_time(ctx.incident))
    source = "logs"   # the format gives zones to logs, metrics and registry, not to spans
    if (nd := no_data(ctx, source, "Zones cannot be compared without logs.")):
        return nd
    rows: dict[str, ZoneRow] = {}
    for side, (a, b) in (("before", (s, split)), ("after", (split, e))):
        for r in ctx.telemetry.count(source, base_filter(ctx, a, b, service), by=("zone",)):
            z = rows.setdefault(r["zone"] or "-", ZoneRow(r["zone"] or "-"))
            setattr(z, f"calls_{side}", getattr(z, f"calls_{side}") + r["n"])
            setattr(z, f"errors_{side}", getattr(z, f"errors_{side}") + r["errors"])
    zones = sorted(rows.values(), key=lambda z: -z.errors_after)
    err_total = sum(z.errors_after for z in zones)
    calls_after = sum(z.calls_after for z in zones)
    calls_total = calls_after or 1
    before_total = sum(z.calls_before for z in zones) or 1
    for z in zones:
        z.error_share = round(z.errors_after / err_total, 3) if err_total else 0.0
        z.traffic_share_after = round(z.calls_after / calls_total, 3)
        z.traffic_share_before = round(z.calls_before / before_total, 3)
    top = zones[0] if zones else None
    named = [z for z in zones if z.zone != "-"]
    concentrated = bool(top and len(named) > 1 and err_total >= 10 and top.error_share >= 0.7
                        and top.traffic_share_before <= 0.6)
    # A zone dropped when its share fell; with no traffic at all after the split (the telemetry may simply
    # end there) no zone dropped relative to the others.
    dropped = [z.zone for z in named if z.traffic_share_before > 0.1 and
               z.traffic_share_after < 0.4 * z.traffic_share_before] if calls_after else []
    verdict = (f"errors concentrated in {top.zone} ({top.error_share:.0%} of errors, "
               f"{top.traffic_share_before:.0%} of traffic before)" if concentrated else
               "errors spread across zones" if err_total else
               "no errors after the split" if calls_after else
               "no records at all after the split (missing data, not silence)")
    if dropped:
        verdict += f"; traffic collapsed in {', '.join(dropped)}"
    ev = ctx.ledger.add(source=source, tool="zone_breakdown", service=service, start=s, end=e,
                        filters={"service": service, "split_at": split.isoformat()},
                        attributes={"zone": top.zone if concentrated else None, "concentrated": concentrated,
                                    "dropped_zones": ",".join(dropped) or None},
                        summary=f"{service or 'all services'} by zone after {fmt_time(split)}: {verdict}",
                        rows=[asdict(z) for z in zones])
    text = f"[{ev.id}] {ev.summary} ({source})\n" + table(
        zones, ["zone", "calls_before", "errors_before", "calls_after", "errors_after", "error_share",
                "traffic_share_before", "traffic_share_after"])
    return ToolResult(text=text, evidence_ids=[ev.id], data=ZoneBreakdown(zones, concentrated, top, dropped))
