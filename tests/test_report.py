"""Report validation against the ledger (issue 13 item 13): every link names its service, the last link is the
root cause, a ruled-out hypothesis cites what rules it out; each problem is told to the model precisely."""
import copy

from agent.report import parse_report
from tools.domain.evidence import EvidenceLedger


def ledger(n: int = 4) -> EvidenceLedger:
    lg = EvidenceLedger()
    for i in range(n):
        lg.add(source="logs", tool="search_logs", summary=f"finding {i + 1}")
    return lg


GOOD = {"root_cause": {"service": "search", "kind": "failed_scale_up", "summary": "search could not scale up",
                       "confidence": 0.8},
        "chain": [{"claim": "search was paged", "service": "search", "evidence": ["E1"]},
                  {"claim": "search's calls to token time out; token is healthy", "service": "search",
                   "evidence": ["E2"]},
                  {"claim": "autoscaling of search failed", "service": "search", "evidence": ["E3"]}],
        "hypotheses": [{"service": "search", "kind": "failed_scale_up", "status": "confirmed", "reason": "r",
                        "evidence": ["E3"]},
                       {"service": "catalog", "kind": "deploy_regression", "status": "ruled_out",
                        "reason": "its errors did not rise after the deploy", "evidence": ["E4"]}]}


def submit(change) -> list[str]:
    args = copy.deepcopy(GOOD)
    change(args)
    report, problems = parse_report(args, ledger())
    assert (report is None) == bool(problems)
    return problems


def test_a_report_that_keeps_the_rules_is_accepted():
    assert submit(lambda a: None) == []


def test_a_link_without_a_service_is_rejected():
    def no_service(a):
        a["chain"][1]["service"] = None
    problems = submit(no_service)
    assert problems == ["chain[1] (\"search's calls to token time out; token is healthy\") names no service: say "
                        "which service this link is about"]
    dropped = submit(lambda a: a["chain"][0].pop("service"))
    assert dropped[0].startswith("chain[0] ('search was paged') names no service")


def test_the_last_link_must_be_the_root_cause():
    def trailing_exclusion(a):           # what an LLM wrote: a "nothing else changed" link after the cause
        a["chain"].append({"claim": "nothing else changed: catalog's deploy did not matter", "service": "catalog",
                           "evidence": ["E4"]})
    problems = submit(trailing_exclusion)
    assert problems == ["chain[3] is about catalog, but the last link must be the root cause: a link about search "
                        "(root_cause.service) with the evidence for it; rule catalog out in hypotheses "
                        "(status ruled_out) instead"]


def test_a_ruled_out_hypothesis_must_cite_what_rules_it_out():
    def uncited(a):
        a["hypotheses"][1]["evidence"] = []
    assert submit(uncited) == ["hypotheses[1] (catalog deploy_regression) is ruled out without evidence: cite what "
                               "rules it out (a tool's empty result has an id too)"]


def test_open_hypotheses_and_inconclusive_reports_keep_their_freedom():
    def open_uncited(a):
        a["hypotheses"][1].update(status="open", evidence=[])
    assert submit(open_uncited) == []
    report, problems = parse_report({"inconclusive": True, "chain": [
        {"claim": "search was paged", "service": "search", "evidence": ["E1"]}]}, ledger())
    assert problems == [] and report.inconclusive
