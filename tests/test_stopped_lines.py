"""An exception caught inside a handler (Nezha's TrainTicket exception faults leave no error line): a line the
service wrote steadily stops while its other lines go on. The answer when no other service's stop comes close,
leads otherwise."""
from __future__ import annotations

from agent.heuristic.conclude import CONCLUDE_AT, conclude, ranked
from agent.heuristic.stopped_lines import new_lines, stopped_lines
from agent.models.base import Message
from tests.test_own_errors import at, facts
from tools.analysis import mark_stopped
from tools.results import Edge, ErrorOnset, LogTemplate

REACHED = "INFO t.s.TravelServiceImpl#457 [queryInfo][route found]"
STEADY = "INFO t.s.TravelServiceImpl#451 [queryInfo][query start]"


def with_lines(lines: dict[str, list[tuple]], logs_from: int = 0):
    """gateway (paged) calls each service; per service, its templates (text, before, after[, level]) from
    log_patterns of every level, split at minute 4, up to the page and over the whole window (the same rows)."""
    f = facts({}, logs_from=logs_from)
    f.add("service_map", {}, Message(role="tool", evidence_ids=["M"], data=[Edge("gateway", s, 100, 0) for s in lines]))
    for s, rows in lines.items():
        data = [LogTemplate(t, b, a, b / 4, a / 4, not b, (lv or ["info"])[0], t) for t, b, a, *lv in rows]
        mark_stopped(data)          # as log_patterns marks them
        for end in ({"end": at(8).isoformat()}, {}):      # up to the page, and the whole window, as asked
            f.add("log_patterns", {"service": s, "split_at": at(4).isoformat(), **end},
                  Message(role="tool", evidence_ids=[f"L{s}"], data=data))
    f.chain = f.walk_chain()
    return f


def test_a_clear_stop_at_a_service_the_page_depends_on_is_the_answer():
    f = with_lines({"travel": [(STEADY, 40, 40), (REACHED, 40, 0)], "seat": [("INFO seat ok", 50, 55)]})
    [h] = stopped_lines(f)
    assert (h.service, h.kind, h.lead) == ("travel", "application_error", False)
    best = ranked(f)[0]
    assert (best.service, best.kind) == ("travel", "application_error") and best.score >= CONCLUDE_AT


def test_two_comparable_stops_are_leads_never_the_answer():
    f = with_lines({"travel": [(STEADY, 40, 40), (REACHED, 40, 0)], "seat": [("INFO seat ok", 40, 40),
                                                                          ("INFO seat held", 36, 0)]})
    assert {(h.service, h.lead) for h in stopped_lines(f)} == {("travel", True), ("seat", True)}
    assert ranked(f)[0].score < CONCLUDE_AT


def test_a_quieter_service_is_not_a_stop():
    # Every line of food halved with its traffic: nothing stopped.
    assert stopped_lines(with_lines({"food": [(STEADY, 40, 20), (REACHED, 40, 20)]})) == []


def test_an_error_line_that_stops_is_recovery_and_a_rare_line_is_not_steady():
    assert stopped_lines(with_lines({"travel": [(STEADY, 40, 40), (REACHED, 40, 0, "error")]})) == []
    assert stopped_lines(with_lines({"travel": [(STEADY, 400, 400), (REACHED, 4, 0)]})) == []


def test_no_lead_when_the_logs_begin_after_the_baseline():
    assert stopped_lines(with_lines({"travel": [(STEADY, 40, 40), (REACHED, 40, 0)]}, logs_from=4)) == []


def test_a_stop_beside_another_services_errors_still_answers_when_no_call_is_seen_failing():
    """Nezha TrainTicket 10:12: travel2's errors rise (the walk ends there; spans carry no status, so no failing
    call links it to anything) while travel, its sibling under the gateway, stops a steady line. travel is still
    a service the page depends on: its stop is weighed as one, not as a concurrent incident off the path."""
    f = with_lines({"travel": [(STEADY, 40, 40), (REACHED, 40, 0)], "travel2": [("INFO t2 ok", 50, 55)]})
    f.add("error_onsets", {}, Message(role="tool", evidence_ids=["O"],
                                      data=[ErrorOnset("travel2", at(5), "logs", 0.0, 6.0, 8)]))
    f.chain = f.walk_chain()
    assert f.end == "travel2" and not f.edge_errors
    best = ranked(f)[0]
    assert (best.service, best.kind) == ("travel", "application_error") and best.score >= CONCLUDE_AT


BRANCH = "INFO b.s.BasicServiceImpl#418 [getRoutesByRouteIds][Get Route By Ids][Success]"


def test_a_line_a_service_never_wrote_before_is_a_lead_when_it_clearly_outnumbers_other_new_lines():
    """Nezha TrainTicket 09:21 (a wrong return in basic): basic begins writing a line it never wrote in the
    baseline, well ahead of the new lines a shifting mix brings elsewhere: a lead, never the answer."""
    f = with_lines({"basic": [(STEADY, 40, 40), (BRANCH, 0, 35)], "cancel": [("INFO cancel start", 0, 20)]})
    [h] = new_lines(f)
    assert (h.service, h.kind, h.lead) == ("basic", "application_error", True)
    report = conclude(f)                # listed for a person to check, not the answer
    assert report["inconclusive"] and ("basic", "open") in {(x["service"], x["status"]) for x in report["hypotheses"]}


def test_no_new_line_lead_when_other_services_wrote_nearly_as_many_new_lines_or_it_is_an_error():
    assert new_lines(with_lines({"basic": [(BRANCH, 0, 35)], "cancel": [("INFO cancel start", 0, 30)]})) == []
    assert new_lines(with_lines({"basic": [(BRANCH, 0, 35, "error")]})) == []
    assert new_lines(with_lines({"basic": [(BRANCH, 0, 4)]})) == []                 # under 5 lines: too few
    assert new_lines(with_lines({"basic": [(BRANCH, 0, 35)]}, logs_from=4)) == []   # nothing to be new against


def test_a_new_line_counts_over_the_whole_window_and_a_stopped_line_only_up_to_the_page():
    """Nezha TrainTicket 09:58: verification-code's new line came after the page (logs run on to the window's end).
    A line that stops may resume in the recovery after the page, so stops are judged up to it; a new path's
    line is new whenever it comes."""
    f = with_lines({"basic": [(STEADY, 40, 40)]})
    f.results["log_patterns"] = [(a, m) for a, m in f.results["log_patterns"] if a.get("end")]
    f.add("log_patterns", {"service": "basic", "split_at": at(4).isoformat()},
          Message(role="tool", evidence_ids=["W"], data=[LogTemplate(BRANCH, 0, 20, 0, 5, True, "info", BRANCH),
                                                          LogTemplate(REACHED, 40, 0, 10, 0, False, "info", REACHED,
                                                                      stopped=True)]))
    assert [h.service for h in new_lines(f)] == ["basic"]
    assert stopped_lines(f) == []
