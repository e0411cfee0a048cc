"""edge_rates (issue 13 item 10): calls and errors per minute per caller → callee edge, so a model can see whether
our traffic to a dependency changed and which caller drives a callee's new load."""
import json

import pytest

from factory import build, ts
from tools import TOOLS, ToolContext
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.evidence import EvidenceLedger
from tools.results import Status


@pytest.fixture(scope="module")
def storm(tmp_path_factory):
    """The mini incident plus a batch job whose calls to token jump from 1 to 6 a minute at 11:00."""
    d = build(tmp_path_factory.mktemp("storm") / "mini")
    with open(d / "spans.jsonl", "a") as f:
        for m in range(120):
            for k in range(6 if m >= 60 else 1):
                f.write(json.dumps({"time": ts(m + k / 10), "trace_id": f"b{m}-{k}", "span_id": f"b{m}-{k}",
                                    "service": "batch", "duration_ms": 4, "kind": "client", "peer_service": "token",
                                    "status": "ok"}) + "\n")
    return d


def run(d, **args):
    ctx = ToolContext(SnapshotTelemetry(d), EvidenceLedger())
    return ctx, TOOLS["edge_rates"](ctx, args)


def test_the_caller_that_drives_a_callees_new_load_stands_out(storm):
    ctx, res = run(storm, callee="token")
    assert res.status is Status.OK, res.text
    batch, search = res.data
    assert (batch.caller, batch.callee, batch.calls_change, batch.calls_before) == ("batch", "token", "up", 1.0)
    assert batch.calls_changed_at.isoformat() == "2026-03-06T11:00:00+00:00" and batch.calls_at_page == 6.0
    assert (search.caller, search.calls_change, search.calls_at_page) == ("search", None, 1.0)   # its rate held
    assert search.errors_rose_at.isoformat() == "2026-03-06T11:10:00+00:00"       # 5-minute points: 11:13's
    assert res.evidence_ids == [batch.evidence, search.evidence]
    item = ctx.ledger.get(batch.evidence)
    assert item.matches("spans", {"service": "batch", "peer_service": "token", "calls_change": "up"})
    assert "batch→token | 1 | 6 | up 11:00" in res.text and "\nbatch→token: 1 1 1" in res.text


def test_a_callers_edges_per_minute(storm):
    _, res = run(storm, caller="search", bucket_minutes=1)
    assert {(r.caller, r.callee) for r in res.data} == {("search", "token"), ("search", "geo-api")}
    assert len(res.data[0].series) == 120 and "every 1 min from 10:00" in res.text


def test_the_edges_that_stayed_put_share_one_evidence_id(storm):
    """#13's leftover: only changed edges had ids, so "token's other callers are fine" had none of its own."""
    ctx, res = run(storm, bucket_minutes=1)
    changed = {r.evidence for r in res.data if r.calls_change or r.errors_rose_at}
    steady = [r for r in res.data if not (r.calls_change or r.errors_rose_at)]
    assert steady and len({r.evidence for r in steady}) == 1 and steady[0].evidence not in changed
    item = ctx.ledger.get(steady[0].evidence)
    assert "stayed at their baseline" in item.summary and f"{steady[0].caller}→{steady[0].callee}" in item.summary
    assert steady[0].evidence in res.evidence_ids


def test_no_calls_on_the_edge_is_a_finding_and_no_spans_is_no_data(storm, tmp_path):
    _, res = run(storm, caller="token")
    assert res.status is Status.EMPTY and res.evidence_ids and "no client spans on edges from token" in res.text
    _, res = run(build(tmp_path / "nospans", spans=False), callee="token")
    assert res.status is Status.NO_DATA and not res.evidence_ids


def test_a_scripted_llm_run_over_the_demo_cites_edge_rates_and_an_empty_result(demo_dir):
    from agent.loop import SUBMIT, Investigation
    from agent.models.base import ToolCall, Turn
    from agent.models.scripted import ScriptedModel, call

    def report(messages):
        ids = {m.name: m.evidence_ids for m in messages if m.role == "tool"}
        rates = [m.data for m in messages if m.name == "edge_rates"][0]
        held = next(r for r in rates if r.caller == "search")
        assert held.calls_change is None and held.errors_rose_at is not None
        return Turn(tool_calls=[ToolCall(id="r", name=SUBMIT, arguments={
            "root_cause": {"service": "search", "kind": "failed_scale_up", "summary": "s", "confidence": 0.8},
            "chain": [{"claim": "search was paged", "service": "search", "evidence": ids["describe_incident"]},
                      {"claim": "search's calls to token fail at its usual rate: not a surge of load on token",
                       "service": "search", "evidence": [held.evidence]},
                      {"claim": "search failed to scale up", "service": "search", "evidence": ids["scaling_events"]}],
            "hypotheses": [{"service": "token", "kind": "deploy_regression", "status": "ruled_out",
                            "reason": "token was not deployed", "evidence": ids["list_deployments"]}]})])
    model = ScriptedModel([Turn(tool_calls=[call("describe_incident"), call("edge_rates", callee="token"),
                                            call("scaling_events", service="search"),
                                            call("list_deployments", service="token")]), report])
    ctx = ToolContext(SnapshotTelemetry(demo_dir), EvidenceLedger())
    res = Investigation(model, ctx).run()
    assert res.stop_reason == "submitted", res.report
    assert ctx.ledger.get(res.report.hypotheses[0].evidence[0]).attributes == {"result": "empty"}
