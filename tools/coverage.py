"""Where a source has no records inside the window: before its first, after its last, and holes of minutes in a
source that otherwise records every minute (Nezha TrainTicket: spans and logs stop at 10:06 while the page is at
10:08, or stop for 2–3 minutes while metrics go on). Missing data is not "nothing happened": describe_incident
lists these, and the tools that read a step, a drop or an onset from a source say so beside one that touches
them (an LLM read "every edge 0 calls for 2 minutes" as traffic stopping)."""
from __future__ import annotations

from datetime import datetime, timedelta

from tools.analysis import alert_time, bucket_floor
from tools.backends.base import Filter, TelemetryError
from tools.domain.errors import QueryError
from tools.toolset import ToolContext, fmt_time

GAP = timedelta(minutes=2)       # empty minutes in a row that make a hole (one empty minute is jitter)
EDGE = timedelta(minutes=1)      # a source starting this far into the window, or ending this far before the page
BESIDE = timedelta(minutes=1)    # a verdict this close to a hole may be the hole's doing
REGULAR = 0.9                    # share of minutes (outside holes) with records: "records every minute"

Hole = tuple[datetime, datetime]


def holes(ctx: ToolContext, source: str) -> list[Hole]:
    """The stretches of the window with no `source` records (computed once per context): from the window start
    to its first record, from its last to the window end, and holes inside. Empty when the source is absent
    (no_data says that) or does not record every minute (a sparse source's quiet minutes are not holes)."""
    c, w = ctx.telemetry.coverage(source), ctx.incident.window
    if not c.present or c.first is None or c.last is None:
        return []
    out = [(w.start, c.first)] if c.first - w.start >= EDGE else []
    out += inner_holes(ctx, source)
    return out + ([(c.last, w.end)] if w.end - c.last >= EDGE else [])


def inner_holes(ctx: ToolContext, source: str) -> list[Hole]:
    """The holes between a source's first and last record (one per-minute count, once per context)."""
    key = f"holes:{source}"
    if key not in ctx._memo:
        c = ctx.telemetry.coverage(source)
        ctx._memo[key] = _inner(ctx, source, c.first, c.last) if c.present and c.first and c.last else []
    return ctx._memo[key]


def _inner(ctx: ToolContext, source: str, first: datetime, last: datetime) -> list[Hole]:
    try:
        rows = ctx.telemetry.count(source, Filter(start=first, end=last + timedelta(seconds=1)), bucket_s=60,
                                   limit=100_000)
    except (TelemetryError, QueryError, NotImplementedError):
        return []                  # a backend that cannot count per minute: no holes claimed
    seen = {bucket_floor(r["bucket"]) for r in rows if r.get("bucket") and r["n"]}
    t, end, minutes, runs, run = bucket_floor(first), bucket_floor(last), 0, [], []
    while t <= end:
        minutes += 1
        if t in seen:
            runs, run = (runs + [run]) if run else runs, []
        else:
            run.append(t)
        t += timedelta(minutes=1)
    gaps = [r for r in runs if len(r) * timedelta(minutes=1) >= GAP]
    in_gaps = sum(len(r) for r in gaps)
    stray = sum(len(r) for r in runs) - in_gaps
    if not gaps or minutes - in_gaps <= 0 or (minutes - in_gaps - stray) < REGULAR * (minutes - in_gaps) \
            or in_gaps > minutes / 2:
        return []
    return [(r[0], r[-1] + timedelta(minutes=1)) for r in gaps]


def fmt_hole(h: Hole) -> str:
    return f"{fmt_time(h[0])}–{fmt_time(h[1])}"


def near(ctx: ToolContext, source: str, t: datetime | None) -> Hole | None:
    """The hole of `source` that `t` falls in or right beside."""
    if t is None:
        return None
    return next((h for h in holes(ctx, source) if h[0] - BESIDE <= t <= h[1] + BESIDE), None)


def caveat(ctx: ToolContext, source: str, t: datetime | None, drop: bool = False) -> str:
    """A short note for a verdict dated `t`: '' when no hole is near it."""
    h = near(ctx, source, t)
    if h is None:
        return ""
    return f"{source} missing {fmt_hole(h)}" + (": not a drop in traffic" if drop else ": beside it")


def within(ctx: ToolContext, source: str, start: datetime, end: datetime) -> list[Hole]:
    return [h for h in holes(ctx, source) if h[0] < end and h[1] > start]


def covered(ctx: ToolContext, source: str, start: datetime, end: datetime) -> timedelta:
    """How much of [start, end) the source has records for: the range less its holes (a per-minute rate is
    per minute of data, not of window)."""
    return max(end - start - missing(within(ctx, source, start, end), start, end), timedelta(0))


def missing(hs: list[Hole], start: datetime, end: datetime) -> timedelta:
    """How much of [start, end) the holes take up."""
    return sum((max(timedelta(0), min(b, end) - max(a, start)) for a, b in hs), timedelta(0))


def range_note(ctx: ToolContext, source: str, start: datetime, end: datetime) -> str:
    """One line for a tool's head: the holes in its range ('' when none)."""
    hs = within(ctx, source, start, end)
    return (f"\n{source} missing {', '.join(fmt_hole(h) for h in hs[:6])}: no records there (missing, not quiet)"
            if hs else "")


def describe(ctx: ToolContext, source: str) -> str:
    """describe_incident's line for one source: where it ends before the page, starts late, has holes."""
    c, w, page = ctx.telemetry.coverage(source), ctx.incident.window, alert_time(ctx.incident)
    if not c.present or c.last is None:
        return ""
    parts = []
    if page - c.last >= EDGE:
        parts.append(f"end at {fmt_time(c.last)}, {_min(page - c.last)} before the page at {fmt_time(page)}")
    if c.first - w.start >= EDGE:
        parts.append(f"start at {fmt_time(c.first)}, {_min(c.first - w.start)} after the window start")
    if inner := inner_holes(ctx, source):
        parts.append("empty minutes " + ", ".join(fmt_hole(h) for h in inner[:8]))
    return f"WARNING: {source} " + "; ".join(parts) + ": missing, not quiet" if parts else ""


def _min(td: timedelta) -> str:
    return f"{td.total_seconds() / 60:.0f} min" if td >= timedelta(minutes=1) else f"{td.total_seconds():.0f} s"
