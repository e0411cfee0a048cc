"""A latency page (nothing fails along the chain): the slowed calls from the paged service down mark where its
cause can be, as failing calls mark an error page's (issue 12, item 5). Staged on the corpus' harder level:
network_delay-01 (auth, without telemetry, delayed on the wire) and -03 (a concurrent bad deploy off the path)."""
from __future__ import annotations

from agent.heuristic.conclude import place, ranked
from agent.heuristic.rules import network_delay
from agent.models.base import Message
from tests.test_own_errors import at, facts
from tools.results import Edge, EdgeErrors, ErrorOnset, LatencyChange


def latency_page(onsets: dict[str, int] | None = None):
    """gateway (paged at minute 8) → ads → auth and gateway → reviews → flags; ads' calls to auth slowed on the
    wire at minute 6 (a step) and returns' calls to auth are slow with no baseline (an outlier row, spans from
    minute 1); `onsets`: services whose own errors rose at that minute."""
    f = facts({})
    edges = [Edge("gateway", "ads", 100, 0), Edge("ads", "auth", 100, 0), Edge("returns", "auth", 50, 0),
             Edge("gateway", "reviews", 100, 0), Edge("reviews", "flags", 100, 0)]
    put = lambda name, data: f.add(name, {}, Message(role="tool", data=data, evidence_ids=[name]))  # noqa: E731
    put("service_map", edges)
    put("latency_by_service", [
        LatencyChange("gateway", "ads", "call", "step", at(6), 300, 900, 3.0, 6.0, "L1", 80, 90),
        LatencyChange("ads", "auth", "wire", "step", at(6), 300, 940, 3.1, 6.4, "L2", 80, 96),
        LatencyChange("returns", "auth", "wire", "outlier", at(1), 1.4, 258, 190, 0, "L3", 0, 48)])
    put("error_onsets", [ErrorOnset(s, at(m), "metrics:error_rate", 0.0, 0.2, None) for s, m in (onsets or {}).items()])
    f.chain = f.walk_chain()
    return f


def test_the_slowed_calls_mark_the_path_and_a_service_off_it_is_another_incident():
    f = latency_page({"flags": 3})
    assert f.slowed_path() == {"gateway", "ads", "auth"}
    assert (place(f, "auth"), place(f, "flags")) == (0.75, 0.4)
    # flags' earlier errors are not when the page's symptom began
    assert f.symptom_onset() == f.alert_at


def test_an_onset_on_the_slowed_path_dates_the_symptom_and_an_error_page_has_no_slowed_path():
    assert latency_page({"ads": 7, "flags": 3}).symptom_onset() == at(7)
    f = facts({"billing": (20, "ERROR billing broke")})
    f.add("error_onsets", {}, Message(role="tool", evidence_ids=["O"],
                                      data=[ErrorOnset("billing", at(5), "logs", 0.0, 6.0, 8)]))
    f.chain = f.walk_chain()
    assert f.slowed_path() == set() and f.symptom_onset() == at(5)


def test_a_slow_edge_with_no_baseline_does_not_date_the_network_delay():
    """The outlier row's time is where its spans begin (minute 1), not when the wire slowed (minute 6): dated by
    it, the delay looked 7 minutes older than the symptom and the answer fell to a lead."""
    f = latency_page()
    f.t0 = f.symptom_onset()
    [h] = network_delay(f)
    assert (h.service, h.began) == ("auth", at(6))
    best = ranked(f)[0]
    assert (best.service, best.kind) == ("auth", "network_delay") and best.score >= 0.4


def test_no_slowed_path_from_a_tail_only_rise_and_failing_calls_do_not_extend_it():
    """Review, eighth session: one tail-only row from the paged service made a path that cut off a stopped line's
    service (placed 0.4, ruled out)."""
    f = latency_page()
    f.results["latency_by_service"][0][1].data[0].note = "tail only"
    assert f.slowed_path() == set()
    # Failing calls do not extend it: background errors fail calls everywhere (corpus network_delay-03 reached
    # the concurrent incident through them)
    f = latency_page()
    f.add("trace_errors", {}, Message(role="tool", evidence_ids=["T"],
                                      data=[EdgeErrors("ads", "db", "client", 2, at(6), "HTTP 503", "", "T")]))
    assert f.slowed_path() == {"gateway", "ads", "auth"}
