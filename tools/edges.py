"""Calls and errors per minute on each caller → callee edge over time (issue 13 item 10).

service_map totals an edge over the window; whether our traffic to a dependency changed (we were rate limited
at our usual rate, or we sent it four times as much) and which caller drives a callee's new load (a retry
storm, a new batch job) needs the rate over time, per caller."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

from tools import coverage
from tools.analysis import alert_time, bucket_floor, change_point
from tools.common import base_filter, no_data, nothing_found, table
from tools.results import EdgeRate
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool

AT_PAGE = timedelta(minutes=15)      # "now": the rate over the quarter hour before the page
CALLS_FLOOR_REL = 0.25               # traffic wanders by this much without anything having changed
ERRORS_FLOOR = (0.05, 0.1)           # errors per minute under 5% of the edge's calls (or 0.1) are background
TOGETHER = 0.8                       # share of the edges whose calls change at once: the span stream changed
SERIES_SHOWN = 8                     # edges whose per-bucket series is printed


@tool
def edge_rates(ctx: ToolContext, callee: str | None = None, caller: str | None = None, bucket_minutes: int = 5,
               start: datetime | None = None, end: datetime | None = None) -> ToolResult:
    """Calls and errors per minute per caller -> callee edge over time: did our traffic to a dependency
    change, which caller drives a callee's new load?

    Args:
        callee: only calls to this service
        caller: only calls from this service
        bucket_minutes: minutes per point (1 to 60)
    """
    if (nd := no_data(ctx, "spans", "Use query_metric request_rate per service instead.")):
        return nd
    bucket = min(60, max(1, bucket_minutes))
    f = base_filter(ctx, start, end, caller, kinds=("client",), peer_service=callee)
    rows = ctx.telemetry.count("spans", f, by=("service", "peer_service"), bucket_s=bucket * 60, limit=50_000)
    edges = _series(rows, bucket, f.start, f.end)
    what = " ".join(x for x in ("edges", f"from {caller}" if caller else "", f"to {callee}" if callee else "") if x)
    if not edges:
        return nothing_found(ctx, source="spans", tool="edge_rates", service=caller, start=f.start, end=f.end,
                             summary=f"no client spans on {what} {fmt_span(f.start, f.end)}",
                             text=f"no client spans on {what} {fmt_span(f.start, f.end)}: no calls recorded there "
                                  f"(edges known only from parent/child spans have no rate here; see service_map)",
                             filters={"caller": caller, "callee": callee}, data=[])
    (base_end, why), page = ctx.split(), alert_time(ctx.incident)
    holes = [(max(a, f.start), min(b, f.end)) for a, b in coverage.within(ctx, "spans", f.start, f.end)]
    unknown = _unknown(holes, [t for t, *_ in next(iter(edges.values()))], f.start, timedelta(minutes=bucket))
    rates = sorted((_edge_rate(k, pts, [p for p in pts if p[0] not in unknown], base_end, page)
                    for k, pts in edges.items()), key=_rank)
    changed = [r for r in rates if r.calls_change or r.errors_rose_at]
    for r in changed:
        r.missing = _missing(ctx, r, f.start, base_end)
    together = _together(rates)
    for r in changed or rates[:1]:
        r.evidence = ctx.ledger.add(
            source="spans", tool="edge_rates", service=r.caller, start=f.start, end=f.end,
            filters={"caller": caller, "callee": callee, "bucket_minutes": bucket},
            attributes={"peer_service": r.callee, "calls_change": r.calls_change,
                        "calls_changed_at": r.calls_changed_at.isoformat() if r.calls_changed_at else None,
                        "errors_rose_at": r.errors_rose_at.isoformat() if r.errors_rose_at else None},
            summary=_summary(r), rows=[{k: v for k, v in asdict(r).items() if k != "series"}]).id
    steady = [r for r in rates if not r.evidence]
    if changed and steady:      # one id for the edges that stayed put: "token's other callers are fine" is cited too
        sid = ctx.ledger.add(
            source="spans", tool="edge_rates", service=caller, start=f.start, end=f.end,
            filters={"caller": caller, "callee": callee, "bucket_minutes": bucket}, attributes={"calls_change": None},
            summary=f"{len(steady)} edges' call and error rates stayed at their baseline: "
                    + ", ".join(f"{r.caller}→{r.callee}" for r in steady[:12]) + (" …" if len(steady) > 12 else ""),
            rows=[{"caller": r.caller, "callee": r.callee, "calls_before": r.calls_before,
                   "calls_at_page": r.calls_at_page, "errors_at_page": r.errors_at_page} for r in steady]).id
        for r in steady:
            r.evidence = sid
    head = (f"calls and errors per minute on {len(rates)} {what}, {bucket}-minute points, "
            f"{fmt_span(f.start, f.end)} (client spans); baseline before the split at {fmt_time(base_end)} ({why}), "
            f"'at page' = the mean per minute {fmt_span(max(page - AT_PAGE, f.start), page)}"
            + (" (of its minutes with spans; the rates are too)" if holes else ""))
    head += ("" if changed else _unchanged(rates)) + coverage.range_note(ctx, "spans", f.start, f.end) + together
    return ToolResult(text=head + "\n" + _render(rates, bucket, unknown, bool(holes)), data=rates,
                      evidence_ids=list(dict.fromkeys(r.evidence for r in rates if r.evidence)))


def _unchanged(rates: list[EdgeRate]) -> str:
    """No edge changed: said so, unless no minute before the page has spans (then nothing could be seen to)."""
    if any(r.calls_at_page is not None for r in rates):
        return f"; [{rates[0].evidence}] no edge's call or error rate left its baseline"
    return f"; [{rates[0].evidence}] no spans in the minutes before the page: the rates there are unknown, not unchanged"


def _together(rates: list[EdgeRate]) -> str:
    """One line when most edges' calls changed the same way in the same bucket (TOGETHER of them, at least
    three): the span stream as a whole changed (spans missing, or all load), which per-edge rows would repeat
    once an edge. Marks those rows `together`."""
    groups: dict[tuple, list[EdgeRate]] = {}
    for r in rates:
        if r.calls_change:
            groups.setdefault((r.calls_change, r.calls_changed_at), []).append(r)
    if not groups:
        return ""
    (way, at), same = max(groups.items(), key=lambda kv: len(kv[1]))
    if len(same) < 3 or len(same) < TOGETHER * len(rates):
        return ""
    for r in same:
        r.together = True
    why = {r.missing for r in same}
    return (f"\n{len(same)} of {len(rates)} edges' calls went {way} together at {fmt_time(at)}"
            + (f" ({why.pop()})" if len(why) == 1 and None not in why else "")
            + ": the span stream as a whole changed there (spans missing, or all load), not each edge; "
              "their rows say 'together'")


def _series(rows: list[dict], bucket: int, start: datetime, end: datetime) -> dict[tuple, list[tuple]]:
    """Per edge, every bucket of the range (none missing: no calls is a zero) as (time, calls/min, errors/min)."""
    step = timedelta(minutes=bucket)
    times, t = [], bucket_floor(start, bucket * 60)
    while t < end:
        times.append(t)
        t += step
    got: dict[tuple, dict[datetime, tuple[int, int]]] = {}
    for r in rows:
        got.setdefault((r["service"], r["peer_service"]), {})[r["bucket"]] = (r["n"], r["errors"])
    return {k: [(t, by_t.get(t, (0, 0))[0] / bucket, by_t.get(t, (0, 0))[1] / bucket) for t in times]
            for k, by_t in got.items()}


def _unknown(holes: list, times: list[datetime], start: datetime, step: timedelta) -> set[datetime]:
    """The points (every edge has the same times) whose minutes within the range are mostly without spans:
    unknown, not a drop (a capture that ends 4 s into a minute leaves that minute's count near zero)."""
    return {t for t in times if coverage.missing(holes, max(t, start), t + step) >= step / 2}


def _edge_rate(key: tuple, pts: list[tuple], known: list[tuple], base_end: datetime, page: datetime) -> EdgeRate:
    """One edge's rates from its `known` points (those with spans); `pts`, every point, is its shown series."""
    calls = change_point([(t, c) for t, c, _ in known], base_end, floor_rel=CALLS_FLOOR_REL)
    errors = change_point([(t, e) for t, _, e in known], base_end,
                          floor_abs=max(ERRORS_FLOOR[0] * calls.baseline, ERRORS_FLOOR[1]))
    now = [(c, e) for t, c, e in known if page - AT_PAGE <= t < page]
    return EdgeRate(
        caller=key[0], callee=key[1], calls_before=round(calls.baseline, 2),
        calls_at_page=round(sum(c for c, _ in now) / len(now), 2) if now else None,
        calls_change=({1: "up", -1: "down"}[calls.direction] if calls.shape else None),
        calls_changed_at=calls.at, calls_shape=calls.shape, errors_before=round(errors.baseline, 2),
        errors_at_page=round(sum(e for _, e in now) / len(now), 2) if now else None,
        errors_rose_at=errors.at if errors.shape and errors.direction > 0 else None, series=pts)


def _rank(r: EdgeRate) -> tuple:
    """Changed edges first, the biggest change in calls (either way) before the rest."""
    ratio = (r.calls_at_page or 0) / r.calls_before if r.calls_before else (r.calls_at_page or 0)
    return (not (r.calls_change or r.errors_rose_at), -max(ratio, 1 / ratio if ratio else 0), -(r.errors_at_page or 0))


def _missing(ctx: ToolContext, r: EdgeRate, start: datetime, base_end: datetime) -> str | None:
    """A change dated in or beside minutes without spans may be the missing spans themselves; so may one
    measured against a baseline that is mostly missing (its 0 calls/min before is no calls recorded)."""
    for t, drop in ((r.calls_changed_at, r.calls_change == "down"), (r.errors_rose_at, False)):
        if (note := coverage.caveat(ctx, "spans", t, drop)):
            return note
    gone = sum(((min(b, base_end) - max(a, start)) for a, b in coverage.within(ctx, "spans", start, base_end)),
               timedelta(0))
    return f"spans missing for {gone.total_seconds() / 60:.0f} min of the baseline" if gone >= (base_end - start) / 2 \
        else None


def _summary(r: EdgeRate) -> str:
    parts = [f"{r.caller}→{r.callee}: {r.calls_before:g} calls/min before, {r.calls_at_page:g} at the page"
             if r.calls_at_page is not None else f"{r.caller}→{r.callee}: {r.calls_before:g} calls/min before"]
    if r.calls_change:
        parts.append(f"calls went {r.calls_change} ({r.calls_shape}) at {fmt_time(r.calls_changed_at)}")
    if r.errors_rose_at:
        parts.append(f"errors rose at {fmt_time(r.errors_rose_at)} to {r.errors_at_page or 0:g}/min")
    return "; ".join(parts + ([r.missing] if r.missing else []))


def _render(rates: list[EdgeRate], bucket: int, unknown: set[datetime], holes: bool) -> str:
    rows = [{"evidence": r.evidence, "edge": f"{r.caller}→{r.callee}", "calls/min before": r.calls_before,
             "at page": r.calls_at_page,
             "calls changed": " ".join(x for x in (f"{r.calls_change} {fmt_time(r.calls_changed_at)}" if
                                                    r.calls_change else "", "together" if r.together else
                                                    "(spans missing)" if r.missing else "")
                                       if x) or None,
             "errors/min before": r.errors_before, "errors at page": r.errors_at_page,
             "errors rose": fmt_time(r.errors_rose_at) if r.errors_rose_at else None} for r in rates]
    out = table(rows, list(rows[0]))
    shown = [r for r in rates if r.calls_change or r.errors_rose_at][:SERIES_SHOWN] or rates[:2]
    out += (f"\nseries (calls/min every {bucket} min from {fmt_time(rates[0].series[0][0])}; [errors/min] where any"
            + ("; ? no spans" if holes else "") + "):")
    for r in shown:
        points = " ".join("?" if t in unknown else
                          f"{c:.3g}" + (f"[{e:.3g}]" if e else "") for t, c, e in r.series)
        out += f"\n{r.caller}→{r.callee}: {points}"
    return out
