"""What misled an LLM in the model's seat on Nezha TrainTicket days (NOTES "LLM-seat findings on Nezha,
fixed"): silence read as traffic stopping, a metric from a zero baseline ranked first, a call edge labelled
"(wire)". Each test fails on the code before the fix."""
from __future__ import annotations

import json

import pytest
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


def test_minutes_where_spans_stop_are_missing_data_not_a_drop_in_calls(tmp_path):
    ctx = _ctx(_holed(tmp_path))
    res = run(ctx, "edge_rates", bucket_minutes=1)
    api = next(r for r in res.data if (r.caller, r.callee) == ("search", "geo-api"))
    assert api.calls_change is None        # the minutes without spans are unknown, not zero calls (eighth session)
    assert "spans missing 10:50–10:53, 11:25–12:00" in res.text
    assert " ? ? ?" in res.text     # empty minutes are not printed as 0


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


# ---- latency steps: which percentile, on how many spans, what moved with it ------------------------------------
def _web_store(root, own, op=lambda i, m: "GET /item", wire=lambda i, m: 1.0, db_ms=0.0):
    """web → store, a request every 5 s for 46 minutes, paged at 43 (no errors: the split is halfway to the
    page). own(i, minute) is store's own time, op its operation, wire the time between web's call and store's
    server span; with db_ms store's server span has an internal child (its query) of that many ms."""
    import yaml
    root.mkdir(parents=True)
    (root / "incident.yaml").write_text(yaml.safe_dump({
        "format": 1, "id": "web-store", "title": "web latency SLO burn", "window": {"start": at(0), "end": at(46)},
        "alert": {"at": at(43), "service": "web", "summary": "web latency SLO burn"}}))
    spans = []
    for i in range(46 * 12):
        m, tid = i / 12, f"t{i:05d}"
        serve = own(i, m) + db_ms
        call = serve + wire(i, m)

        def span(sid, parent, svc, kind, dur, **more):
            spans.append({"time": at(m), "trace_id": tid, "span_id": sid, "parent_span_id": parent, "service": svc,
                          "kind": kind, "duration_ms": dur, **more})
        span("w", None, "web", "server", call + 2, operation="GET /")
        span("wc", "w", "web", "client", call, operation="HTTP GET", peer_service="store")
        span("ss", "wc", "store", "server", serve, operation=op(i, m))
        if db_ms:
            span("sq", "ss", "store", "internal", db_ms, operation="SELECT item")
    write_jsonl(root / "spans.jsonl", spans)
    return root


def test_a_latency_step_says_its_percentile_and_the_spans_behind_it(tmp_path):
    """TrainTicket: service_map showed p50/p99, the detector p90, and nothing said whether a step stood on 4 spans
    or 400."""
    ctx = _ctx(_web_store(tmp_path / "slow", own=lambda i, m: 60.0 if m >= 40 else 5.0 + i % 3))
    res = run(ctx, "latency_by_service")
    step = next(r for r in res.data if (r.service, r.view) == ("store", "own"))
    # 30 s buckets of 6 server spans: 43 whole buckets before the split at 09:21:30, 12 from 09:40
    assert (step.spans_before, step.spans_after) == (258, 72)
    assert "own p90" in ctx.ledger.get(step.evidence).summary
    assert "258 spans before, 72 after" in ctx.ledger.get(step.evidence).summary
    assert "258→72" in res.text and "Per 30s bucket of ≥5 spans: baseline_ms/level_ms = median p90" in res.text
    assert "p90" in run(ctx, "service_map").text.split("\n")[1]


def test_call_is_not_wire_plus_the_callees_own_time_and_the_output_says_why(tmp_path):
    """TrainTicket: a call row was not its wire row plus the callee's own row, unexplained. Wire time is the call
    minus the callee's whole server span (its own time and its query here), not minus its own time."""
    d = _web_store(tmp_path / "net", own=lambda i, m: 5.0, wire=lambda i, m: 200.0 if m >= 40 else 1.0, db_ms=30.0)
    ctx = _ctx(d)
    res = run(ctx, "latency_by_service")
    rows = {r.view: r for r in res.data if r.peer_service == "store"}
    assert rows["call"].level_ms == pytest.approx(rows["wire"].level_ms + 35, abs=1)     # 35: store's server span
    said = ctx.ledger.get(rows["wire"].evidence).summary
    assert "minus store's server span" in said and "own time" not in said
    assert "wire = call minus peer_service's server span" in res.text and "call = wire + that whole span" in res.text
    assert "not wire + the peer's own row" in res.text and "p90s do not add" in res.text


def test_only_the_tail_moved_is_said_when_the_median_stayed(tmp_path):
    """One request in six became slow: the p90 rose twentyfold, the median not at all."""
    ctx = _ctx(_web_store(tmp_path / "tail", own=lambda i, m: 300.0 if m >= 40 and i % 6 == 0 else 5.0))
    res = run(ctx, "latency_by_service")
    step = next(r for r in res.data if (r.service, r.view) == ("store", "own"))
    assert step.ratio > 10 and step.note == "tail only" and (step.p50_before_ms, step.p50_after_ms) == (5, 5)
    assert "p50 5 → 5 ms); only the tail moved" in ctx.ledger.get(step.evidence).summary and "| 5→5 |" in res.text
    whole = _ctx(_web_store(tmp_path / "all", own=lambda i, m: 60.0 if m >= 40 else 5.0))
    assert not any(r.note for r in run(whole, "latency_by_service").data)


def test_a_changed_mix_of_operations_is_said(tmp_path):
    """No endpoint got slower: a slow report, once in 24 requests before, is every other request after."""
    def op(i, m):
        return "GET /report" if (i % 2 if m >= 40 else i % 24 == 0) else "GET /item"
    ctx = _ctx(_web_store(tmp_path / "mix", own=lambda i, m: 60.0 if op(i, m) == "GET /report" else 5.0, op=op))
    res = run(ctx, "latency_by_service")
    step = next(r for r in res.data if (r.service, r.view) == ("store", "own"))
    assert step.note == "operation mix changed: GET /report 4% → 50% of spans"
    assert "operation mix changed" in ctx.ledger.get(step.evidence).summary and "GET /report 4%" in res.text


# ---- log_patterns: NEW is a log statement not seen before, not another length of one that was --------------------
def test_variants_of_one_log_statement_are_one_row_and_not_new(tmp_path):
    """TrainTicket: `OrderServiceImpl#65 … soldTickets=[Ticket(…), …]` logged all along; Drain gives each list length
    its own template, so every length first seen after the split was listed as NEW (~18 info templates)."""
    d = _web_store(tmp_path / "logs", own=lambda i, m: 5.0)
    logs = []
    for i in range(46 * 2):
        m = i / 2
        n = (i % 3 + 1) if m < 21.5 else (i % 5 + 4)       # 1–3 tickets before the split, 4–8 after
        tickets = ", ".join(f"Ticket(seatNo={1000 + k}, startStation=shanghai)" for k in range(n))
        logs.append({"time": at(m), "service": "order", "level": "info",
                     "message": f"16:49:25.113 INFO  o.s.OrderServiceImpl#65 [getSoldTickets][info is: [{tickets}]]"})
        logs.append({"time": at(m), "service": "order", "level": "info",    # no location: a list without one
                     "message": "sold seats " + " ".join(f"s{k}" for k in range(n + 6))})
        if m >= 30:
            logs.append({"time": at(m), "service": "order", "level": "error",
                         "message": "16:49:25.113 ERROR o.s.OrderServiceImpl#80 [cancel][Order Status Wrong]"})
    write_jsonl(d / "logs.jsonl", logs)
    res = run(_ctx(d), "log_patterns", service="order")
    new = [r for r in res.data if r.new]
    assert [r.template for r in new] == ["<NUM>:<NUM>:<NUM> ERROR o.s.OrderServiceImpl#80 [cancel][Order Status Wrong]"]
    assert len(res.data) == 3
    listed = next(r for r in res.data if "#65" in r.template)
    assert listed.variants >= 5 and listed.before > 0 and listed.after > 0
    assert "variants" in res.text


# ---- metric names whose meaning hangs on which side of a call measures them ---------------------------------------
def test_describe_incident_says_which_side_measures_client_and_server_latency(tmp_path):
    """Nezha: PodClientLatencyP90(s) and PodServerLatencyP90(s) were listed bare; the model could not tell the
    caller's view (the callee's time plus the network) from the callee's own handling time."""
    d = _web_store(tmp_path / "pods", own=lambda i, m: 5.0)
    write_jsonl(d / "metrics.jsonl", [{"time": at(m), "service": "store", "name": name, "value": 0.01}
                                      for m in range(46) for name in ("PodClientLatencyP90(s)",
                                                                      "PodServerLatencyP90(s)", "cpu_utilization")])
    text = run(_ctx(d), "describe_incident").text
    meanings = next(line for line in text.splitlines() if line.startswith("metric meanings: "))
    assert "PodClientLatency*: the pod's outgoing calls timed at the caller (the callee's time + the network)" in meanings
    assert "PodServerLatency*: requests the pod served, timed at the callee (its handling" in meanings
    assert "histogram's top bucket" in meanings
    plain = _web_store(tmp_path / "plain", own=lambda i, m: 5.0)
    write_jsonl(plain / "metrics.jsonl", [{"time": at(m), "service": "store", "name": "cpu_utilization",
                                           "value": 0.1} for m in range(46)])
    assert "metric meanings" not in run(_ctx(plain), "describe_incident").text


# ---- sixth session's LLM seat: a cut log line hid its exception; a 2-minute metric baseline read as "no change" --
SERVLET = ("10:13:35.123 ERROR o.a.c.c.C.[.[.[.[dispatcherServlet]#175 TraceID: 0123456789abcdef0123456789abcdef "
           "SpanID: 0123456789abcdef Servlet.service() for servlet [dispatcherServlet] in context with path [] threw "
           "exception [Request processing failed; nested exception is java.lang.IllegalStateException: No instances "
           "available for ts-basic-service] with root cause\n\njava.lang.IllegalStateException: No instances available "
           "for ts-basic-service\n\tat org.springframework.cloud.netflix.ribbon.RibbonLoadBalancerClient.execute(Ri"
           "bbonLoadBalancerClient.java:83)\n")


def test_a_cut_log_line_keeps_the_exception_it_names(tmp_path):
    """search_logs cut every TrainTicket servlet error before its cause: a model probed a dozen substrings to
    learn 'IllegalStateException: No instances available for ts-basic-service'."""
    d = build(tmp_path / "servlet")
    with open(d / "logs.jsonl", "a") as f:
        f.write(json.dumps({"time": ts(80), "service": "travel", "level": "error", "message": SERVLET}) + "\n")
    res = run(_ctx(d), "search_logs", service="travel", level="error")
    assert "java.lang.IllegalStateException: No instances available for ts-basic-service …" in res.text
    assert "RibbonLoadBalancerClient" not in res.text and len(res.text) < 1000


def test_a_line_cut_twice_keeps_its_exception():
    """A sample line cut to 300, then to a table cell's 160: the second cut fell inside the kept cause and showed
    'java.lang.IllegalStateException: No… (+58 chars)' (seventh session's LLM seat). Wherever the cut falls."""
    from tools.common import clip
    for pad in range(0, 80, 3):
        shown = clip(clip("x" * pad + SERVLET.split("\n")[0], 300), 160)     # the line as TrainTicket logs it
        assert "IllegalStateException: No instances available for ts-basic-service" in shown, pad


def test_metric_changes_on_too_short_a_baseline_gives_no_verdict(tmp_path):
    """Nezha 10:12: two minutes of metrics before the split; 'no series left its baseline' read as nothing changed
    (271 changed with a later split)."""
    ctx = _ctx(quiet_system(tmp_path / "cpu", "cpu"))
    res = TOOLS["metric_changes"](ctx, {"split_at": at(2)})
    assert res.status.value == "no_data" and not res.evidence_ids and "too short a baseline" in res.text
    # where a split would leave enough before it: the metrics begin with the window (minute 0), 3 points on
    assert f"the metrics begin at {at(0)[11:16]}: a split_at from {at(3)[11:16]} on" in res.text
    assert run(ctx, "metric_changes").data             # the default split has a baseline: the CPU step is found


def test_log_patterns_marks_a_statement_that_stopped_and_lists_it_early(tmp_path):
    """Nezha 10:12: TravelServiceImpl#457 went 40 → 0 while the service's other lines went on; sorted by rate
    rise it was row 14 of 14 (past where a model reads), unmarked, and the model missed the fault."""
    d = tmp_path / "stop"
    d.mkdir()
    (d / "incident.yaml").write_text(json.dumps({
        "format": 1, "id": "stop", "title": "t", "window": {"start": at(0), "end": at(20)},
        "alert": {"at": at(18), "service": "travel"}}))
    lines = [(f"INFO t.s.Impl#{n} step {n} done", n) for n in range(400, 430)]      # 30 steady statements
    rows = [{"time": at(m + k / 40), "service": "travel", "level": "info", "message": text}
            for m in range(20) for k, (text, n) in enumerate(lines) if not (n == 457 and m >= 9)]
    rows += [{"time": at(m + 0.9), "service": "travel", "level": "info", "message": "INFO t.s.Impl#457 route found"}
             for m in range(9)]
    write_jsonl(d / "logs.jsonl", rows)
    res = run(_ctx(d), "log_patterns", service="travel")
    [stopped] = [r for r in res.data if r.stopped]
    assert "#457" in stopped.template and res.data.index(stopped) == 0 and "stopped" in res.text.splitlines()[2]


def test_a_wire_outlier_without_a_baseline_ranks_after_measured_steps(tmp_path):
    """Nezha 10:12: 'travel→seat wire outlier 3.01 → 223 ms (74×)' led latency_by_service; it had no baseline only
    because spans were missing before 10:11, and a model took it for the fault. web→store's wire time steps up
    (a baseline of its own); web→cache has spans only from minute 8, far slower than every other edge."""
    from test_mesh_delay import spans_system

    def trace(i):
        m, own = i / 12, 5.0 + (i % 3)
        wire = 40.0 if m >= 9 else 1.0 + (i % 2) * 0.5
        spans = [("w", None, "web", "server", 400.0, None), ("wc", "w", "web", "client", own + wire, "store"),
                 ("ss", "wc", "store", "server", own, None), ("wd", "w", "web", "client", own + 1.0, "db"),
                 ("ds", "wd", "db", "server", own, None)]
        if m >= 8:
            spans += [("wk", "w", "web", "client", own + 300.0, "cache"), ("ks", "wk", "cache", "server", own, None)]
        return tuple(spans)
    rows = run(_ctx(spans_system(tmp_path / "outlier", "outlier", 16, 13, trace)), "latency_by_service").data
    shapes = [(r.peer_service, r.shape) for r in rows if r.view == "wire"]
    assert shapes.index(("store", "step")) < shapes.index(("cache", "outlier")), shapes
    assert max(r.ratio for r in rows if r.shape == "outlier") > max(r.ratio for r in rows if r.shape == "step")
