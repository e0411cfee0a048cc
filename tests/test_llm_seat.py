"""What misled an LLM in the model's seat on Nezha TrainTicket days (NOTES "LLM-seat findings on Nezha,
fixed"): silence read as traffic stopping, a metric from a zero baseline ranked first, a call edge labelled
"(wire)". Each test fails on the code before the fix."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from factory import build, ts, write_jsonl
from test_quiet_faults import at, quiet_system
from tools import TOOLS, ToolContext
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.evidence import EvidenceLedger


def _ctx(d):
    return ToolContext(SnapshotTelemetry(d), EvidenceLedger())


def run(ctx, tool_name, **args):
    res = TOOLS[tool_name](ctx, args)
    assert not res.error, res.text
    return res


# ---- an evidence row says which view of latency it is --------------------------------------------------------
def test_latency_evidence_labels_call_wait_and_wire_time_apart(tmp_path):
    ctx = _ctx(quiet_system(tmp_path / "net", "network"))
    rows = run(ctx, "latency_by_service").data
    said = {r.view: ctx.ledger.get(r.evidence).summary for r in rows if r.evidence}
    assert {"call", "wire"} <= set(said)
    assert "(wire)" not in said["call"] and "own p90" not in said["call"] and "call" in said["call"]
    assert "wire" in said["wire"] and "own p90" not in said["wire"]


# ---- metric_changes: a series that was flat at zero has no spread to measure a z against ----------------------
def test_a_metric_rising_from_zero_does_not_outrank_a_measured_change(tmp_path):
    """TrainTicket 10:04: request_rate 0 → 0.1 of five services ranked first with z ≈ 100,000,000 (z divided by
    the spread floor of a flat zero baseline), above every real change."""
    d = quiet_system(tmp_path / "cpu", "cpu")
    with open(d / "metrics.jsonl", "a") as f:
        for m in range(46):
            for svc, v in (("cart", 0.1), ("web", 0.002)):     # from exactly 0; from ~0 (0.002 → 2)
                f.write(json.dumps({"time": at(m), "service": svc, "name": "request_rate",
                                    "value": (v if svc == "cart" else 2.0) if m >= 41 else
                                    (0.0 if svc == "cart" else v)}) + "\n")
    ctx = _ctx(d)
    res = run(ctx, "metric_changes")
    assert (res.data[0].service, res.data[0].name) == ("store", "cpu_utilization")
    rates = {r.service: r for r in res.data if r.name == "request_rate"}
    assert set(rates) == {"cart", "web"} and all(0 < r.z <= 100 for r in rates.values())
    assert "from 0" in res.text and "from ~0" in res.text
    assert "from 0" in ctx.ledger.get(rates["cart"].evidence).summary


# ---- coverage: where a source has no records is missing data, not a quiet system ------------------------------
def _holed(tmp_path, gap=(50, 53), logs_gap=False):
    """The mini incident (page at 11:30) whose spans have no records in `gap` (minutes: 10:50–10:53) and stop
    after 11:25 (metrics go on to 12:00), and whose logs start at 10:03 (and share the gap, if logs_gap)."""
    d = build(tmp_path / "holed")
    spans = [json.loads(line) for line in open(d / "spans.jsonl")]
    out = [s for s in spans if s["time"] < ts(86) and not ts(gap[0]) <= s["time"] < ts(gap[1])]
    write_jsonl(d / "spans.jsonl", out)
    logs = [json.loads(line) for line in open(d / "logs.jsonl")]
    write_jsonl(d / "logs.jsonl", [r for r in logs if r["time"] >= ts(3)
                                   and not (logs_gap and ts(gap[0]) <= r["time"] < ts(gap[1]))])
    return d


def test_describe_incident_says_where_each_source_ends_starts_late_or_has_empty_minutes(tmp_path):
    res = run(_ctx(_holed(tmp_path)), "describe_incident")
    spans = next(line for line in res.text.splitlines() if line.startswith("WARNING: spans"))
    assert "end at 11:25, 5 min before the page at 11:30" in spans and "empty minutes 10:50–10:53" in spans
    assert "WARNING: logs start at 10:03, 3 min after the window start" in res.text
    assert "WARNING: metrics" not in res.text
    assert res.data.missing["spans"][0] == (datetime(2026, 3, 6, 10, 50, tzinfo=timezone.utc),
                                            datetime(2026, 3, 6, 10, 53, tzinfo=timezone.utc))


def test_a_source_that_records_every_few_minutes_has_no_empty_minutes(tmp_path):
    d = build(tmp_path / "sparse")
    logs = [json.loads(line) for line in open(d / "logs.jsonl")]
    write_jsonl(d / "logs.jsonl", [r for r in logs if int(r["time"][14:16]) % 3 == 0])
    assert "WARNING: logs" not in run(_ctx(d), "describe_incident").text


def test_a_drop_in_calls_where_spans_stop_is_said_to_be_missing_data(tmp_path):
    ctx = _ctx(_holed(tmp_path))
    res = run(ctx, "edge_rates", bucket_minutes=1)
    api = next(r for r in res.data if (r.caller, r.callee) == ("search", "geo-api"))
    assert api.calls_change == "down"
    assert "spans missing 10:50–10:53: not a drop in traffic" in ctx.ledger.get(api.evidence).summary
    assert "spans missing 10:50–10:53, 11:25–12:00" in res.text
    assert "search→geo-api: " in res.text and " ? ? ?" in res.text     # empty minutes are not printed as 0


def test_service_map_and_latency_steps_beside_missing_spans_say_so(tmp_path):
    ctx = _ctx(_holed(tmp_path))
    assert "spans missing 10:50–10:53" in run(ctx, "service_map").text
    assert "spans missing" not in run(ctx, "service_map", end=ts(40)).text


def test_a_latency_step_right_after_missing_minutes_says_so(tmp_path):
    """store's own time steps up at 09:40; spans have no records 09:37–09:40."""
    d = quiet_system(tmp_path / "cpu", "cpu")
    spans = [json.loads(line) for line in open(d / "spans.jsonl")]
    write_jsonl(d / "spans.jsonl", [r for r in spans if not at(37) <= r["time"] < at(40)])
    ctx = _ctx(d)
    lat = run(ctx, "latency_by_service")
    step = next(r for r in lat.data if (r.service, r.view) == ("store", "own"))
    assert "spans missing 09:37–09:40" in ctx.ledger.get(step.evidence).summary
    assert f"{step.evidence}: spans missing 09:37–09:40" in lat.text


def test_an_error_onset_right_after_missing_minutes_says_so(tmp_path):
    """search's calls to token time out from 11:13; spans and logs have no records 11:10–11:13."""
    ctx = _ctx(_holed(tmp_path, gap=(70, 73), logs_gap=True))
    onsets = run(ctx, "error_onsets", service="search")
    assert "logs missing 11:10–11:13" in onsets.text
    assert "logs missing 11:10–11:13" in ctx.ledger.get(onsets.evidence_ids[0]).summary
    quiet = _ctx(_holed(tmp_path / "far", gap=(20, 23), logs_gap=True))
    assert "missing" not in run(quiet, "error_onsets", service="search").text


# ---- one default split: every before/after tool cuts at the same time, and says where and why ----------------
SPLIT_TOOLS = (("log_patterns", {"service": "search"}), ("log_patterns", {}), ("zone_breakdown", {"service": "search"}),
               ("metric_changes", {}), ("latency_by_service", {}), ("edge_rates", {}), ("error_onsets", {}))


def _splits(ctx, calls):
    import re
    said = {}
    for name, args in calls:
        m = re.search(r"split at (\d\d:\d\d(?::\d\d)?) \(([^;)]+)", run(ctx, name, **args).text)
        said[name + str(sorted(args))] = m and m.groups()
    return said


def test_every_tool_without_split_at_reports_the_same_split(tmp_path):
    """TrainTicket: log_patterns split at the page (after the last log line: every 'after' count 0) or at the
    service's own onset, error_onsets and latency_by_service at mid-baseline; the model compared their answers."""
    said = _splits(_ctx(build(tmp_path / "mini")), SPLIT_TOOLS)
    assert set(said.values()) == {("10:45", "halfway to the page")}, said
    quiet = _splits(_ctx(quiet_system(tmp_path / "cpu", "cpu")),
                    [(n, {}) for n in ("log_patterns", "metric_changes", "latency_by_service", "edge_rates")])
    assert len(set(quiet.values())) == 1 and None not in quiet.values(), quiet
    assert "no error onset" in next(iter(quiet.values()))[1]
