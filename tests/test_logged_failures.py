"""Failures read from the logs of the same trace when spans carry no status (issue 12 item 4; Nezha's TrainTicket
wrong-return faults): an error whose caller, in the same trace, logs a warning or error right after it crossed
the call; background errors a service handles itself do not. Three such traces after the baseline answer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from factory import answer, write_jsonl
from agent.heuristic.conclude import CONCLUDE_AT, place, ranked
from agent.heuristic.own_errors import errors_reaching_callers
from tests.test_own_errors import facts
from tools import ToolContext
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.evidence import EvidenceLedger
from tools.results import LoggedFailure
from tools.traces import trace_errors

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
FAULT = 20          # minute


def at(minute: float) -> str:
    return (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def system(root: Path, reaches: bool = True) -> Path:
    """web → cart → store and web → food, no span status. From FAULT store logs an error in every 4th trace
    and (reaches) cart logs a warning right after it; food logs a background error in every 3rd trace
    throughout, twice as often after FAULT, in a new wording: more new error lines than store's."""
    root.mkdir(parents=True)
    (root / "incident.yaml").write_text(yaml.safe_dump({
        "format": 1, "id": "reach", "title": "web SLO burn", "window": {"start": at(FAULT - 3), "end": at(FAULT + 6)},
        "alert": {"at": at(FAULT + 3), "service": "web", "summary": "web SLO burn"}}))
    spans, logs = [], []
    for i in range((FAULT - 3) * 12, (FAULT + 6) * 12):        # a request every 5 s
        m, tid = i / 12, f"t{i:05d}"
        for sid, parent, svc, kind, dur, peer in (("w", None, "web", "server", 40, None),
                                                  ("wc", "w", "web", "client", 30, "cart"),
                                                  ("cs", "wc", "cart", "server", 28, None),
                                                  ("cc", "cs", "cart", "client", 10, "store"),
                                                  ("ss", "cc", "store", "server", 8, None),
                                                  ("wf", "w", "web", "client", 5, "food"),
                                                  ("fs", "wf", "food", "server", 4, None)):
            spans.append({"time": at(m + (5 if svc == "store" else 0) / 60_000), "trace_id": tid, "span_id": f"{tid}{sid}",
                          "parent_span_id": f"{tid}{parent}" if parent else None, "service": svc, "kind": kind,
                          "duration_ms": dur, "operation": f"{svc}.op", **({"peer_service": peer} if peer else {})})
        if m >= FAULT and i % 4 == 0:
            logs.append({"time": at(m + 8 / 60_000), "service": "store", "level": "error", "trace_id": tid,
                         "message": "No price according to routeId"})
            if reaches:
                logs.append({"time": at(m + 15 / 60_000), "service": "cart", "level": "warn", "trace_id": tid,
                             "message": "price missing, item skipped"})
        if i % 3 == 0 or (m >= FAULT and i % 3 == 1):
            logs.append({"time": at(m + 2 / 60_000), "service": "food", "level": "error", "trace_id": tid,
                         "message": "Get Food Request Failed" if m < FAULT else "food list is null, request failed"})
    write_jsonl(root / "spans.jsonl", spans)
    write_jsonl(root / "logs.jsonl", logs)
    return root


def test_trace_errors_without_span_status_reads_which_errors_reached_a_caller(tmp_path):
    tel = SnapshotTelemetry(system(tmp_path / "s"))
    try:
        r = trace_errors(ToolContext(tel, EvidenceLedger()))
    finally:
        tel.close()
    by = {x.service: x for x in r.data}
    assert by["store"].reached_callers > 10 and by["store"].callers == "cart" and by["store"].evidence
    assert by["food"].traces > 10 and by["food"].reached_callers == 0
    assert "reached a caller" in r.text


def test_the_service_whose_errors_reach_its_callers_is_the_answer(tmp_path):
    assert answer(system(tmp_path / "s")) == ("store", "application_error")


def test_errors_no_caller_noticed_are_no_answer(tmp_path):
    assert answer(system(tmp_path / "s", reaches=False)) != ("store", "application_error")


def reached(**rows: tuple[int, int]) -> list[LoggedFailure]:
    """service=(traces whose error reached a caller, how many of them before the baseline's end)."""
    return [LoggedFailure(s, 20, n, before, datetime(2026, 3, 6, 15, 5, tzinfo=timezone.utc) if n > before else None,
                          "caller", f"R{s}") for s, (n, before) in rows.items()]


def with_reached(rows: list[LoggedFailure]):
    f = facts({})
    f.results["trace_errors"] = [({}, type("M", (), {"data": rows, "evidence_ids": []})())]
    return f


def test_three_traces_after_the_baseline_answer_fewer_are_a_lead():
    f = with_reached(reached(contacts=(4, 1), food=(0, 0)))
    [h] = errors_reaching_callers(f)
    assert (h.service, h.kind, h.lead) == ("contacts", "application_error", False)
    assert place(f, "contacts") > 0.8 and ranked(f)[0].score >= CONCLUDE_AT
    [weak] = errors_reaching_callers(with_reached(reached(contacts=(3, 1))))
    assert weak.lead


def test_no_answer_when_the_errors_reached_callers_only_before_the_baseline_or_two_services_tie():
    assert errors_reaching_callers(with_reached(reached(basic=(3, 3)))) == []
    assert errors_reaching_callers(with_reached(reached(basic=(5, 0), contacts=(4, 0)))) == []


def test_a_parent_link_that_loops_ends_the_walk_up_the_trace():
    from datetime import datetime, timedelta, timezone
    from tools.logged_failures import _callers
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    spans = [{"span_id": "a", "parent_span_id": "b", "service": "api", "time": t, "duration_ms": 10},
             {"span_id": "b", "parent_span_id": "c", "service": "web", "time": t, "duration_ms": 10},
             {"span_id": "c", "parent_span_id": "b", "service": "edge", "time": t, "duration_ms": 10}]
    assert _callers(spans, "api", t + timedelta(milliseconds=5)) == {"web", "edge"}
