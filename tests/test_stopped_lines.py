"""A lead for an exception caught inside a handler (Nezha's TrainTicket exception faults leave no error line): a
line the service wrote steadily stops while its other lines go on."""
from __future__ import annotations

from agent.heuristic.conclude import CONCLUDE_AT, ranked
from agent.heuristic.stopped_lines import stopped_lines
from agent.models.base import Message
from tests.test_own_errors import at, facts
from tools.results import LogTemplate

REACHED = "INFO t.s.TravelServiceImpl#457 [queryInfo][route found]"
STEADY = "INFO t.s.TravelServiceImpl#451 [queryInfo][query start]"


def with_lines(lines: dict[str, list[tuple[str, int, int]]], logs_from: int = 0):
    """Per service, its templates (text, before, after) from log_patterns of every level, split at minute 4."""
    f = facts({}, logs_from=logs_from)
    for s, rows in lines.items():
        f.add("log_patterns", {"service": s, "split_at": at(4).isoformat(), "end": at(8).isoformat()},
              Message(role="tool", evidence_ids=[f"L{s}"],
                      data=[LogTemplate(t, b, a, b / 4, a / 4, not b, "info", t) for t, b, a in rows]))
    return f


def test_a_steady_line_that_stops_is_a_lead_never_the_answer():
    f = with_lines({"travel": [(STEADY, 40, 40), (REACHED, 40, 0)], "seat": [("INFO seat ok", 50, 55)]})
    [h] = stopped_lines(f)
    assert (h.service, h.kind, h.lead) == ("travel", "application_error", True)
    assert ranked(f)[0].score < CONCLUDE_AT


def test_a_quieter_service_is_not_a_stop():
    # Every line of food halved with its traffic: nothing stopped.
    assert stopped_lines(with_lines({"food": [(STEADY, 40, 20), (REACHED, 40, 20)]})) == []


def test_no_lead_when_the_logs_begin_after_the_baseline():
    assert stopped_lines(with_lines({"travel": [(STEADY, 40, 40), (REACHED, 40, 0)]}, logs_from=4)) == []

