"""Score each hypothesis (strength × timing × place in the chain) and write the report: the best one as the
root cause with its chain of whys, the others ranked or ruled out with the reason, or "inconclusive"."""
from __future__ import annotations

from typing import Any

from agent.heuristic.facts import MIN, RECENT_CHANGE, SLOW_CHANGE, Facts
from agent.heuristic.rules import Hypothesis, _t, hypotheses
from agent.report import KINDS
from tools.domain.taxonomy import TAXONOMY

CONCLUDE_AT = 0.4          # below this best score, the report is inconclusive
OPEN_AT = 0.75 * CONCLUDE_AT
PAGE_SLACK = 5 * MIN       # a cause or symptom this long after the page did not cause it
LEAD_CAP = 0.39            # a lead's score stays under CONCLUDE_AT: listed open, never confirmed


def place(f: Facts, service: str) -> float:
    """How well a service's position fits a root cause: the chain's end best, its neighbours next."""
    if service == f.end:
        return 1.0
    if (slowed := f.slowed_path()):
        return 0.75 if service in slowed else 0.4   # a latency page: the slowed calls mark the path
    if service in f.failure_reached_callers:
        return 0.85     # on a failing path of its own: its callers logged its failures (spans without status)
    if (f.end in f.onsets or f.unreachable_by_all(f.end)) and (service in f.chain or service in f.callers(f.end)):
        return 0.6      # upstream of a service failing on its own side: its errors are explained from below
    if f.end and (service in f.callees(f.end) or service in f.callers(f.end)):
        return 0.85
    if service in f.chain:
        return 0.8
    if service in f.downstream(f.end) or not f.edges:   # deeper than the chain, or no call graph to tell
        return 0.75
    if not f.edge_errors and service in f.downstream(f.entry()):
        return 0.75     # no failing call marks a path (spans without status): any service the page depends on
    return 0.6 if service in f.onsets else 0.4


def timing(f: Facts, h: Hypothesis) -> float:
    """A cause precedes its effect: on time 1.0, long before 0.6, after the symptom or the page 0.2; and a
    symptom that only began after the page is not what was paged for (half)."""
    late = 0.5 if f.t0 > f.alert_at + PAGE_SLACK else 1.0
    if h.began is None:
        return 0.7 * late
    if h.began > f.alert_at + PAGE_SLACK:
        return 0.2
    lead = f.t0 - h.began
    if -3 * MIN <= lead <= RECENT_CHANGE or (h.slow and -3 * MIN <= lead <= SLOW_CHANGE):
        return 1.0 * late
    return (0.6 if lead > RECENT_CHANGE else 0.2) * late


def ranked(f: Facts) -> list[Hypothesis]:
    hs = hypotheses(f)
    for h in hs:
        h.score = round(h.strength * timing(f, h) * place(f, h.service), 3)
        if h.lead:
            h.score = min(h.score, LEAD_CAP)
    return corroborated(sorted(hs, key=lambda h: -h.score))


def corroborated(hs: list[Hypothesis]) -> list[Hypothesis]:
    """Two leads from different evidence naming one service, ahead of every other service's, answer where the
    fault is, which neither does alone: say its own logs gained new errors (logs) and its callers' calls to it
    slowed on the wire (spans). Scored as independent views, 1 - (1-a)(1-b); the stronger one's kind stands,
    the other joins its chain. (hs: ranked, best first.)"""
    if not hs or not hs[0].lead:
        return hs
    top, rival = hs[0], next((h for h in hs if h.service != hs[0].service), None)
    # Both leads: a hypothesis that claims its kind outright (a wire delay both ways) is a rival explanation of
    # the same service, not support for another kind there.
    second = next((h for h in hs[1:] if h.service == top.service and h.kind != top.kind and h.lead
                   and h.score >= OPEN_AT and (rival is None or h.score > rival.score)), None)
    if second is None:
        return hs
    top.score, top.lead = round(1 - (1 - top.score) * (1 - second.score), 3), False
    top.mechanism.append((second.claim[0].upper() + second.claim[1:], second.evidence))
    return hs


def conclude(f: Facts) -> dict[str, Any]:
    hs = ranked(f)
    best = hs[0] if hs and hs[0].score >= CONCLUDE_AT else None
    seen = _dedupe(hs)
    hyps = [{"service": h.service, "kind": h.kind, "status": status(f, h, best),
             "reason": f"{h.claim} (score {h.score:.2f}: strength {h.strength:.2f}, timing {timing(f, h):.2f}, "
                       f"place {place(f, h.service):.2f})" if h is best else why_not(f, h, best),
             "evidence": h.evidence} for h in seen[:6]]
    hyps += ruled_out_callees(f, seen)
    late = ([f"the errors at {f.end or 'the paged service'} rose at {_t(f.t0)}, after the page at "
             f"{_t(f.alert_at)}: what was paged for may be something else"] if f.t0 > f.alert_at + PAGE_SLACK else [])
    if best is None:
        return inconclusive_args("no hypothesis is backed strongly enough", hyps, late + next_checks(f, None))
    onset = best.began or f.t0
    return {"inconclusive": False,
            "root_cause": {"service": best.service, "kind": best.kind, "category": KINDS[best.kind],
                           "onset": onset.isoformat(), "summary": best.claim[0].upper() + best.claim[1:] + ".",
                           "confidence": round(min(0.95, best.score), 2)},
            "chain": chain_links(f, best), "hypotheses": hyps, "next_checks": late + next_checks(f, best),
            "remediation": REMEDIATION[best.kind]}


def chain_links(f: Facts, best: Hypothesis) -> list[dict]:
    inc = f.incident
    alert_onset = f.onset_of(f.alert_service)
    links = [{"claim": f"{inc.alert.service or 'the system'} was paged: {inc.alert.summary or inc.title}"
                       + (f"; its errors rose at {_t(alert_onset)}" if alert_onset else ""),
              "service": inc.alert.service, "evidence": f.ids("describe_incident") + f.onset_ids(f.alert_service)}]
    for a, b in zip(f.chain, f.chain[1:]):
        since = (f"whose own errors began earlier ({_t(f.onset_of(b))})" if b in f.onsets else
                 f"which fail from {_t(f.failing_since(a, b))} while {b} records no errors of its own")
        links.append({"claim": f"{a}'s errors come from its calls to {b}, {since}", "service": b,
                      "evidence": f.edge_ids(a, b) + f.onset_ids(b)})
    end = f.end
    if end and best.service != end:
        ids = f.edge_ids(end, best.service) or f.edge_ids(best.service, end)
        what = "failures" if f.failing_at(end) else "slowdown (latency, not errors)"
        links.append({"claim": f"{end}'s {what} trace{'s' if what[0] == 's' else ''} to {best.service}, "
                               f"{'which it calls' if best.service in f.downstream(end) else 'its neighbour'}",
                      "service": best.service, "evidence": ids or best.evidence})
    elif end:
        failing = {r.peer_service for r in f.edge_errors if r.service == end}
        healthy = [c for c in f.callees(end) if c not in f.onsets and f.edge_ids(end, c) and c in f.known
                   and c in failing]
        for c in healthy[:2]:
            links.append({"claim": f"{end}'s calls to {c} fail, but {c} itself shows no rise in errors: the "
                                   f"problem is on {end}'s side, not {c}'s", "service": end,
                          "evidence": f.edge_ids(end, c) + f.ids("service_map")})
    for claim, ids in best.mechanism:
        links.append({"claim": claim, "service": best.service, "evidence": [i for i in ids if i]})
    links.append({"claim": best.claim[0].upper() + best.claim[1:], "service": best.service, "evidence": best.evidence})
    return [link for link in links if link["evidence"]]


def status(f: Facts, h: Hypothesis, best: Hypothesis | None) -> str:
    """Confirmed, open, or ruled out. With no answer, a weak hypothesis that nothing contradicts stays open:
    "weaker than the answer" is no reason when there is none, and it is where a person looks next."""
    if h is best:
        return "confirmed"
    if h.score >= OPEN_AT or (best is None and against(f, h) is None):
        return "open"
    return "ruled_out"


def against(f: Facts, h: Hypothesis) -> str | None:
    """What evidence says against the hypothesis itself, not only a low score (None: nothing): a change the
    service's errors did not follow, a start after the page or the symptom, a place off the failing path."""
    if h.kind in ("deploy_regression", "config_change") and h.strength < 0.5:
        return f"{h.claim}, but {h.service}'s own errors did not rise after it"
    if h.began and h.began > f.alert_at + PAGE_SLACK:
        return f"{h.claim}, but that began after the page ({_t(f.alert_at)}): it cannot explain it"
    if timing(f, h) <= 0.2:
        return f"{h.claim}, but that began after the symptom ({_t(f.t0)}): an effect, not the cause"
    if place(f, h.service) <= 0.6 and (h.service in f.chain or h.service in f.callers(f.end)):
        return (f"{h.claim}, but {f.end}, below {h.service} on the failing path, fails on its own side: "
                f"{h.service}'s errors come from there")
    if place(f, h.service) <= 0.6:
        return f"{h.claim}, but {h.service} is not on the failing dependency chain ({' → '.join(f.chain)})"
    return None


def why_not(f: Facts, h: Hypothesis, best: Hypothesis | None = None) -> str:
    if (reason := against(f, h)):
        return reason
    if best is None:
        return f"{h.claim}; too weak alone to answer (score {h.score:.2f})"
    return f"{h.claim}; weaker than the confirmed cause (score {h.score:.2f})"


def ruled_out_callees(f: Facts, ranked_hs: list[Hypothesis]) -> list[dict]:
    """The loudest symptom's target: a callee the failing calls point at that is itself healthy."""
    out = []
    blamed = {h.service for h in ranked_hs[:1]}
    for r in f.edge_errors[:5]:
        c = r.peer_service
        if r.service == f.end and c in f.known and c not in f.onsets and c not in blamed:
            out.append({"service": c, "kind": "dependency_outage", "status": "ruled_out",
                        "reason": f"{f.end}'s calls to {c} fail, but {c} shows no rise in errors of its own",
                        "evidence": [r.evidence] + f.ids("service_map")})
            blamed.add(c)
    for c in f.data("certificates", []):
        if c.status == "expiring":
            out.append({"service": c.service, "kind": "cert_expired", "status": "ruled_out",
                        "reason": f"certificate {c.name or ''} of {c.service} is still valid at the alert "
                                  f"({c.expires_in})", "evidence": [c.evidence]})
    return out[:4]


def next_checks(f: Facts, best: Hypothesis | None) -> list[str]:
    if best is None:
        first = ", ".join(f.chain) or "the paged service"
        return [f"look at {first} beyond this telemetry (host, kernel and network events)",
                "check for changes not recorded here (feature flags, infrastructure, upstream providers)",
                "ask an LLM model for a free-form investigation (fivewhys investigate --model ...)"]
    return NEXT_CHECKS[best.kind]


def inconclusive_args(reason: str, hyps: list[dict] | None = None, checks: list[str] | None = None) -> dict:
    return {"inconclusive": True, "root_cause": None, "chain": [], "hypotheses": hyps or [],
            "next_checks": (checks or []) + [reason], "remediation": []}


def _dedupe(hs: list[Hypothesis]) -> list[Hypothesis]:
    seen, out = set(), []
    for h in hs:
        if (h.service, h.kind) not in seen:
            seen.add((h.service, h.kind))
            out.append(h)
    return out


REMEDIATION = {k.name: list(k.remediation) for k in TAXONOMY}
NEXT_CHECKS = {k.name: list(k.next_checks) for k in TAXONOMY}
