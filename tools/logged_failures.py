"""Failures read from the logs of the same trace, for spans that carry no status (issue 12 item 4).

An error line with a trace id marks its service's span in that trace as failed. Whether the failure crossed the
call is what tells a fault from background noise: a service that catches and logs its own error answers its
caller normally, while one that fails the call (an exception, a wrong value the caller cannot use) makes the
caller log a warning or an error of its own after it, in the same trace. Only levels, trace ids, span links and
times are read: no log text changes what is counted."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import datetime, timedelta

from tools.backends.base import Filter
from tools.results import LoggedFailure
from tools.toolset import ToolContext, fmt_time

ERRORS_SAMPLE = 2000      # error lines read (spread over the range)
TRACES = 400              # traces followed
ROWS = 100_000           # spans and log lines read for them (a booking trace holds ~100 spans)


def logged_failures(ctx: ToolContext, f: Filter) -> list[LoggedFailure]:
    errors = [r for r in ctx.telemetry.sample("logs", Filter(f.start, f.end, f.services, levels=("error", "fatal")),
                                              limit=ERRORS_SAMPLE, order="spread") if r.get("trace_id")]
    tids = tuple(sorted({r["trace_id"] for r in errors}))[:TRACES]
    if not tids:
        return []
    wide = Filter(f.start - timedelta(minutes=1), f.end + timedelta(minutes=1), trace_ids=tids)
    spans = _by_trace(ctx.telemetry.sample("spans", wide, limit=ROWS))
    logs = _by_trace(ctx.telemetry.sample("logs", wide.but(levels=("warn", "error", "fatal")), limit=ROWS))
    split = ctx.baseline_end()
    seen: dict[str, dict] = defaultdict(lambda: {"traces": set(), "reached": set(), "before": set(),
                                                 "first": None, "callers": set()})
    for r in errors:
        if r["trace_id"] not in tids:
            continue
        s = seen[r["service"]]
        s["traces"].add(r["trace_id"])
        callers = _callers(spans.get(r["trace_id"], []), r["service"], r["time"])
        after = {x["service"] for x in logs.get(r["trace_id"], []) if x["service"] in callers and x["time"] >= r["time"]}
        if after:
            s["reached"].add(r["trace_id"])
            s["callers"] |= after
            if r["time"] < split:
                s["before"].add(r["trace_id"])
            elif s["first"] is None or r["time"] < s["first"]:
                s["first"] = r["time"]
    return sorted((LoggedFailure(svc, len(s["traces"]), len(s["reached"]), len(s["before"]), s["first"],
                                 ", ".join(sorted(s["callers"])))
                   for svc, s in seen.items()), key=lambda x: (-(x.reached_callers - x.reached_before), -x.traces))


def _by_trace(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r["trace_id"]].append(r)
    return out


def _callers(spans: list[dict], service: str, at: datetime) -> set[str]:
    """The other services above the span of `service` that was open when it logged (the innermost one)."""
    by_id = {s["span_id"]: s for s in spans}
    open_ = [s for s in spans if s["service"] == service
             and s["time"] <= at <= s["time"] + timedelta(milliseconds=s.get("duration_ms") or 0)]
    if not open_:
        return set()
    span, out, seen = max(open_, key=lambda s: s["time"]), set(), set()
    # A parent link that loops back (hostile or broken telemetry) ends the walk instead of hanging it.
    while (span := by_id.get(span.get("parent_span_id"))) is not None and span["span_id"] not in seen:
        seen.add(span["span_id"])
        if span["service"] != service:
            out.add(span["service"])
    return out


def record(ctx: ToolContext, f: Filter, rows: list[LoggedFailure]) -> str:
    """Evidence for each service whose errors reached a caller, and the lines for the tool's text."""
    lines = []
    for r in [r for r in rows if r.reached_callers][:8]:
        r.evidence = ctx.ledger.add(
            source="logs", tool="trace_errors", service=r.service, start=f.start, end=f.end,
            filters={"levels": "error", "same_trace": "caller warn/error after"},
            attributes={"view": "failures from logs", "callers": r.callers},
            summary=f"{r.service} logged errors in {r.traces} traces; in {r.reached_callers} ({r.reached_before} "
                    f"before {fmt_time(ctx.baseline_end())}) a caller ({r.callers}) logged after it",
            rows=[asdict(r)]).id
        lines.append(f"[{r.evidence}] {r.service}: errors in {r.traces} traces, reached a caller in "
                     f"{r.reached_callers} ({r.reached_before} before the {ctx.split_note()}; {r.callers})")
    return "\n".join(lines)
