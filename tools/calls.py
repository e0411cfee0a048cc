"""Which calls a handler stopped (or started) making per request, from parent/child spans, and which log
statements its span stopped (or started) writing, where log lines carry their span id.

An exception caught inside a handler, or an early return, leaves no error line and no failed span: what
changes is that the handler no longer reaches the calls after it (Nezha's OnlineBoutique exception at adservice:
getAds → getRandomAds went from one request in five to none). Counted per request of the same handler, a change
in the traffic mix does not move it; a call well under half as often as before, beyond chance, is "stopped"."""
from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime

from tools import coverage
from tools.analysis import poisson_z, proportion_z
from tools.common import base_filter, clip, no_data, nothing_found, table
from tools.results import CallChange
from tools.toolset import ToolContext, ToolResult, fmt_span, tool

MIN_REQUESTS = 10        # requests of the handler on each side: fewer cannot show a rate per request
MIN_EXPECTED = 8         # calls the old rate predicts after the split: fewer cannot show a stop
Z_CHANGED = 4.0          # Poisson σ past half (stopped) or double (started) the old rate per request
SHOWN = 12
ID_FIELD = re.compile(r"\b(?:trace|span)_?id\b[:=]?\s*\S+", re.I)   # a line's ids say nothing of its statement


@tool
def call_changes(ctx: ToolContext, service: str | None = None, split_at: datetime | None = None) -> ToolResult:
    """Calls a handler stopped or started making per request (parent/child spans, and log lines its span
    wrote; before vs after the split): a stop means the handler now fails or returns before it."""
    if (nd := no_data(ctx, "spans", "Use log_patterns (lines that stop) instead.")):
        return nd
    split = ctx.split(split_at)[0]
    f = base_filter(ctx, None, None, service)
    raw = ctx.telemetry.span_calls(f, split)
    rows = [c for r in raw if (c := _change(r))]
    rows.sort(key=lambda c: (c.change != "stopped", c.error_path, -c.z))
    scope = f"{fmt_span(f.start, f.end)}, {ctx.split_note(split_at)}"
    if not rows:
        return nothing_found(ctx, source="spans", tool="call_changes", service=service, start=f.start, end=f.end,
                             filters={"service": service}, data=[],
                             summary=f"no handler{' of ' + service if service else ''} stopped or started a call "
                                     f"per request",
                             text=f"no handler stopped or started a call per request, {scope} (handlers with at "
                                  f"least {MIN_REQUESTS} requests on each side)"
                                  + coverage.range_note(ctx, "spans", f.start, f.end))
    for c in rows[:SHOWN]:
        c.evidence = ctx.ledger.add(
            source="spans", tool="call_changes", service=c.service, start=split, end=f.end,
            filters={"service": service}, attributes={"operation": c.operation, "call": c.call, "change": c.change},
            summary=f"{c.service} {c.operation or ''} {c.change} {c.verb} {c.call}: {c.per_request_before:.2g} → "
                    f"{c.per_request_after:.2g} per request ({c.requests_before} → {c.requests_after} requests)",
            rows=[asdict(c)]).id
    head = (f"calls per request that changed, {scope}; stopped = well under half as often as before, "
            f"started = over twice (beyond chance); a stop means the handler fails or returns before the call, "
            f"except on an error path (error handler: its stop is recovery, its start new failures)"
            + coverage.range_note(ctx, "spans", f.start, f.end))
    if any(c.step == "log" for c in rows[:SHOWN]):
        head += ("\na call named Class#line is a log statement the handler's span wrote (logs carry the span id): "
                 "per request = the share of requests that wrote it, stopped = under half that share, beyond chance")
        if (one_in := max(r.get("one_in") or 1 for r in raw)) > 1:
            head += f"; log statements counted over one trace in {one_in} (their requests too)"
    shown = [{**asdict(c), "change": _change_cell(c)} for c in rows[:SHOWN]]
    cols = ["evidence", "service", "operation", "change", "call", "per_request_before", "per_request_after",
            "requests_before", "requests_after"]
    return ToolResult(text=head + "\n" + table(shown, cols), data=rows[:SHOWN],
                      evidence_ids=[c.evidence for c in rows[:SHOWN]])


def _change_cell(c: CallChange) -> str:
    """The change, and for a log step the requests that wrote it on each side: a stop in nearly every request,
    not only in the failing ones, is the handler's own path (the relay seat wrote one off as a knock-on)."""
    cell = c.change + (" (error path)" if c.error_path else "")
    if c.step == "log":
        cell += (f" ({round(c.per_request_before * c.requests_before)} of {c.requests_before} requests → "
                 f"{round(c.per_request_after * c.requests_after)} of {c.requests_after})")
    return cell


def _change(r: dict) -> CallChange | None:
    nb, na, cb, ca = r["requests_before"], r["requests_after"], r["calls_before"], r["calls_after"]
    if nb < MIN_REQUESTS or na < MIN_REQUESTS:
        return None
    if r.get("step") == "log":
        return _log_step(r, nb, na, cb, ca)
    expected = cb / nb * na
    if expected >= MIN_EXPECTED and (z := -poisson_z(ca, expected / 2)) >= Z_CHANGED:
        change = "stopped"
    elif ca >= MIN_EXPECTED and (z := poisson_z(ca, 2 * expected)) >= Z_CHANGED:
        change = "started"
    else:
        return None
    # a client span's callee is its peer; a child in another service is that service; else a step of its own
    op, peer = r["child_operation"] or "?", r.get("child_peer") or (
        r["child_service"] if r["child_service"] != r["service"] else None)
    call = f"{peer}: {op}" if peer else op
    return CallChange(r["service"], r["operation"], call, change, nb, na, round(cb / nb, 3), round(ca / na, 3),
                      round(z, 1), r["child_service"], r["child_operation"],
                      error_path="error" in (r["child_operation"] or "").lower())


def _log_step(r: dict, nb: int, na: int, kb: int, ka: int) -> CallChange | None:
    """A log statement the handler's requests wrote: the share of requests that reached it, before vs after.
    A share, not a rate, so the test is the two-proportion z (a statement every request wrote, then a third:
    16 of 16 → 6 of 21 is 4.4σ, where a Poisson test past half sees 2σ)."""
    z = proportion_z(kb, nb, ka, na)
    if kb / nb * na >= MIN_EXPECTED and ka / na <= kb / nb / 2 and -z >= Z_CHANGED:
        change = "stopped"
    elif ka >= MIN_EXPECTED and ka / na >= 2 * kb / nb and z >= Z_CHANGED:
        change = "started"
    else:
        return None
    stmt, example = r["child_operation"], str(r.get("example") or "")
    words = ID_FIELD.sub("", example.split(stmt, 1)[-1] if stmt in example else example)
    return CallChange(r["service"], r["operation"], f"{stmt} “{clip(' '.join(words.split()), 70)}”", change,
                      nb, na, round(kb / nb, 3), round(ka / na, 3), round(abs(z), 1), r["service"], stmt,
                      error_path=bool({"warn", "error", "fatal"} & set(str(r.get("level") or "").split(","))),
                      step="log")
