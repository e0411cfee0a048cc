"""A lead for a fault that logs no error: a line the service kept writing stops (Nezha's own signal, per template).

An exception thrown and caught inside a handler (Nezha's TrainTicket exception faults) leaves no error line and
no failed span; what changes is that the handler no longer reaches the lines after the throw ("route found",
"price computed"): a template the service wrote steadily before the split stops, while the service's other
lines go on. Operation mix alone moves templates too, and the baseline is a minute or two: a lead, never the
answer."""
from __future__ import annotations

from agent.heuristic.facts import Facts
from agent.heuristic.own_errors import BASELINE_MIN, log_cover, split_at
from agent.heuristic.rules import Hypothesis

STOPPED_MIN = 8         # lines a template would have written after the split at the service's own pace
STOPPED_LEFT = 0.2      # … of which at most this share came
STRENGTH = 0.5
SHOWN = 2


def stopped(f: Facts) -> dict[str, tuple[float, str, str | None]]:
    """Per service: the line that fell furthest below its expected count (scaled by the service's own volume,
    so a quieter minute is not a stop), its template, the evidence."""
    out: dict[str, tuple[float, str, str | None]] = {}
    for a, m in f.results.get("log_patterns", []):
        if a.get("level") or not a.get("service") or not m.data:
            continue
        before, after = sum(r.before for r in m.data), sum(r.after for r in m.data)
        if not before or not after:
            continue
        gone = sorted(((r.before * after / before - r.after, r.template) for r in m.data
                       if r.before * after / before >= STOPPED_MIN
                       and r.after <= STOPPED_LEFT * r.before * after / before), reverse=True)
        if gone:
            out[a["service"]] = (round(gone[0][0]), gone[0][1], (m.evidence_ids or [None])[0])
    return out


def stopped_lines(f: Facts) -> list[Hypothesis]:
    """application_error as a lead: the services whose steady log line stopped most, the largest first."""
    if log_cover(f)[0] < BASELINE_MIN:
        return []
    top = sorted(stopped(f).items(), key=lambda kv: -kv[1][0])[:SHOWN]
    return [Hypothesis(s, "application_error", STRENGTH - 0.05 * i, split_at(f), [eid],
                       f"{s} stopped writing a line it wrote steadily before ({t[:100]}: ~{n:g} expected at its "
                       f"own pace, almost none came): its handler may now fail before reaching it", lead=True)
            for i, (s, (n, t, eid)) in enumerate(top) if eid]
