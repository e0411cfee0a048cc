"""Each service's own latency and each call edge's wait and wire time, ranked by their rise from baseline.

Spans give three views of one call: the caller's client span (`call`: what it waited), that span minus its
children, i.e. minus the callee's server span (`wire`: the network and the callee's queue before its span
starts), and the callee's own time (its spans minus their children). Per span, call = wire + the callee's whole
server span, and that span holds the callee's own time *and* its own calls and internal spans; the callee's own
row is over every caller's spans, and p90s do not add. So a call row is not wire + own, and the output says why
(an LLM in the model's seat took the gap for a bug).

Each figure is a p90 per 30 s bucket; a step rests on as many spans as its buckets hold, so every row says how
many stood behind its before and after figures, whether the median moved with the p90 (only the tail moved: a
few slow calls, not a slower service) and whether the mix of operations behind it changed (a slower figure from
more calls to a slow endpoint is not a slower endpoint)."""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict
from datetime import datetime

from tools import coverage, slow_traces
from tools.analysis import ChangePoint, change_point
from tools.common import base_filter, no_data, nothing_found, table
from tools.results import LatencyChange, Status
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool

LATENCY_BUCKET_S = 30
MIN_SPANS = 5                # spans in a bucket for its percentile to mean anything
WIRE_OUTLIER_MS = 50.0       # time on the wire that no in-cluster call spends when the network is well
WIRE_OUTLIER_X = 10.0        # … and this many times the usual edge's
TAIL_P50_X = 1.2             # a median that rose less than this (or under 1 ms) while the p90 rose …
TAIL_P90_X = 1.5             # … this many times: only the tail moved
MIX_SHIFT = 0.3              # share of spans whose operation would have to change to turn one mix into the other
MIX_MIN_SPANS = 20           # spans on each side before their mix is compared
Point = tuple[datetime, float, float, int]       # bucket, p90, p50, spans
Key = tuple[str, str, str | None]                # view, service, peer


@tool
def latency_by_service(ctx: ToolContext, service: str | None = None, split_at: datetime | None = None,
                       limit: int = 20) -> ToolResult:
    """Own latency per service (minus children's) and each edge's wait and wire time, ranked by rise from
    baseline: the deepest slowed service stands out; rising wire time means the network.

    Args:
        service: only this service (the caller, for wire time; adds its slowest traces' spans)
        limit: rows, at most 60
    """
    if (nd := no_data(ctx, "spans", "Without spans own latency cannot be told from callers' latency.")):
        return nd
    f = base_filter(ctx, None, None, service)
    base_end, why = ctx.split(split_at)
    series = _latency_series(ctx, f)
    rows: list[LatencyChange] = []
    no_baseline: dict[tuple[str, str | None], float] = {}
    for key, pts in series.items():
        cp = change_point([(t, v) for t, v, _, _ in pts], base_end, floor_abs=1.0, floor_rel=0.1)
        if cp.shape and cp.direction > 0:
            rows.append(_row(key, cp, pts, base_end))
        elif key[0] == "wire" and cp.baseline_points < 3:
            no_baseline[key[1:]] = statistics.median(v for _, v, _, _ in pts) if pts else 0.0
    rows += _wire_outliers(series, no_baseline)
    rows.sort(key=lambda r: (r.shape == "outlier", -r.ratio))    # steps first: an outlier has no baseline of its own
    unknown = _status_unknown(ctx, f)
    scope = service or "any service"
    if not rows:
        return nothing_found(ctx, source="spans", tool="latency_by_service", service=service, data=[],
                             filters={"service": service, "split_at": base_end.isoformat()},
                             summary=f"no rise in the own latency of {scope} after {fmt_time(base_end)}",
                             text=f"no service's own (exclusive) p90 latency rose after the split at {fmt_time(base_end)} ({why})"
                                  + unknown + (slow_traces.render(ctx, service, base_end, f.end) if service else ""))
    shown = rows[:max(1, min(limit, 60))]
    _mix_notes(ctx, f, shown[:12], base_end)
    notes = []
    for r in shown[:12]:
        # A step dated in or beside minutes without spans may have come at any time in them.
        gap = coverage.caveat(ctx, "spans", r.at)
        ev = ctx.ledger.add(source="spans", tool="latency_by_service", service=r.service, start=r.at,
                            end=ctx.incident.window.end, filters={"service": service, "split_at": base_end.isoformat()},
                            attributes={"view": r.view, "peer_service": r.peer_service, "shape": r.shape},
                            summary=_summary(r) + (f"; {gap}" if gap else ""), rows=[asdict(r)])
        r.evidence = ev.id
        notes += [f"{ev.id}: {gap}"] if gap else []
    unknown += slow_traces.render(ctx, service, base_end, f.end) if service else ""
    head = (f"p90 latency that rose, {fmt_span(f.start, f.end)}, baseline before the split at {fmt_time(base_end)} "
            f"({why}). Per {LATENCY_BUCKET_S}s bucket of ≥{MIN_SPANS} spans: baseline_ms/level_ms = median p90 before/"
            f"from `at`, spans = the spans behind them, p50_ms = the median's (tail only: the p90 rose, the median "
            f"did not). own = the service's own (exclusive) time; call = its calls to peer_service, as it waits; wire "
            f"= call minus peer_service's server span (network, queue); call = wire + that whole span (its own calls "
            f"too), not wire + the peer's own row (every caller's spans; p90s do not add). outlier: no baseline, vs "
            f"other edges")
    cols = ["evidence", "service", "peer_service", "view", "shape", "at", "baseline_ms", "level_ms", "ratio", "z",
            "spans", "p50_ms"]
    cells = [{**asdict(r), "spans": f"{r.spans_before}→{r.spans_after}",
              "p50_ms": f"{r.p50_before_ms:.3g}→{r.p50_after_ms:.3g}" if r.p50_before_ms is not None else None}
             for r in shown]
    return ToolResult(text=head + "\n" + table(cells, cols + (["note"] if any(r.note for r in shown) else []), limit=60)
                      + "".join("\n" + n for n in notes) + unknown,
                      evidence_ids=[r.evidence for r in shown[:12]], data=rows, status=Status.OK)


def _row(key: Key, cp: ChangePoint, pts: list[Point], base_end: datetime) -> LatencyChange:
    """A risen series as a row: its figures, the spans behind them, and whether only its tail moved."""
    view, svc, peer = key
    before = [p for p in pts if p[0] < min(base_end, cp.at)]       # a ramp's baseline stops where it starts
    after = [p for p in pts if p[0] >= cp.at]
    p50_before = statistics.median(p for _, _, p, _ in before) if before else None
    p50_after = statistics.median(p for _, _, p, _ in after) if after else None
    row = LatencyChange(svc, peer, view, cp.shape, cp.at, round(cp.baseline, 2), round(cp.level, 2),
                        round(cp.level / max(cp.baseline, 0.1), 1), round(cp.z, 1),
                        spans_before=sum(n for *_, n in before), spans_after=sum(n for *_, n in after),
                        p50_before_ms=_r(p50_before), p50_after_ms=_r(p50_after))
    if (p50_before is not None and p50_after is not None and row.ratio >= TAIL_P90_X
            and p50_after <= max(TAIL_P50_X * p50_before, p50_before + 1.0)):
        row.note = "tail only"
    return row


def _r(v: float | None) -> float | None:
    return round(v, 2) if v is not None else None


def _summary(r: LatencyChange) -> str:
    """The report shows this as the evidence's label: which percentile, on how many spans, what else moved."""
    spans = (f"{r.spans_before} spans before, {r.spans_after} after" if r.shape != "outlier" else
             f"{r.spans_after} spans, usual edge {r.baseline_ms:.3g} ms")
    p50 = f", p50 {r.p50_before_ms:.3g} → {r.p50_after_ms:.3g} ms" if r.p50_before_ms is not None else ""
    return (f"{_what_rose(r)} {r.shape} at {fmt_time(r.at)}: {r.baseline_ms:.3g} → {r.level_ms:.3g} ms "
            f"({r.ratio:.1f}×; {spans}{p50})" + (f"; {r.note.replace('tail only', 'only the tail moved')}" if r.note else ""))


def _what_rose(r: LatencyChange) -> str:
    """A call edge labelled "(wire)" had a reader blame the network for time spent waiting on the callee."""
    if r.view == "call":
        return f"{r.service}→{r.peer_service} call p90 (waiting on {r.peer_service})"
    if r.view == "wire":
        return f"{r.service}→{r.peer_service} wire p90 (call minus {r.peer_service}'s server span)"
    return f"{r.service} own p90 latency"


def _latency_series(ctx: ToolContext, f) -> dict[Key, list[Point]]:
    """(view, service, peer) → (bucket, p90, p50, spans) per bucket: own time of server (and internal) spans,
    and per edge the client's wait (call) and its time on the wire (the client span minus its children)."""
    series: dict[Key, dict[datetime, Point]] = {}

    def add(key: Key, p: Point) -> None:
        # One point per bucket: server and internal spans both count as the service's own; the slower one shows.
        have = series.setdefault(key, {})
        if p[0] not in have or p[1] > have[p[0]][1]:
            have[p[0]] = p
    for r in ctx.telemetry.span_latency(f, by=("service", "peer_service", "kind"), bucket_s=LATENCY_BUCKET_S,
                                        limit=200_000):
        if r["n"] < MIN_SPANS or r["self_p90_ms"] is None:
            continue
        t = r["bucket"]
        if r["kind"] != "client":
            add(("own", r["service"], None), (t, r["self_p90_ms"], r["self_p50_ms"], r["n"]))
        elif r["peer_service"]:
            add(("call", r["service"], r["peer_service"]), (t, r["p90_ms"], r["p50_ms"], r["n"]))
            add(("wire", r["service"], r["peer_service"]), (t, r["self_p90_ms"], r["self_p50_ms"], r["n"]))
    return {k: sorted(v.values()) for k, v in series.items()}


def _mix_notes(ctx: ToolContext, f, rows: list[LatencyChange], base_end: datetime) -> None:
    """Say where the operations behind a row's spans were a different mix after its change than before it
    (more calls to a slow endpoint raise a p90 with no endpoint slower). One count over the range."""
    rows = [r for r in rows if r.shape != "outlier" and r.spans_before >= MIX_MIN_SPANS
            and r.spans_after >= MIX_MIN_SPANS]
    if not rows:
        return
    counts = ctx.telemetry.count("spans", f.but(services=tuple(sorted({r.service for r in rows}))),
                                 by=("service", "peer_service", "kind", "operation"), bucket_s=LATENCY_BUCKET_S,
                                 limit=200_000)
    for r in rows:
        sides: tuple[Counter, Counter] = (Counter(), Counter())
        cut = min(base_end, r.at)
        for c in counts:
            mine = c["kind"] != "client" if r.view == "own" else (c["kind"] == "client"
                                                                  and c["peer_service"] == r.peer_service)
            if c["service"] == r.service and mine and not cut <= c["bucket"] < r.at:
                sides[c["bucket"] >= r.at][c["operation"] or "-"] += c["n"]
        before, after = sides
        nb, na = sum(before.values()), sum(after.values())
        if nb < MIX_MIN_SPANS or na < MIX_MIN_SPANS:
            continue
        share = {op: (before[op] / nb, after[op] / na) for op in before.keys() | after.keys()}
        if sum(abs(a - b) for b, a in share.values()) / 2 >= MIX_SHIFT:
            op, (b, a) = max(share.items(), key=lambda kv: (kv[1][1] - kv[1][0], kv[0]))   # the one that grew
            mix = f"operation mix changed: {op} {b:.0%} → {a:.0%} of spans"
            r.note = f"{r.note}; {mix}" if r.note else mix


def _wire_outliers(series: dict[Key, list[Point]], no_baseline: dict[tuple[str, str | None], float]) -> list[LatencyChange]:
    """Spans that begin after the change have no baseline of their own. Time on the wire is comparable across
    edges (in-cluster calls spend a few ms there), so an edge whose wire time is many times every other
    edge's stands out without one."""
    wire = sorted(statistics.median(v for _, v, _, _ in pts) for (view, _, _), pts in series.items()
                  if view == "wire" and pts)
    if len(wire) < 3:
        return []
    usual = statistics.median(wire[:len(wire) // 2])     # the faster half: the slow edges may be most of them
    out = []
    for (svc, peer), level in no_baseline.items():
        if level >= max(WIRE_OUTLIER_MS, WIRE_OUTLIER_X * usual):
            pts = series[("wire", svc, peer)]
            out.append(LatencyChange(svc, peer, "wire", "outlier", pts[0][0], round(usual, 2), round(level, 2),
                                     round(level / max(usual, 0.1), 1), 0.0, spans_after=sum(n for *_, n in pts)))
    return out


def _status_unknown(ctx: ToolContext, f) -> str:
    """Missing is not healthy: spans without a status cannot say whether calls failed."""
    rows = ctx.telemetry.span_latency(f, by=(), limit=1)
    if rows and rows[0]["n"] and not rows[0]["with_status"]:
        return ("\nspan status not recorded: these spans cannot show failures; look for errors in logs "
                "(search_logs level=error) instead of reading 'no failing spans' as healthy")
    return ""
