"""A lead when nothing else stands out: the service whose own logs gained a new kind of error after the baseline.

Real systems without span status (Nezha's TrainTicket) give no error onsets to walk from, and their background
errors (a business check failing now and then) rise and fall with the load mix, so an onset is noise. What a
fault in a service's code leaves is its *own* error lines of a kind it did not log before: a wrong value
returned by a repository ("No contacts according to contactsId"), a caught exception logged by the service.
The baseline before the split is often a minute or two, so "new" is weak: this names a lead (open, listed for
a person to check), never the answer, and only when one service's new errors clearly outnumber any other's."""
from __future__ import annotations

from datetime import datetime, timedelta

from agent.heuristic.facts import Facts
from agent.heuristic.rules import INFRA_FAMILIES, Hypothesis
from agent.heuristic.signatures import families

NEW_ERRORS_MIN = 5          # error lines beyond the baseline's rate after the split for a service to count at all
NEW_ERRORS_LEAD = 1.5       # … and at least this many times the next service's
LEAD_STRENGTH = 0.6         # scored like any hypothesis, then capped under CONCLUDE_AT (conclude.LEAD_CAP)
OTHERS_STRENGTH = 0.3       # the runners-up, listed under the lead (and stopped lines) for a person to check
OTHERS = 2
REACHED_MIN = 3             # traces where a caller logged right after the service's error: not a coincidence
REACHED_LEAD = 2.0          # … at least this many times the next service's
REACHED_STRENGTH = 0.8
BASELINE_MIN = timedelta(seconds=30)  # logs covering less before the split cannot say what is new or risen


def split_at(f: Facts) -> datetime:
    """The end of the baseline the tools use (the first half of the time before the page)."""
    start = f.incident.window.start
    return start + (f.alert_at - start) / 2


def log_cover(f: Facts) -> tuple[timedelta, timedelta]:
    """The time the logs cover before and after the split: a capture that began at the fault (or after the
    baseline) has no before to compare with, and rates must be per minute of data, not of window."""
    src = next((s for s in f.overview.sources if s.source == "logs"), None) if f.overview else None
    if src is None or src.first is None or src.last is None:
        return timedelta(0), timedelta(0)
    split, w = split_at(f), f.incident.window
    return split - max(w.start, src.first), min(w.end, src.last) - split


def new_own_errors(f: Facts) -> dict[str, tuple[float, str, str | None]]:
    """Per service: own error lines beyond what the baseline's rate predicts (a new template counts whole; a
    background error that merely kept its rate counts nothing), not infrastructure (a registry with no
    instance, a timeout, a refused connection are judged by other rules), the top template, its evidence."""
    before, after = log_cover(f)
    if before < BASELINE_MIN or after <= timedelta(0):
        return {}
    scale = after / before
    out: dict[str, tuple[float, str, str | None]] = {}
    for a, m in f.results.get("log_patterns", []):
        if a.get("level") != "error" or not a.get("service") or not m.data:
            continue
        rise = sorted(((r.after - r.before * scale, r.template) for r in m.data
                       if ("error" in r.levels or "fatal" in r.levels)
                       and not families(f"{r.template} {r.example}") & INFRA_FAMILIES), reverse=True)
        n = sum(x for x, _ in rise if x > 0)
        if n > 0:
            out[a["service"]] = (round(n, 1), rise[0][1], (m.evidence_ids or [None])[0])
    return out


def own_new_errors(f: Facts) -> list[Hypothesis]:
    """application_error as a lead: the service with the most new own error lines, well ahead of the next;
    the runners-up below it (a lead's margin is thin on a minute of baseline, so the next ones are worth a look)."""
    counts = [(s, v) for s, v in sorted(new_own_errors(f).items(), key=lambda kv: -kv[1][0])
              if v[0] >= NEW_ERRORS_MIN and v[2] is not None]
    if not counts:
        return []
    svc, (n, template, eid) = counts[0]
    runner_up = counts[1][1][0] if len(counts) > 1 else 0
    if n < NEW_ERRORS_LEAD * runner_up:
        return _others(f, counts[:OTHERS])
    return [Hypothesis(svc, "application_error", LEAD_STRENGTH, split_at(f), [eid],
                       f"{svc}'s own logs gained {n:g} error lines beyond their baseline rate ({template[:120]}), more "
                       f"than any other service's, with no error onset to walk from: a lead to check in its code",
                       lead=True)] + _others(f, counts[1:1 + OTHERS])


def _others(f: Facts, counts: list) -> list[Hypothesis]:
    return [Hypothesis(s, "application_error", OTHERS_STRENGTH, split_at(f), [eid],
                       f"{s}'s own logs also gained {n:g} error lines beyond their baseline rate ({t[:120]})", lead=True)
            for s, (n, t, eid) in counts]


def errors_reaching_callers(f: Facts) -> list[Hypothesis]:
    """application_error: spans without status, but one service's error lines are followed, in the same traces,
    by its callers' warnings or errors (trace_errors reads this from the logs): the failure crossed the call,
    unlike background errors a service handles itself. Answered from REACHED_MIN such traces after the baseline,
    well ahead of any other service; fewer make a lead."""
    rows = sorted(f.logged_failures, key=lambda r: -(r.reached_callers - r.reached_before))
    after = [(r, r.reached_callers - r.reached_before) for r in rows if r.first and r.evidence]
    if not after or after[0][1] <= 0:
        return []
    (r, n), runner_up = after[0], (after[1][1] if len(after) > 1 else 0)
    if n < REACHED_LEAD * runner_up:
        return []
    confident = n >= REACHED_MIN
    return [Hypothesis(r.service, "application_error", REACHED_STRENGTH if confident else LEAD_STRENGTH, r.first,
                       [r.evidence], f"{r.service}'s errors reached its callers: in {n} traces after "
                       f"{_hm(split_at(f))} {r.callers} logged a warning or error right after {r.service}'s own "
                       f"(no span status; read from the same traces' logs): a fault in {r.service}'s handling of "
                       f"those calls", lead=not confident)]


def _hm(t: datetime) -> str:
    return t.strftime("%H:%M")
