"""A lead when nothing else stands out: the service whose own logs gained a new kind of error after the baseline.

Real systems without span status (Nezha's TrainTicket) give no error onsets to walk from, and their background
errors (a business check failing now and then) rise and fall with the load mix, so an onset is noise. What a
fault in a service's code leaves is its *own* error lines of a kind it did not log before: a wrong value
returned by a repository ("No contacts according to contactsId"), a caught exception logged by the service.
The baseline before the split is often a minute or two, so "new" is weak: this names a lead (open, listed for
a person to check), never the answer, and only when one service's new errors clearly outnumber any other's."""
from __future__ import annotations

from datetime import datetime

from agent.heuristic.facts import Facts
from agent.heuristic.rules import INFRA_FAMILIES, Hypothesis
from agent.heuristic.signatures import families

NEW_ERRORS_MIN = 5          # new error lines after the split for a service to count at all
NEW_ERRORS_LEAD = 1.5       # … and at least this many times the next service's
LEAD_STRENGTH = 0.6         # scored like any hypothesis, then capped under CONCLUDE_AT (conclude.LEAD_CAP)


def split_at(f: Facts) -> datetime:
    """The end of the baseline the tools use (the first half of the time before the page)."""
    start = f.incident.window.start
    return start + (f.alert_at - start) / 2


def new_own_errors(f: Facts) -> dict[str, tuple[int, str, str | None]]:
    """Per service: error lines of templates new after the split (not infrastructure: a registry with no
    instance, a timeout, a refused connection are judged by other rules), the first template, its evidence."""
    out: dict[str, tuple[int, str, str | None]] = {}
    for a, m in f.results.get("log_patterns", []):
        if a.get("level") != "error" or not a.get("service") or not m.data:
            continue
        new = [r for r in m.data if r.new and ("error" in r.levels or "fatal" in r.levels)
               and not families(f"{r.template} {r.example}") & INFRA_FAMILIES]
        if new:
            out[a["service"]] = (sum(r.after for r in new), new[0].template, (m.evidence_ids or [None])[0])
    return out


def own_new_errors(f: Facts) -> list[Hypothesis]:
    """application_error as a lead: the service with the most new own error lines, well ahead of the next."""
    counts = sorted(new_own_errors(f).items(), key=lambda kv: -kv[1][0])
    if not counts or counts[0][1][0] < NEW_ERRORS_MIN:
        return []
    svc, (n, template, eid) = counts[0]
    runner_up = counts[1][1][0] if len(counts) > 1 else 0
    if n < NEW_ERRORS_LEAD * runner_up or eid is None:
        return []
    return [Hypothesis(svc, "application_error", LEAD_STRENGTH, split_at(f), [eid],
                       f"{svc}'s own logs gained {n} error lines of a new kind ({template[:120]}), more than any "
                       f"other service's, with no error onset to walk from: a lead to check in its code",
                       lead=True)]
