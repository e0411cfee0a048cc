"""A handler that stops making a call it made per request (an exception caught inside it, a wrong early return:
Nezha's OnlineBoutique adservice fault) records no error; call_changes finds the stop from parent/child spans,
per request of the same handler, and the heuristic answers application_error at that handler's service."""
from __future__ import annotations

from pathlib import Path

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


def test_the_heuristic_answers_application_error_at_the_handler(tmp_path):
    report = investigate(ads_system(tmp_path / "s"))
    assert report.root_cause is not None and not report.inconclusive
    assert (report.root_cause.service, report.root_cause.kind) == ("ads", "application_error")
    assert any("stopped calling ads.random" in link.claim for link in report.chain)


def test_an_error_handler_that_stops_is_recovery_not_the_cause(tmp_path):
    """Spring's error controller ran in every other request and stops: the handler stopped failing."""
    root = ads_system(tmp_path / "s", error_path=True)
    [c] = call_changes(root).data
    assert c.error_path and c.change == "stopped" and "(error path)" in call_changes(root).text
    report = investigate(root)
    assert not (report.root_cause and report.root_cause.kind == "application_error")
