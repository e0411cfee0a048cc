"""A handler that stops making a call it made per request (an exception caught inside it, a wrong early return:
Nezha's OnlineBoutique adservice fault) records no error; call_changes finds the stop from parent/child spans,
per request of the same handler, and the heuristic answers application_error at that handler's service."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from factory import heuristic_run
from test_mesh_delay import spans_system
from tools import TOOLS, ToolContext
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.evidence import EvidenceLedger
from tools.results import Status

STOP_AT = 9             # minute: the window is 24 minutes, the page at 20, the tools' split halfway (10)


def ads_system(root: Path, stops: bool = True, traffic_after: int = 12, broken: str = "ads.random",
               error_path: bool = False) -> Path:
    """web → ads; ads' handler ads.get picks random ads (its own step ads.random) in every other request. From
    STOP_AT, ads.get no longer reaches ads.random (when `stops`); only `traffic_after` of each 12 traces a
    minute are kept from then on (a quieter period is not a stop)."""
    def trace(i):
        m = i / 12
        if m >= STOP_AT and i % 12 >= traffic_after:
            return ()
        spans = [("w", None, "web", "server", 20.0, None, "web.home"), ("wc", "w", "web", "client", 15.0, "ads",
                                                                         "web.ads"),
                 ("as", "wc", "ads", "server", 10.0, None, "ads.get")]
        if i % 2 == 0 and not (stops and m >= STOP_AT):
            spans.append(("ar", "as", "ads", "internal", 2.0, None, "ErrorController.error" if error_path else broken))
        return tuple(spans)
    return spans_system(root, "ads-stop", 24, 20, trace)


def call_changes(root: Path, **args):
    tel = SnapshotTelemetry(root)
    try:
        return TOOLS["call_changes"](ToolContext(tel, EvidenceLedger()), args)
    finally:
        tel.close()


def investigate(root: Path):
    return heuristic_run(root).report


def test_a_call_the_handler_stopped_making_is_found_per_request(tmp_path):
    res = call_changes(ads_system(tmp_path / "s", traffic_after=6))
    [c] = res.data
    assert (c.service, c.operation, c.call, c.change, c.error_path) == ("ads", "ads.get", "ads.random", "stopped",
                                                                        False)
    assert c.per_request_before > 0.4 and c.per_request_after < 0.05 and c.evidence in res.evidence_ids
    assert "stopped" in res.text and "ads.random" in res.text


def test_less_traffic_is_not_a_stop(tmp_path):
    """Half the requests after the split, each still reaching ads.random one time in two: nothing changed per
    request, and saying so is a finding with an evidence id."""
    res = call_changes(ads_system(tmp_path / "s", stops=False, traffic_after=6))
    assert res.status is Status.EMPTY and res.data == [] and res.evidence_ids


def test_a_call_into_another_service_is_named_by_its_callee(tmp_path):
    res = call_changes(ads_system(tmp_path / "s"), service="web")
    assert res.status is Status.EMPTY          # web kept calling ads per request
    [c] = call_changes(ads_system(tmp_path / "t")).data
    assert c.call == "ads.random"


@pytest.mark.parametrize("system, stop", [("calls", "stopped calling ads.random"),
                                          ("logs", "stopped writing a.s.AdServiceImpl#20")])
def test_the_heuristic_answers_application_error_at_the_handler(tmp_path, system, stop):
    """A call the handler stopped making, or a log line its span stopped writing (logs carrying span ids)."""
    report = investigate((ads_system if system == "calls" else logged_system)(tmp_path / "s"))
    assert report.root_cause is not None and not report.inconclusive
    assert (report.root_cause.service, report.root_cause.kind) == ("ads", "application_error")
    assert any(stop in link.claim for link in report.chain)


def test_an_error_handler_that_stops_is_recovery_not_the_cause(tmp_path):
    """Spring's error controller ran in every other request and stops: the handler stopped failing."""
    root = ads_system(tmp_path / "s", error_path=True)
    [c] = call_changes(root).data
    assert c.error_path and c.change == "stopped" and "(error path)" in call_changes(root).text
    report = investigate(root)
    assert not (report.root_cause and report.root_cause.kind == "application_error")


def logged_system(root: Path, kept: int = 1, branch: bool = False, caller_stops: bool = False,
                  span_ids: bool = True, branch_level: str = "info") -> Path:
    """web → ads, every request writing two log statements in ads.get's span (a.s.AdServiceImpl#10, then #20). From
    STOP_AT only `kept` of each 4 requests reach #20 (an exception or early return between the two lines); with
    `branch` the others write #30 instead (another branch of the handler: its inputs changed); with
    `caller_stops` web's handler, which logs #5 after the call returns, stops writing it as well."""
    root = ads_system(root, stops=False)
    logs = []
    for i in range(24 * 12):
        m, t = i / 12, (datetime(2026, 3, 6, 15, tzinfo=timezone.utc) + timedelta(minutes=i / 12))
        broken = m >= STOP_AT and i % 4 >= kept
        lines = [("as", "ads", "a.s.AdServiceImpl#10 [getAds][fetching ads]")]
        lines += ([("as", "ads", "a.s.AdServiceImpl#30 [getAds][no context, defaults]")] if broken and branch else
                  [] if broken else [("as", "ads", "a.s.AdServiceImpl#20 [getAds][picked ads]")])
        lines += [] if broken and caller_stops else [("w", "web", "w.c.HomeController#5 [home][rendered ads]")]
        logs += [{"time": t.isoformat(), "service": svc, "trace_id": f"t{i:05d}",
                  "level": branch_level if "#30" in text else "info",
                  "message": f"12:00:00.000 INFO {text} TraceID: t{i:05d} SpanID: {sid}",
                  "attributes": {"span_id": sid} if span_ids else {}} for sid, svc, text in lines]
    (root / "logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs))
    return root


def test_a_log_statement_the_handler_stopped_reaching_is_a_stopped_step(tmp_path):
    """Every request wrote #20, then one in four: the share of requests reaching it fell, the first line's did not."""
    res = call_changes(logged_system(tmp_path / "s"))
    [c] = [c for c in res.data if c.step == "log"]
    assert (c.service, c.operation, c.change, c.child_operation) == ("ads", "ads.get", "stopped", "a.s.AdServiceImpl#20")
    assert c.per_request_before > 0.9 and 0.2 < c.per_request_after < 0.3 and c.z >= 4
    assert "[getAds][picked ads]" in c.call and "TraceID" not in c.call and "SpanID" not in c.call
    assert "a.s.AdServiceImpl#20" in res.text and "share of requests" in res.text
    wrote = (round(c.per_request_before * c.requests_before), round(c.per_request_after * c.requests_after))
    assert wrote[0] >= 0.9 * c.requests_before       # said as requests, not only as a share
    assert f"stopped ({wrote[0]} of {c.requests_before} requests → {wrote[1]} of {c.requests_after})" in res.text


def test_lines_without_span_ids_are_no_steps(tmp_path):
    res = call_changes(logged_system(tmp_path / "s", span_ids=False))
    assert not [c for c in res.data if c.step == "log"]


def test_a_handler_that_took_another_branch_did_not_fail(tmp_path):
    """#20 stops where #30 starts: the requests went another way (their inputs changed), no step was cut short."""
    root = logged_system(tmp_path / "s", branch=True)
    assert {(c.child_operation, c.change) for c in call_changes(root).data if c.step == "log"} == {
        ("a.s.AdServiceImpl#20", "stopped"), ("a.s.AdServiceImpl#30", "started")}
    report = investigate(root)
    assert not (report.root_cause and report.root_cause.kind == "application_error")


def test_a_callee_s_stop_explains_its_caller_s(tmp_path):
    """web stops writing the line after its call returns because ads broke: ads is the answer, not web."""
    root = logged_system(tmp_path / "s", caller_stops=True)
    assert {c.service for c in call_changes(root).data if c.change == "stopped"} == {"ads", "web"}
    report = investigate(root)
    assert report.root_cause is not None and report.root_cause.service == "ads"


def test_a_handler_that_now_logs_an_error_instead_failed(tmp_path):
    """#20 stops where an error line starts: not another branch but the handler failing (an error path)."""
    root = logged_system(tmp_path / "s", branch=True, branch_level="error")
    started = [c for c in call_changes(root).data if c.change == "started"]
    assert [(c.child_operation, c.error_path) for c in started] == [("a.s.AdServiceImpl#30", True)]
    report = investigate(root)
    assert report.root_cause is not None and (report.root_cause.service, report.root_cause.kind) == (
        "ads", "application_error")


def test_log_steps_over_a_sample_of_traces(tmp_path, monkeypatch):
    """Millions of lines: the steps are counted over one trace in n (the requests too), and the stop still shows."""
    monkeypatch.setattr("tools.backends.fastpaths.LOG_STEP_ROWS", 200)
    res = call_changes(logged_system(tmp_path / "s"))
    [c] = [c for c in res.data if c.step == "log"]
    assert c.change == "stopped" and c.requests_before + c.requests_after < 24 * 12 / 2
    assert "one trace in" in res.text
