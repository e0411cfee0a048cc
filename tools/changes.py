"""What changed, ranked across every service: any metric's change-points (each service's own latency is in
tools/latency.py).

Real faults often raise no error at all (CPU contention, network delay, a slow code path). These tools look at
every service, not a shortlist, and compare each with its own baseline (robust: median/MAD, step vs ramp)."""
from __future__ import annotations

import re
import statistics
from dataclasses import asdict
from datetime import datetime, timedelta

from tools import nodes
from tools.analysis import MIN_BASELINE, ChangePoint, alert_time, change_point
from tools.common import base_filter, no_data, nothing_found, table
from tools.results import MetricChange, Status
from tools.toolset import ToolContext, ToolResult, fmt_time, tool

FRACTION_METRICS = {"cpu_utilization", "memory_utilization", "disk_utilization", "error_rate"}
FILLS_UP = ("disk_utilization", "memory_utilization")     # fractions whose climb ends in a full disk or an OOM
# A baseline at (or near) zero has no spread to measure a change against: its z is the change over the spread
# floor (TrainTicket: request_rate 0 → 0.1 at z ≈ 1e8, ranked above every real change). Such a series is
# clearly changed but unmeasured: its z is capped here (above the heuristic's RISE_Z 3, below strong measured
# changes) and the row says "from 0".
NEAR_ZERO = 0.01             # a baseline under this share of the new level is "from ~0"
Z_FROM_ZERO = 10.0
QUANTILE = re.compile(r"(?i)p(?:50|75|90|95|99|999)(?!\d)|quantile")


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
    rows, short, total = _changed_series(ctx, f, names, base_end)
    # A bucket move is no measured change: after every measured one. A change that began after the page cannot
    # have caused it: after every one before it. Ties (from 0): the bigger change.
    page = alert_time(ctx.incident)
    late = lambda r: r.at is not None and r.at > page      # noqa: E731
    rows.sort(key=lambda r: (r.bucketed, late(r), -abs(r.z), -abs(r.level - r.baseline)))
    shown = rows[:max(1, min(limit, 60))]
    scope = f"{name or 'any metric'} of {service or 'any service'}"
    too_short = (f"{short} of {total} series have under {MIN_BASELINE} points before the split at "
                 f"{fmt_time(base_end)}: too short a baseline to tell a change ({_longer_baseline(ctx)})")
    if not rows and short and short * 2 >= total:
        return ToolResult(text=f"NO VERDICT: {too_short}", data=[], status=Status.NO_DATA)
    if not rows:
        return nothing_found(ctx, source="metrics", tool="metric_changes", service=service, data=[],
                             filters={"name": name, "service": service, "split_at": base_end.isoformat()},
                             summary=f"no change-point in {scope} after {fmt_time(base_end)}",
                             text=f"no series of {scope} left its baseline after {fmt_time(base_end)} ({why})"
                                  + (f"; {too_short}" if short else ""))
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
            f"z = change / baseline spread)" + (f"; {too_short}" if short else ""))
    cols = ["evidence", "service"] + (["peer_service"] if any(r.peer_service for r in shown) else [])
    head += _legend(shown, late, page)
    for r in shown:
        r.node = nodes.shared_node(ctx, [r.service, *r.same_in]) if r.same_in else None
    shown = [{**asdict(r), "service": r.service + (f" +{len(r.same_in)} same" if r.same_in else "")
              + (f" (node {r.node})" if r.node else ""),
              "rel_pct": "bucket move" if r.bucketed else _from_zero(r) or r.rel_pct,
              "shape": r.shape + (" (after the page)" if late(r) else "")} for r in shown]
    return ToolResult(text=head + "\n" + table(shown, cols + ["name", "shape", "at", "baseline",
                                                       "level", "peak", "z", "rel_pct", "slope_per_min",
                                                       "minutes_to_full"], limit=60),
                      evidence_ids=ids, data=rows)


def _legend(shown: list[MetricChange], late, page: datetime) -> str:
    """What the marks in the shown rows mean, for the marks that occur."""
    out = ""
    if any(_from_zero(r) for r in shown):
        out += f"; z of a series from 0 (or ~0: under {NEAR_ZERO:.0%} of its new level) capped at {Z_FROM_ZERO:g}"
    if any(r.same_in for r in shown):
        out += "; '+N same' = the same series under N more services (one node's metric, per pod): one row"
    if any(r.bucketed for r in shown):
        out += (f"; 'bucket move' = a latency quantile flat at one histogram bucket before (few requests): z "
                f"capped at {Z_FROM_ZERO:g}, ranked after measured changes")
    if any(late(r) for r in shown):
        out += f"; 'after the page' = began after {fmt_time(page)}: ranked after the changes before it"
    return out


def _changed_series(ctx: ToolContext, f, names: list[str], base_end: datetime) -> tuple[list[MetricChange], int, int]:
    """The changed series of each metric, one row per distinct series, and how many series had too short a
    baseline of how many. Series identical in every minute under several services (a node's metric repeated for
    each pod on the node) are one row, naming the others in `same_in`."""
    rows: list[MetricChange] = []
    short = total = 0           # series whose baseline has too few points to judge: not "unchanged"
    for n in names:
        per: dict[tuple[str, str | None], list[tuple[datetime, float]]] = {}
        for r in ctx.telemetry.metric_series(f.but(name=n), by=("service", "peer_service"), step_s=60):
            per.setdefault((r["service"] or "-", r.get("peer_service")), []).append((r["bucket"], r["value"]))
        same: dict[tuple, MetricChange] = {}
        for (svc, peer), pts in per.items():
            key = tuple(pts) if peer is None and len(pts) >= MIN_BASELINE else None    # two edges are two rows
            if key in same:
                same[key].same_in.append(svc)
                continue
            cp = change_point(pts, base_end, floor_abs=change_floor(n))
            total, short = total + 1, short + (cp.baseline_points < MIN_BASELINE)
            if cp.shape:
                rows.append(_metric_row(n, svc, cp, ctx.incident.window.end, _bucketed(n, pts, base_end)))
                rows[-1].peer_service = peer
                if key:
                    same[key] = rows[-1]
    return rows, short, total


def _bucketed(name: str, pts: list[tuple[datetime, float]], base_end: datetime) -> bool:
    """A latency quantile (p90, P99(s)…) whose baseline sits at one exact value in most minutes (no spread: MAD
    0): a histogram's interpolation inside one bucket (few requests), so its change is a move to another bucket
    and its z only the change over the spread floor (TrainTicket: PodClientLatencyP99 0.00496 → 0.0488, z 177,
    topped every real change)."""
    base = sorted(v for t, v in pts if t < base_end)
    if len(base) < MIN_BASELINE or not QUANTILE.search(name):
        return False
    mid = statistics.median(base)
    return statistics.median(abs(v - mid) for v in base) <= 1e-9 * max(1.0, abs(mid))


def _metric_row(name: str, service: str, cp: ChangePoint, now: datetime, bucketed: bool = False) -> MetricChange:
    full = cp.time_to(1.0, now) if name in FILLS_UP else None
    z = cp.z
    if (bucketed or abs(cp.baseline) < NEAR_ZERO * abs(cp.level)) and abs(z) > Z_FROM_ZERO:
        z = Z_FROM_ZERO if z > 0 else -Z_FROM_ZERO
    return MetricChange(service, name, cp.shape, "up" if cp.direction > 0 else "down", cp.at, cp.baseline,
                        cp.level, cp.peak, round(z, 1), round(100 * cp.rel, 1) if cp.rel is not None else None,
                        cp.slope_per_min, round(full, 1) if full is not None else None, bucketed=bucketed)


def _from_zero(r: MetricChange) -> str | None:
    if abs(r.baseline) >= NEAR_ZERO * abs(r.level):
        return None
    return "from 0" if abs(r.baseline) < 1e-9 else "from ~0"


def _metric_summary(r: MetricChange) -> str:
    how = (f"ramped {r.direction} from {fmt_time(r.at)} ({r.slope_per_min:.3g}/min"
           + (f", full in {r.minutes_to_full:.0f} min" if r.minutes_to_full is not None else "") + ")"
           if r.shape == "ramp" else f"stepped {r.direction} at {fmt_time(r.at)}")
    same = f" (the same series under {', '.join(r.same_in[:8])})" if r.same_in else ""
    what = (" (a histogram bucket move: flat at one bucket before)" if r.bucketed else f" ({_from_zero(r)})"
            if _from_zero(r) else f" ({r.rel_pct:+.0f}%)" if r.rel_pct is not None else "")
    return (f"{r.name} of {r.service}{'→' + r.peer_service if r.peer_service else ''}{same} {how}: "
            f"{r.baseline:.3g} → {r.level:.3g}{what}")


def _longer_baseline(ctx: ToolContext) -> str:
    """Where a split leaves enough points before it: the metrics may begin well after the window does."""
    first = ctx.telemetry.coverage("metrics").first
    if first is None:
        return "try a later split_at"
    return (f"the metrics begin at {fmt_time(first)}: a split_at from {fmt_time(first + timedelta(minutes=MIN_BASELINE))}"
            f" on leaves {MIN_BASELINE} minutes before it, if the change came after that")
