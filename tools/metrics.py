"""Metric tools: one metric's change against its baseline, and where in the zones errors concentrate."""
from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime
from typing import Literal

from tools.analysis import change_point, detect_shift
from tools.changes import FILLS_UP, change_floor
from tools.common import base_filter, no_data, table, time_range
from tools.results import MetricResult, MetricSummary, PeerZoneRow, Status, ZoneBreakdown, ZoneRow
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool
from tools.zones import peer_breakdown

MIN_ZONE_ERRORS = 10       # errors before one zone's share of them means anything
DROP_P = 0.01             # how rarely chance alone would leave a zone with so few lines
MIN_DROP_LINES = 5         # lines a zone would have had after the split, at least, before it can be said to drop


def metric_summary(group: str, points: list[tuple[datetime, float]], base_end: datetime,
                   name: str = "") -> MetricSummary:
    """Baseline vs. after, where the series left its baseline (up or down), and whether it stepped or ramped
    (a ramp's start, slope and, for a filling disk or memory, minutes until full)."""
    vals = [v for _, v in points]
    if not any(t < base_end for t, _ in points):     # a scrape gap is no data, not a baseline of 0
        return MetricSummary(group, None, None, max(vals, default=None),
                             max(points, key=lambda p: p[1])[0] if points else None, min(vals, default=None),
                             vals[-1] if vals else None, None, None, None, None)
    up = detect_shift(points, base_end, min_delta=0.0, rel=1.25)
    down = detect_shift(points, base_end, min_delta=0.0, rel=1.25, direction=-1)
    shift, direction = (up, "up") if (up.onset and (not down.onset or up.onset <= down.onset)) else (down, "down")
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
        change_pct=round(100 * (shift.after - up.baseline) / up.baseline, 1) if shift.onset and up.baseline else None,
        **_shape(name, points, base_end))


def _shape(name: str, points: list[tuple[datetime, float]], base_end: datetime) -> dict:
    """Step or ramp, told by the change-point analysis metric_changes uses; a ramp's start and baseline come from
    before the climb, so half a ramp is never taken for normal."""
    cp = change_point(points, base_end, floor_abs=change_floor(name))
    if cp.shape != "ramp":
        return {"shape": cp.shape}
    full = cp.time_to(1.0, base_end) if name in FILLS_UP and cp.direction > 0 else None
    return {"shape": "ramp", "ramp_start": cp.at, "ramp_baseline": cp.baseline,
            "slope_per_min": round(cp.slope_per_min, 5) if cp.slope_per_min is not None else None,
            "minutes_to_full": round(full, 1) if full is not None else None}


SHOWN = 30                 # groups in the table; the rest get one brief item each


@tool
def query_metric(ctx: ToolContext, name: str, service: str | None = None,
                 by: Literal["none", "instance", "zone", "service"] = "none",
                 agg: Literal["avg", "max", "sum", "min"] = "avg",
                 start: datetime | None = None, end: datetime | None = None) -> ToolResult:
    """One metric per group (by): baseline, value after the change, max and when, when it left its
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
    b_end = ctx.baseline_end()      # the split every before/after tool uses (ToolContext.split)
    rows = [metric_summary(g, pts, b_end, name) for g, pts in groups.items()]
    rows.sort(key=lambda r: (r.shift_at is None, r.shift_at or f.start))
    whole = [(t, v) for pts in groups.values() for t, v in pts]
    overall = metric_summary("all", sorted(whole), b_end, name) if len(groups) > 1 else rows[0]
    # A dozen evenly spaced points so the shape is visible without the whole series.
    pts = sorted(groups.values(), key=len)[-1] if len(groups) == 1 else None
    shape = ""
    if pts:
        step = max(1, len(pts) // 12)
        shape = "shape: " + ", ".join(f"{fmt_time(t)}={v:.3g}" for t, v in pts[::step])
    summary = _summary_line(name, service, overall, b_end) + f"; {ctx.split_note()}"
    ev = ctx.ledger.add(source="metrics", tool="query_metric", service=service, start=f.start, end=f.end,
                        filters={"name": name, "service": service, "by": by, "agg": agg},
                        attributes={"name": name, "shift": overall.shift}, summary=summary,
                        rows=[asdict(r) for r in rows])
    cols = ["group", "baseline", "after", "max", "max_at", "last", "shift", "shift_at", "change_pct"]
    if any(r.shape == "ramp" for r in rows):
        cols += ["ramp_start", "slope_per_min"] + (["minutes_to_full"] if name in FILLS_UP else [])
    text = (f"[{ev.id}] {summary}\n" + table(rows, cols, limit=SHOWN).replace("group", by if group else "series", 1)
            + (f"\n{shape}" if shape else ""))
    if len(rows) > SHOWN:       # the rest in brief: a model asked for every service needs every service's level
        text += f"\nthose {len(rows) - SHOWN}, baseline → last: " + "; ".join(
            f"{r.group} {_g(r.baseline)} → {_g(r.last)}"
            f"{' (' + r.shift + ')' if r.shift else ''}" for r in rows[SHOWN:])
    return ToolResult(text=text, evidence_ids=[ev.id], data=MetricResult(name, service, overall, rows))


def _g(v: float | None) -> str:
    return "?" if v is None else f"{v:.3g}"


def _summary_line(name: str, service: str | None, m: MetricSummary, base_end: datetime) -> str:
    head = f"{name} of {service or 'all'}: "
    peak = f"max {m.max:.3g} at {fmt_time(m.max_at)}"
    if m.baseline is None:
        return (head + f"no point before the baseline's end ({fmt_time(base_end)}), so nothing to compare with: "
                       f"ask from a start before it; {peak}")
    if m.shape == "ramp" and m.ramp_start:
        full = ("" if m.minutes_to_full is None else f", full (1.0) by {fmt_time(m.max_at)}" if m.minutes_to_full < 0.5
                else f", full (1.0) in ~{m.minutes_to_full:.0f} min from its peak")
        return (head + f"ramped from {fmt_time(m.ramp_start)} at {m.slope_per_min:+.3g}/min from {m.ramp_baseline:.3g}"
                f" before the ramp, {peak}{full}")
    return head + f"baseline {m.baseline:.3g}, {peak}" + (
        f", shifted {m.shift} at {fmt_time(m.shift_at)} ({m.change_pct}%)" if m.shift else ", no shift")


@tool
def zone_breakdown(ctx: ToolContext, service: str | None = None, split_at: datetime | None = None,
                   start: datetime | None = None, end: datetime | None = None) -> ToolResult:
    """Errors and traffic by zone before vs. after split_at, also by callee zone and instance: spread, or one
    zone cut off?"""
    s, e = time_range(ctx, start, end)
    split, why = ctx.split(split_at)
    source = "logs"   # the format gives zones to logs, metrics and registry, not to spans
    if (nd := no_data(ctx, source, "Zones cannot be compared without logs.")):
        return nd
    zones = _zone_rows(ctx, service, s, split, e)
    top = zones[0] if zones else None
    named = [z for z in zones if z.zone != "-"]
    err_total = sum(z.errors_after for z in zones)
    concentrated = bool(top and len(named) > 1 and err_total >= 10 and top.error_share >= 0.7
                        and top.traffic_share_before <= 0.6)
    dropped = _dropped(named, sum(z.calls_after for z in zones))
    peers = peer_breakdown(ctx, service, split, e)
    peer_total = sum(p.errors for p in peers)
    peer_top = (peers[0].zone if peers and peer_total >= MIN_ZONE_ERRORS and peers[0].error_share >= 0.9
                and len(peers[0].caller_zones) > 1 or (peers and len(named) <= 1 and peers[0].error_share >= 0.9
                                                       and peer_total >= MIN_ZONE_ERRORS) else None)
    verdict = _verdict(top, named, err_total, sum(z.calls_after for z in zones), concentrated)
    if dropped:
        verdict += f"; traffic collapsed in {', '.join(dropped)}"
    if peer_top:
        verdict += (f"; the errors that name a peer point at zone {peer_top} ({peers[0].error_share:.0%} of "
                    f"{peer_total}, reported from {len(peers[0].caller_zones) or 'unknown'} caller zones)")
    ev = ctx.ledger.add(source=source, tool="zone_breakdown", service=service, start=s, end=e,
                        filters={"service": service, "split_at": split.isoformat()},
                        attributes={"zone": top.zone if concentrated else None, "concentrated": concentrated,
                                    "dropped_zones": ",".join(dropped) or None, "peer_zone": peer_top},
                        summary=f"{service or 'all services'} by zone after {fmt_time(split)}: {verdict}",
                        rows=[asdict(z) for z in zones] + [{"peer": asdict(p)} for p in peers[:10]])
    text = f"[{ev.id}] {ev.summary} ({source}; split at {fmt_time(split)} ({why}))\nby the reporting service's zone:\n" + table(
        zones, ["zone", "calls_before", "errors_before", "calls_after", "errors_after", "error_share",
                "traffic_share_before", "traffic_share_after"])
    text += "\n" + _peer_table(peers, service)
    return ToolResult(text=text, evidence_ids=[ev.id],
                      data=ZoneBreakdown(zones, concentrated, top, dropped, peers, peer_top))


def _zone_rows(ctx: ToolContext, service: str | None, s: datetime, split: datetime, e: datetime) -> list[ZoneRow]:
    rows: dict[str, ZoneRow] = {}
    for side, (a, b) in (("before", (s, split)), ("after", (split, e))):
        for r in ctx.telemetry.count("logs", base_filter(ctx, a, b, service), by=("zone",)):
            z = rows.setdefault(r["zone"] or "-", ZoneRow(r["zone"] or "-"))
            setattr(z, f"calls_{side}", getattr(z, f"calls_{side}") + r["n"])
            setattr(z, f"errors_{side}", getattr(z, f"errors_{side}") + r["errors"])
    zones = sorted(rows.values(), key=lambda z: -z.errors_after)
    err_total = sum(z.errors_after for z in zones)
    calls_total = sum(z.calls_after for z in zones) or 1
    before_total = sum(z.calls_before for z in zones) or 1
    for z in zones:
        z.error_share = round(z.errors_after / err_total, 3) if err_total else 0.0
        z.traffic_share_after = round(z.calls_after / calls_total, 3)
        z.traffic_share_before = round(z.calls_before / before_total, 3)
    return zones


def _dropped(named: list[ZoneRow], calls_after: int) -> list[str]:
    """Zones whose traffic fell to under 40% of what their share before predicts, on enough lines to tell: at
    least MIN_DROP_LINES expected, and so few seen that chance would give as few once in a hundred (Poisson).
    A zone with ten lines dips by chance. With no traffic at all after the split (the telemetry may simply end
    there) no zone dropped relative to the others."""
    out = []
    for z in named:
        expected = z.traffic_share_before * calls_after
        if (z.traffic_share_before > 0.1 and expected >= MIN_DROP_LINES and z.calls_after < 0.4 * expected
                and _poisson_cdf(z.calls_after, expected) < DROP_P):
            out.append(z.zone)
    return out


def _poisson_cdf(k: int, lam: float) -> float:
    """P(X ≤ k) for X ~ Poisson(lam)."""
    term = total = math.exp(-lam)
    for i in range(1, k + 1):
        term *= lam / i
        total += term
    return total


def _verdict(top: ZoneRow | None, named: list[ZoneRow], err_total: int, calls_after: int, concentrated: bool) -> str:
    if concentrated:
        return (f"errors concentrated in {top.zone} ({top.error_share:.0%} of errors, "
                f"{top.traffic_share_before:.0%} of traffic before)")
    if not err_total:
        return "no errors after the split" if calls_after else \
            "no records at all after the split (missing data, not silence)"
    if top and top.error_share >= 0.999:
        why = ("the only zone with records" if len(named) <= 1 else
               f"{top.traffic_share_before:.0%} of traffic before" + ("" if err_total >= MIN_ZONE_ERRORS else
                                                                      f"; only {err_total} errors"))
        return f"all {err_total} errors in {top.zone} ({why})"
    return "errors spread across zones"


def _peer_table(peers: list[PeerZoneRow], service: str | None) -> str:
    to = f"calls to {service}" if service else "calls"
    if not peers:
        return (f"by the peer's (callee's) zone: no error record of {to} names a peer zone, address or instance "
                f"that the registry or the logs place in a zone")
    shown = [{**asdict(p), "callers": ", ".join(p.callers[:5]), "caller_zones": ", ".join(p.caller_zones[:6]),
              "instances": ", ".join(p.instances[:5])} for p in peers]
    return (f"by the peer's (callee's) zone, from error records of {to} naming a peer zone, registered address or "
            f"instance (addresses placed by the registry's subnets):\n"
            + table(shown, ["zone", "errors", "error_share", "caller_zones", "callers", "instances"], limit=10))
