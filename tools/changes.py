"""What changed, ranked across every service: any metric's change-points, and each service's own latency.

Real faults often raise no error at all (CPU contention, network delay, a slow code path). These tools look at
every service, not a shortlist, and compare each with its own baseline (robust: median/MAD, step vs ramp)."""
from __future__ import annotations

import statistics
from dataclasses import asdict
from datetime import datetime

from tools import coverage
from tools.analysis import ChangePoint, change_point
from tools.common import base_filter, no_data, nothing_found, table
from tools.results import LatencyChange, MetricChange, Status
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool

FRACTION_METRICS = {"cpu_utilization", "memory_utilization", "disk_utilization", "error_rate"}
FILLS_UP = ("disk_utilization", "memory_utilization")     # fractions whose climb ends in a full disk or an OOM
LATENCY_BUCKET_S = 30
MIN_SPANS = 5                # spans in a bucket for its percentile to mean anything
WIRE_OUTLIER_MS = 50.0       # time on the wire that no in-cluster call spends when the network is well
WIRE_OUTLIER_X = 10.0        # … and this many times the usual edge's
# A baseline at (or near) zero has no spread to measure a change against: its z is the change over the spread
# floor (TrainTicket: request_rate 0 → 0.1 at z ≈ 1e8, ranked above every real change). Such a series is
# clearly changed but unmeasured: its z is capped here (above the heuristic's RISE_Z 3, below strong measured
# changes) and the row says "from 0".
NEAR_ZERO = 0.01             # a baseline under this share of the new level is "from ~0"
Z_FROM_ZERO = 10.0


def change_floor(name: str) -> float:
    """The smallest change worth a look, in the metric's own unit."""
    return 0.05 if name in FRACTION_METRICS else 0.0


@tool
def metric_changes(ctx: ToolContext, name: str | None = None, service: str | None = None,
                   split_at: datetime | None = None, limit: int = 25) -> ToolResult:
    """Every service's metrics ranked by how far they left their baseline (step or ramp, when, how much,
    minutes until disk or memory fills): what jumped when no errors lead there.

    Args:
        name: only this metric
        limit: rows, at most 60
    """
    if (nd := no_data(ctx, "metrics")):
        return nd
    f = base_filter(ctx, None, None, service)
    base_end, why = ctx.split(split_at)
    names = [name] if name else sorted({r["name"] for r in ctx.telemetry.metric_names(f)})
    rows: list[MetricChange] = []
    for n in names:
        per: dict[tuple[str, str | None], list[tuple[datetime, float]]] = {}
        for r in ctx.telemetry.metric_series(f.but(name=n), by=("service", "peer_service"), step_s=60):
            per.setdefault((r["service"] or "-", r.get("peer_service")), []).append((r["bucket"], r["value"]))
        for (svc, peer), pts in per.items():
            cp = change_point(pts, base_end, floor_abs=change_floor(n))
            if cp.shape:
                rows.append(_metric_row(n, svc, cp, ctx.incident.window.end))
                rows[-1].peer_service = peer
    rows.sort(key=lambda r: (-abs(r.z), -abs(r.level - r.baseline)))   # ties (from 0): the bigger change
    shown = rows[:max(1, min(limit, 60))]
    scope = f"{name or 'any metric'} of {service or 'any service'}"
    if not rows:
        return nothing_found(ctx, source="metrics", tool="metric_changes", service=service, data=[],
                             filters={"name": name, "service": service, "split_at": base_end.isoformat()},
                             summary=f"no change-point in {scope} after {fmt_time(base_end)}",
                             text=f"no series of {scope} left its baseline after {fmt_time(base_end)} ({why})")
    ids = []
    for r in shown[:12]:
        ev = ctx.ledger.add(source="metrics", tool="metric_changes", service=r.service, start=r.at,
                            end=ctx.incident.window.end, filters={"name": r.name, "split_at": base_end.isoformat()},
                            attributes={"name": r.name, "shape": r.shape, "direction": r.direction,
                                        **({"peer_service": r.peer_service} if r.peer_service else {})},
                            summary=_metric_summary(r), rows=[asdict(r)])
        r.evidence = ev.id
        ids.append(ev.id)
    head = (f"{len(rows)} changed series of {scope} (baseline before the split at {fmt_time(base_end)} ({why}); ranked by robust "
            f"z = change / baseline spread)")
    cols = ["evidence", "service"] + (["peer_service"] if any(r.peer_service for r in shown) else [])
    if any(_from_zero(r) for r in shown):
        head += f"; z of a series from 0 (or ~0: under {NEAR_ZERO:.0%} of its new level) capped at {Z_FROM_ZERO:g}"
    shown = [{**asdict(r), "rel_pct": _from_zero(r) or r.rel_pct} for r in shown]
    return ToolResult(text=head + "\n" + table(shown, cols + ["name", "shape", "at", "baseline",
                                                       "level", "peak", "z", "rel_pct", "slope_per_min",
                                                       "minutes_to_full"], limit=60),
                      evidence_ids=ids, data=rows)


def _metric_row(name: str, service: str, cp: ChangePoint, now: datetime) -> MetricChange:
    full = cp.time_to(1.0, now) if name in FILLS_UP else None
    z = cp.z
    if abs(cp.baseline) < NEAR_ZERO * abs(cp.level) and abs(z) > Z_FROM_ZERO:
        z = Z_FROM_ZERO if z > 0 else -Z_FROM_ZERO
    return MetricChange(service, name, cp.shape, "up" if cp.direction > 0 else "down", cp.at, cp.baseline,
                        cp.level, cp.peak, round(z, 1), round(100 * cp.rel, 1) if cp.rel is not None else None,
                        cp.slope_per_min, round(full, 1) if full is not None else None)


def _from_zero(r: MetricChange) -> str | None:
    if abs(r.baseline) >= NEAR_ZERO * abs(r.level):
        return None
    return "from 0" if abs(r.baseline) < 1e-9 else "from ~0"


def _metric_summary(r: MetricChange) -> str:
    how = (f"ramped {r.direction} from {fmt_time(r.at)} ({r.slope_per_min:.3g}/min"
           + (f", full in {r.minutes_to_full:.0f} min" if r.minutes_to_full is not None else "") + ")"
           if r.shape == "ramp" else f"stepped {r.direction} at {fmt_time(r.at)}")
    return (f"{r.name} of {r.service}{'→' + r.peer_service if r.peer_service else ''} {how}: {r.baseline:.3g} → "
            f"{r.level:.3g}"
            + (f" ({_from_zero(r)})" if _from_zero(r) else f" ({r.rel_pct:+.0f}%)" if r.rel_pct is not None else ""))


@tool
def latency_by_service(ctx: ToolContext, service: str | None = None, split_at: datetime | None = None,
                       limit: int = 20) -> ToolResult:
    """Own latency per service (minus children's) and each edge's wait and wire time, ranked by rise from
    baseline: the deepest slowed service stands out; rising wire time means the network.

    Args:
        service: only this service (the caller, for wire time)
        limit: rows, at most 60
    """
    if (nd := no_data(ctx, "spans", "Without spans own latency cannot be told from callers' latency.")):
        return nd
    f = base_filter(ctx, None, None, service)
    base_end, why = ctx.split(split_at)
    rows: list[LatencyChange] = []
    series = _latency_series(ctx, f)
    rows: list[LatencyChange] = []
    no_baseline: dict[tuple[str, str | None], float] = {}
    for (view, svc, peer), pts in series.items():
        pts = _merge(pts)
        cp = change_point(pts, base_end, floor_abs=1.0, floor_rel=0.1)
        if cp.shape and cp.direction > 0:
            rows.append(LatencyChange(svc, peer, view, cp.shape, cp.at, round(cp.baseline, 2), round(cp.level, 2),
                                      round(cp.level / max(cp.baseline, 0.1), 1), round(cp.z, 1)))
        elif view == "wire" and cp.baseline_points < 3:
            no_baseline[(svc, peer)] = statistics.median(v for _, v in pts) if pts else 0.0
    rows += _wire_outliers(series, no_baseline)
    rows.sort(key=lambda r: -r.ratio)
    unknown = _status_unknown(ctx, f)
    scope = service or "any service"
    if not rows:
        return nothing_found(ctx, source="spans", tool="latency_by_service", service=service, data=[],
                             filters={"service": service, "split_at": base_end.isoformat()},
                             summary=f"no rise in the own latency of {scope} after {fmt_time(base_end)}",
                             text=f"no service's own (exclusive) p90 latency rose after the split at {fmt_time(base_end)} ({why})"
                                  + unknown)
    shown = rows[:max(1, min(limit, 60))]
    notes = []
    for r in shown[:12]:
        # A step dated in or beside minutes without spans may have come at any time in them.
        note = coverage.caveat(ctx, "spans", r.at)
        ev = ctx.ledger.add(source="spans", tool="latency_by_service", service=r.service, start=r.at,
                            end=ctx.incident.window.end, filters={"service": service, "split_at": base_end.isoformat()},
                            attributes={"view": r.view, "peer_service": r.peer_service, "shape": r.shape},
                            summary=f"{_what_rose(r)} {r.shape} at {fmt_time(r.at)}: {r.baseline_ms:.3g} → "
                                    f"{r.level_ms:.3g} ms ({r.ratio:.1f}×)" + (f"; {note}" if note else ""),
                            rows=[asdict(r)])
        r.evidence = ev.id
        notes += [f"{ev.id}: {note}"] if note else []
    head = (f"own (exclusive) p90 latency that rose (shape outlier: no baseline, compared with the other edges), {fmt_span(f.start, f.end)}, baseline before "
            f"the split at {fmt_time(base_end)} ({why}), {LATENCY_BUCKET_S}s buckets; view own = in the service itself, call = its "
            f"calls to peer_service as it waits for them, wire = those calls minus the peer's own time")
    return ToolResult(text=head + "\n" + table(shown, ["evidence", "service", "peer_service", "view", "shape", "at",
                                                       "baseline_ms", "level_ms", "ratio", "z"], limit=60)
                      + "".join("\n" + n for n in notes) + unknown,
                      evidence_ids=[r.evidence for r in shown[:12]], data=rows, status=Status.OK)


def _what_rose(r: LatencyChange) -> str:
    """The report shows this summary as the evidence's label: a call edge labelled "(wire)" had a reader
    blame the network for time spent waiting on the callee."""
    if r.view == "call":
        return f"{r.service}→{r.peer_service} call p90 (waiting on {r.peer_service})"
    if r.view == "wire":
        return f"{r.service}→{r.peer_service} wire p90 (call minus {r.peer_service}'s own time)"
    return f"{r.service} own p90 latency"


def _latency_series(ctx: ToolContext, f) -> dict[tuple[str, str, str | None], list[tuple[datetime, float]]]:
    """(view, service, peer) → p90 per bucket: own time of server spans, and per edge the client's wait (call)
    and its time on the wire (the client span minus the callee's server span)."""
    series: dict[tuple[str, str, str | None], list[tuple[datetime, float]]] = {}
    for r in ctx.telemetry.span_latency(f, by=("service", "peer_service", "kind"), bucket_s=LATENCY_BUCKET_S,
                                        limit=200_000):
        if r["n"] < MIN_SPANS or r["self_p90_ms"] is None:
            continue
        if r["kind"] != "client":
            series.setdefault(("own", r["service"], None), []).append((r["bucket"], r["self_p90_ms"]))
        elif r["peer_service"]:
            series.setdefault(("call", r["service"], r["peer_service"]), []).append((r["bucket"], r["p90_ms"]))
            series.setdefault(("wire", r["service"], r["peer_service"]), []).append((r["bucket"], r["self_p90_ms"]))
    return series


def _wire_outliers(series: dict, no_baseline: dict[tuple[str, str | None], float]) -> list[LatencyChange]:
    """Spans that begin after the change have no baseline of their own. Time on the wire is comparable across
    edges (in-cluster calls spend a few ms there), so an edge whose wire time is many times every other
    edge's stands out without one."""
    wire = sorted(statistics.median(v for _, v in pts) for (view, _, _), pts in series.items() if view == "wire" and pts)
    if len(wire) < 3:
        return []
    usual = statistics.median(wire[:len(wire) // 2])     # the faster half: the slow edges may be most of them
    out = []
    for (svc, peer), level in no_baseline.items():
        if level >= max(WIRE_OUTLIER_MS, WIRE_OUTLIER_X * usual):
            first = min(t for t, _ in series[("wire", svc, peer)])
            out.append(LatencyChange(svc, peer, "wire", "outlier", first, round(usual, 2), round(level, 2),
                                     round(level / max(usual, 0.1), 1), 0.0))
    return out


def _merge(pts: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """One value per bucket (spans without a kind and server spans both count as the service's own)."""
    per: dict[datetime, float] = {}
    for t, v in pts:
        per[t] = max(per.get(t, 0.0), v)
    return sorted(per.items())


def _status_unknown(ctx: ToolContext, f) -> str:
    """Missing is not healthy: spans without a status cannot say whether calls failed."""
    rows = ctx.telemetry.span_latency(f, by=(), limit=1)
    if rows and rows[0]["n"] and not rows[0]["with_status"]:
        return ("\nspan status not recorded: these spans cannot show failures; look for errors in logs "
                "(search_logs level=error) instead of reading 'no failing spans' as healthy")
    return ""

