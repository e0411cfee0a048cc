"""Leads and answers for a fault that records no error: the handler stops reaching a point it reached before.

An exception thrown and caught inside a handler, or a wrong early return (Nezha's exception and return faults),
leaves no error line and no failed span; what changes is that the handler no longer reaches the lines and calls
after it. Two views of that:
- a call the handler made per request stops (call_changes, from parent/child spans): counted per request of the
  same handler, so a change in traffic mix does not move it; the clearest such stop is the answer;
- a log line the service wrote steadily stops (log_patterns, one row per log statement): operation mix moves
  lines too, and the baseline is a minute or two, so it answers only when no other service's stop comes close.
And the other side of a changed path, for a lead only: the line the service now writes and never wrote before."""
from __future__ import annotations

from agent.heuristic.facts import Facts
from agent.heuristic.own_errors import BASELINE_MIN, NEW_ERRORS_LEAD, NEW_ERRORS_MIN, log_cover, split_at
from agent.heuristic.rules import Hypothesis
from tools.analysis import line_pace, poisson_z
from tools.results import CallChange, LogTemplate

STRENGTH = 0.5
LINES_STRENGTH = 0.55   # a stopped line, clearer than any other service's: the answer (a thinner view than calls)
SHOWN = 2
CALLS_STRENGTH = 0.6    # a handler's call that stopped, beyond chance: the code path broke before it
NEW_LINE_STRENGTH = 0.25  # a new line: below the other leads (mix changes write new lines too)
STOP_CLEAR = 1.5        # a stop (call or line) whose z is this many times any other service's answers; else leads


def stopped(f: Facts) -> dict[str, tuple[float, int, str, str | None]]:
    """Per service: the steady info line that stopped (log_patterns marks it: steady before, all but gone after
    at the service's own pace) furthest below its expected count, as (z, expected, template, evidence). A
    warning or error line that stops is recovery, not a fault."""
    out: dict[str, tuple[float, int, str, str | None]] = {}
    for svc, rows, eid in _every_line(f, to_page=True):
        pace = line_pace(rows)
        for r in rows:
            if not r.stopped or _alarm(r):
                continue
            expected = r.before * pace
            z = -poisson_z(r.after, expected / 2)      # past half, as call_changes measures
            if z > out.get(svc, (0.0,))[0]:
                out[svc] = (round(z, 1), round(expected), r.template, eid)
    return out


def _every_line(f: Facts, to_page: bool):
    """Per service, the log_patterns rows of all its lines (no level filter) the heuristic asked for, up to the
    page (to_page) or over the whole window, with their evidence id."""
    for a, m in f.results.get("log_patterns", []):
        if not a.get("level") and bool(a.get("end")) == to_page and a.get("service") and m.data:
            yield a["service"], m.data, (m.evidence_ids or [None])[0]


def _alarm(r: LogTemplate) -> bool:
    """A warning or error statement: its stop is recovery, and it is no new path of the code's normal work."""
    return bool({"warn", "error", "fatal"} & set(r.levels.split(",")))


def stopped_lines(f: Facts) -> list[Hypothesis]:
    """application_error: the service whose steady log line stopped, the answer when no other service's stop
    comes close (else leads, the clearest first)."""
    if log_cover(f)[0] < BASELINE_MIN:
        return []
    top = sorted(stopped(f).items(), key=lambda kv: -kv[1][0])[:SHOWN]
    clear = _clear([z for _, (z, *_) in top])
    return [Hypothesis(s, "application_error", LINES_STRENGTH if i == 0 and clear else STRENGTH - 0.05 * i,
                       split_at(f), [eid], f"{s} stopped writing a line it wrote steadily before ({t[:100]}: "
                       f"~{n:g} expected at its own pace, almost none came): its handler now fails or returns "
                       f"before reaching it", lead=not (i == 0 and clear))
            for i, (s, (_, n, t, eid)) in enumerate(top) if eid]


def stopped_calls(f: Facts) -> list[Hypothesis]:
    """application_error: a handler stopped making a call it made per request before (not an error handler's:
    that stopping is recovery). The service with the clearest stop is the answer when no other comes close."""
    changes = f.data("call_changes", [])
    # A handler that stopped one step and started another took another branch (its inputs changed), it did not
    # fail before the step.
    branched = {(c.service, c.operation) for c in changes if c.change == "started" and not c.error_path}
    best: dict[str, CallChange] = {}
    for c in changes:
        if c.change == "stopped" and not c.error_path and c.evidence and (c.service, c.operation) not in branched:
            best[c.service] = max(c, best.get(c.service, c), key=lambda x: x.z)
    # A caller stops when its callee's answer breaks it: a stop below explains the one above.
    top = sorted((c for c in best.values() if not f.downstream(c.service) & best.keys()), key=lambda c: -c.z)[:SHOWN]
    clear = _clear([c.z for c in top])
    return [Hypothesis(c.service, "application_error", CALLS_STRENGTH if i == 0 and clear else STRENGTH, split_at(f),
                       [c.evidence], f"{c.service}'s handler {c.operation or ''} stopped {c.verb} {c.call} "
                       f"({c.per_request_before:.2g} → {c.per_request_after:.2g} per request): it now fails or "
                       f"returns before it, with no error recorded", lead=not (i == 0 and clear))
            for i, c in enumerate(top)]


def new_lines(f: Facts) -> list[Hypothesis]:
    """application_error as a lead: the service writing, steadily, an info line it never wrote in the baseline (a
    wrong value returned or an exception caught sends its code down a branch it did not take before), when that
    line clearly outnumbers any other service's new line: a new mix of operations writes new lines everywhere."""
    if log_cover(f)[0] < BASELINE_MIN:
        return []
    best: dict[str, tuple[int, str, str | None]] = {}
    for svc, rows, eid in _every_line(f, to_page=False):
        for r in rows:
            if r.new and r.after >= NEW_ERRORS_MIN and not _alarm(r):
                best[svc] = max(best.get(svc, (0, "", None)), (r.after, r.template, eid))
    top = sorted(best.items(), key=lambda kv: -kv[1][0])
    if not top or not top[0][1][2] or (len(top) > 1 and top[0][1][0] < NEW_ERRORS_LEAD * top[1][1][0]):
        return []
    s, (n, t, eid) = top[0]
    return [Hypothesis(s, "application_error", NEW_LINE_STRENGTH, split_at(f), [eid],
                       f"{s} began writing a line it never wrote in the baseline ({t[:100]}: {n} after the split), "
                       f"more than any other service's new line: its code takes a path it did not take before",
                       lead=True)]


def _clear(zs: list[float]) -> bool:
    """Whether the clearest stop (zs high to low) answers: no other service's comes within STOP_CLEAR of it."""
    return len(zs) < 2 or zs[0] >= STOP_CLEAR * zs[1]
