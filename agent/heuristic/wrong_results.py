"""application_error seen only by the callers: a service answers every call, its own spans and logs saying all
is well, while its callers reject what it returns (a body they cannot decode, a field that fails validation).

Nothing in the answering service fails, so no onset leads to it; what its callers' failed calls say about the
answer does. A wrong result comes from the answering service's own code path (bad data, a code path that returns
an empty or broken body), not from its callers: they reached it and got an answer back. A service outside the
system is the dependency rule's; one with errors of its own is application_error's; one with a recorded change
is the deploy and config rules'."""
from __future__ import annotations

from agent.heuristic.facts import Facts
from agent.heuristic.rules import Hypothesis, _t
from agent.heuristic.signatures import families

WRONG_RESULT_STRENGTH = 0.8      # the callers name the service and say what was wrong with its answers


def wrong_results(f: Facts) -> list[Hypothesis]:
    out = []
    changed = {d.service for d in f.data("list_deployments", [])}
    for svc in sorted({r.peer_service for r in f.edge_errors if r.peer_service}):
        if svc not in f.known or svc in f.onsets or svc in changed:
            continue
        spans = [r for r in f.edge_errors if r.peer_service == svc and r.service != svc
                 and "bad_response" in families(r.what)]
        said = [(c, t, eid) for c in f.callers(svc) for t, eid in [_rejects(f, c, svc)] if t]
        if not spans and not said:
            continue
        callers = sorted({r.service for r in spans} | {c for c, _, _ in said})
        began = f.failing_at(svc) or min((r.first for r in spans if r.first), default=None)
        sample = said[0][1] if said else spans[0].what
        out.append(Hypothesis(svc, "application_error", WRONG_RESULT_STRENGTH, began,
                              [r.evidence for r in spans if r.evidence][:2] + [eid for _, _, eid in said if eid][:2],
                              f"{svc} answers its calls and records no errors of its own, but "
                              f"{', '.join(callers)} cannot use what it returns from {_t(began)} ({sample[:120]}): "
                              f"wrong results from {svc}'s own code, with no deploy or config change of its own"))
    return out


def _rejects(f: Facts, caller: str, svc: str) -> tuple[str | None, str | None]:
    """The caller's new or risen warn/error line that rejects `svc`'s answer (naming it), and its evidence."""
    new, eid = f.risen_templates(caller)
    return next(((r.template, eid) for r in new
                 if svc in r.template and "bad_response" in families(f"{r.template} {r.example}")), (None, None))
