"""Each tool on the controlled fixture: what it finds, the evidence it adds, and its bounds."""
import pytest

from tools.domain.evidence import EvidenceLedger
from factory import build, ts
from tools import TOOLS, ToolContext
from tools.backends.snapshot import SnapshotTelemetry


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    return build(tmp_path_factory.mktemp("mini") / "mini")


@pytest.fixture
def ctx(snap):
    c = ToolContext(SnapshotTelemetry(snap), EvidenceLedger())
    yield c
    c.telemetry.close()


def run(ctx, tool_name, **args):
    res = TOOLS[tool_name](ctx, args)
    assert not res.error, res.text
    return res


def test_every_tool_has_a_schema_from_its_signature_and_docstring():
    assert {"describe_incident", "service_map", "error_onsets", "search_logs", "log_patterns", "query_metric",
            "list_deployments", "scaling_events", "certificates", "registry_changes", "zone_breakdown",
            "trace_errors"} <= set(TOOLS)
    s = TOOLS["search_logs"].schema
    assert "ctx" not in s["properties"] and s["properties"]["level"]["enum"][0] == "debug"
    assert s["properties"]["text"]["description"].startswith("substring")
    assert TOOLS["query_metric"].schema["required"] == ["name"]
    assert all(t.description for t in TOOLS.values())


def test_describe_incident(ctx):
    res = run(ctx, "describe_incident")
    assert "alert: at 2026-03-06T11:30:00+00:00 on service api" in res.text
    assert ctx.ledger.get(res.evidence_ids[0]).source == "incident"
    # the metric names present, so a model does not guess at series that are not there
    assert "metric names (" in res.text and "cpu_utilization" in res.text
    assert res.data.metrics["cpu_utilization"] >= {"search"}


def test_service_map_edges_with_errors_and_external(ctx):
    res = run(ctx, "service_map")
    edges = {(e.caller, e.callee): e for e in res.data}
    assert edges[("search", "token")].errors == 47 and edges[("search", "geo-api")].external
    assert "search→token" in ctx.ledger.get(res.evidence_ids[0]).summary
    only = run(ctx, "service_map", service="index").data
    assert {(e.caller, e.callee) for e in only} == {("search", "index")}


def test_error_onsets_earliest_first(ctx):
    res = run(ctx, "error_onsets")
    order = [o.service for o in res.data]
    assert order[0] == "search" and "api" in order and "token" not in order and "index" not in order
    first = ctx.ledger.get(res.evidence_ids[0])
    assert first.service == "search" and first.start.strftime("%H:%M") == "11:13"


def test_no_onset_where_the_source_has_no_record_in_the_baseline(tmp_path):
    """Nezha TrainTicket 14:23: logs begin at 14:22, long after the baseline (which ends halfway to the page):
    every service's first errors read as onsets at 14:22 and made a chain of background errors. Against no
    records there is nothing to rise above; logs that cover the baseline still give search's onset."""
    import json

    def onsets(logs_from: int):
        d = build(tmp_path / f"from{logs_from}", spans=False)
        rows = [json.loads(line) for line in open(d / "logs.jsonl")]
        (d / "logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows if r["time"] >= ts(logs_from)))
        c = ToolContext(SnapshotTelemetry(d), EvidenceLedger())
        try:
            return [o.service for o in run(c, "error_onsets").data]
        finally:
            c.telemetry.close()
    assert onsets(50) == [] and onsets(30)[0] == "search"


def test_search_logs_counts_and_bounded_sample(ctx):
    res = run(ctx, "search_logs", service="search", level="error", limit=5)
    assert res.data.total == 94
    assert res.text.count("timed out after 1000ms") == 5
    ev = ctx.ledger.get(res.evidence_ids[0])
    assert ev.filters == {"service": "search", "level": "error"} and "first at 11:13" in ev.summary
    assert run(ctx, "search_logs", text="no such thing").data.total == 0


def test_log_patterns_flags_new_templates(ctx):
    res = run(ctx, "log_patterns", service="search", split_at="2026-03-06T11:00:00Z")
    new = [r for r in res.data if r.new]
    assert len(new) == 1 and "timed out" in new[0].template and new[0].after == 94
    old = [r for r in res.data if not r.new]
    assert old and all(r.before > 0 for r in old)


def test_query_metric_baseline_and_shift(ctx):
    res = run(ctx, "query_metric", name="cpu_utilization", service="search")
    o = res.data.overall
    assert o.shift == "up" and o.shift_at.strftime("%H:%M") == "11:12" and o.max == pytest.approx(0.97)
    ev = ctx.ledger.get(res.evidence_ids[0])
    assert ev.matches("metrics", {"service": "search", "name": "cpu_utilization"})
    flat = run(ctx, "query_metric", name="cpu_utilization", service="token").data.overall
    assert flat.shift is None
    missing = run(ctx, "query_metric", name="gc_pause", service="search")
    assert "no metric 'gc_pause'" in missing.text and "cpu_utilization" in missing.text and not missing.evidence_ids


def test_list_deployments_with_diffs(ctx):
    res = run(ctx, "list_deployments")
    ev = ctx.ledger.get(res.evidence_ids[0])
    assert ev.service == "index" and "index:v41'→'index:v42" in ev.summary
    assert ev.matches("deployments", {"service": "index"})


def test_scaling_events_group_failures_and_instance_counts(ctx):
    res = run(ctx, "scaling_events")
    g = res.data.groups[0]
    assert (g.service, g.status, g.events) == ("search", "failed", 3)
    assert ctx.ledger.get(res.evidence_ids[0]).matches("scaling", {"service": "search", "status": "failed"})


def test_certificates_relative_to_a_time(ctx):
    res = run(ctx, "certificates")
    assert [c.status for c in res.data] == ["expiring"] and res.data[0].service == "token"
    later = run(ctx, "certificates", at="2026-03-27T00:00:00Z")
    assert [c.status for c in later.data] == ["expired"]


def test_registry_changes_and_mismatch(snap, tmp_path):
    import json, shutil
    d = tmp_path / "reg"
    shutil.copytree(snap, d)
    with open(d / "registry.jsonl", "a") as f:
        for i, (ev, inst) in enumerate((("deregister", "token-z-a"), ("register", "token-ghost"))):
            f.write(json.dumps({"time": f"2026-03-06T11:0{i}:00Z", "service": "token", "instance": inst,
                                "event": ev, "address": "10.9.9.9:8443"}) + "\n")
    c = ToolContext(SnapshotTelemetry(d), EvidenceLedger())
    res = run(c, "registry_changes")
    events = {(g.service, g.event) for g in res.data.groups}
    assert events == {("token", "deregister"), ("token", "register")}        # initial registrations omitted
    m = res.data.mismatch[0]
    assert m.registered_silent == "token-ghost" and m.serving_unregistered == "token-z-a"


def test_zone_breakdown(ctx):
    res = run(ctx, "zone_breakdown", service="index", split_at="2026-03-06T11:00:00Z")
    assert res.data.concentrated and res.data.top.zone == "z-a"      # index's errors are all in z-a
    even = run(ctx, "zone_breakdown", service="search", split_at="2026-03-06T11:00:00Z")
    assert not even.data.concentrated and not even.data.dropped


def test_trace_errors_by_edge_with_messages(ctx):
    res = run(ctx, "trace_errors", service="search")
    top = res.data[0]
    assert (top.service, top.peer_service, top.errors) == ("search", "token", 47)
    assert "error.type=timeout" in top.what and "timed out" in top.logs
    assert ctx.ledger.get(top.evidence).matches("spans", {"service": "search", "peer_service": "token"})


def test_no_data_is_said_plainly(tmp_path):
    c = ToolContext(SnapshotTelemetry(build(tmp_path / "x", spans=False)), EvidenceLedger())
    for name in ("service_map", "trace_errors"):
        res = run(c, name)
        assert res.text.startswith("NO DATA: this incident has no spans source") and not res.evidence_ids


def test_result_text_is_bounded(ctx):
    ctx.max_result_chars = 300
    res = run(ctx, "search_logs", limit=50)
    assert len(res.text) < 400 and "more characters left out" in res.text


def test_backend_failure_becomes_an_error_result(ctx):
    res = TOOLS["search_logs"](ctx, {"text": "(", "regex": True})
    assert res.error and "invalid regex" in res.text


def test_an_unexpected_failure_costs_one_call_not_the_run(ctx, monkeypatch):
    def boom(*a, **k):
        raise KeyError("weird record")
    monkeypatch.setattr(ctx.telemetry, "events", boom)
    res = TOOLS["list_deployments"](ctx, {})
    assert res.error and "failed unexpectedly (KeyError" in res.text


def test_zone_breakdown_reads_no_records_as_missing_data_not_a_dropped_zone(ctx):
    res = run(ctx, "zone_breakdown", split_at="2026-03-06T12:00:30Z")     # after the mini incident's data ends
    assert res.data.dropped == [] and "missing data, not silence" in res.text


def test_every_result_has_a_status_and_an_empty_result_is_citable(ctx):
    from tools.results import Status
    for name in TOOLS:
        res = TOOLS[name](ctx, {"name": "cpu_utilization"} if name == "query_metric" else {})
        assert isinstance(res.status, Status), name
    empty = run(ctx, "trace_errors", service="index", peer_service="nosuch")
    assert empty.status is Status.EMPTY and empty.data == [] and len(empty.evidence_ids) == 1
    ev = ctx.ledger.get(empty.evidence_ids[0])
    assert ev.source == "spans" and ev.attributes["result"] == "empty" and "no failing spans" in ev.summary
    none = run(ctx, "list_deployments", service="token")
    assert none.status is Status.EMPTY and none.evidence_ids and none.text.startswith(f"[{none.evidence_ids[0]}]")


def test_no_data_is_not_citable(tmp_path):
    from tools.results import Status
    c = ToolContext(SnapshotTelemetry(build(tmp_path / "x", spans=False)), EvidenceLedger())
    res = run(c, "trace_errors")
    assert res.status is Status.NO_DATA and not res.evidence_ids


def test_a_tools_answer_does_not_depend_on_which_tools_ran_before(snap):
    """log_patterns picks its default split from the error onsets, computed on demand, not left by error_onsets."""
    first = ToolContext(SnapshotTelemetry(snap), EvidenceLedger())
    alone = run(first, "log_patterns", service="search")
    second = ToolContext(SnapshotTelemetry(snap), EvidenceLedger())
    run(second, "error_onsets")
    after = run(second, "log_patterns", service="search")
    assert alone.text.split("]", 1)[1] == after.text.split("]", 1)[1]


def test_tool_descriptions_are_sentences_and_describe_incident_comes_first():
    first = next(iter(TOOLS))
    assert first == "describe_incident"
    for t in TOOLS.values():
        assert all("\n" not in p and "  " not in p for p in t.description.split("\n\n")), t.name


def test_certificates_show_full_dates_not_a_time_of_day(ctx):
    res = run(ctx, "certificates")
    assert "2026-03-26" in res.text.split("\n", 1)[1]       # the table row, not only the summary line


def test_a_split_by_a_label_the_metric_lacks_is_said(ctx):
    res = run(ctx, "query_metric", name="cpu_utilization", service="search", by="instance")
    assert res.status.value == "no_data" and "cannot be split by instance" in res.text and "None" not in res.text


def test_metric_onsets_have_their_own_columns(tmp_path):
    import json
    d = build(tmp_path / "m")
    with open(d / "metrics.jsonl", "a") as f:
        for m in range(120):
            f.write(json.dumps({"time": ts(m), "service": "index", "name": "error_rate",
                                "value": 0.29 if m >= 80 else 0.001}) + "\n")
    res = run(ToolContext(SnapshotTelemetry(d), EvidenceLedger()), "error_onsets", service="index")
    row = next(line for line in res.text.splitlines() if "metrics:error_rate" in line)
    assert row.split(" | ")[-2:] == ["error_rate", "-"] and row.startswith("E")


def test_an_instance_only_marked_unhealthy_is_not_called_unregistered(snap, tmp_path):
    import json, shutil
    d = tmp_path / "reg"
    shutil.copytree(snap, d)
    with open(d / "registry.jsonl", "a") as f:
        f.write(json.dumps({"time": ts(100), "service": "token", "instance": "token-z-a", "event": "unhealthy"}) + "\n")
    m = run(ToolContext(SnapshotTelemetry(d), EvidenceLedger()), "registry_changes").data.mismatch[0]
    assert m.serving_unhealthy == "token-z-a" and "token-z-a" not in m.serving_unregistered
