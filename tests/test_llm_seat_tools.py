"""What an LLM in the model's seat missed on Nezha TrainTicket dev faults, seventh session (NOTES "LLM-seat
items, seventh session"). Each test fails on the code before its change."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from factory import write_jsonl
from tools import TOOLS, ToolContext
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.evidence import EvidenceLedger

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc)


def at(minute: float) -> str:
    return (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def _incident(root: Path, end: float, alert: float) -> Path:
    root.mkdir(parents=True)
    (root / "incident.yaml").write_text(yaml.safe_dump({
        "format": 1, "id": root.name, "title": "page", "window": {"start": at(0), "end": at(end)},
        "alert": {"at": at(alert), "service": "gateway", "summary": "gateway SLO burn"}}))
    return root


def _ctx(d: Path) -> ToolContext:
    return ToolContext(SnapshotTelemetry(d), EvidenceLedger())


def run(ctx: ToolContext, name: str, **args):
    res = TOOLS[name](ctx, args)
    assert not res.error, res.text
    return res


# ---- error_onsets: a last minute the records cover for seconds is not a per-minute count ------------------------
def test_error_onsets_lists_a_service_whose_errors_began_with_another_when_the_records_end_seconds_later(tmp_path):
    """TrainTicket 10:12 (travel's fault): travel2 and travel each logged 6 errors in 10:13 and the logs end four
    seconds into 10:14, where travel2 had 2 errors and travel 1; travel's one error was under the 'more than one a
    minute' floor, so the sustain test failed and error_onsets listed travel2 alone."""
    d = _incident(tmp_path / "cut", end=20, alert=16)
    logs = []
    for m in range(14):
        for svc in ("travel", "travel2"):
            logs += [{"time": at(m + i / 40), "service": svc, "level": "info", "message": f"GET /route {i}"}
                     for i in range(40)]
    for svc, last in (("travel", 1), ("travel2", 2)):
        logs += [{"time": at(13 + i / 7), "service": svc, "level": "error",
                  "message": "No instances available for basic"} for i in range(6)]
        logs += [{"time": at(14 + i / 60), "service": svc, "level": "error",
                  "message": "No instances available for basic"} for i in range(last)]
    logs.append({"time": at(14 + 4 / 60), "service": "gateway", "level": "info", "message": "GET / 200"})
    write_jsonl(d / "logs.jsonl", sorted(logs, key=lambda r: r["time"]))
    res = run(_ctx(d), "error_onsets")
    assert {o.service for o in res.data} == {"travel", "travel2"}
    assert all(o.onset == T0 + timedelta(minutes=13) for o in res.data)


# ---- metric_changes: a node's metric once per node; a histogram bucket move after measured changes ---------------
def test_metric_changes_gives_a_node_series_one_row_and_ranks_a_bucket_move_after_measured_changes(tmp_path):
    """TrainTicket 10:50: NodeNetworkReceiveBytes came once per pod on the node (three identical rows), and
    PodClientLatencyP99 flat at 0.00496 (one histogram bucket) → 0.0488 ranked first at z 177."""
    d = _incident(tmp_path / "node", end=30, alert=24)
    rows = []
    for m in range(30):
        after = m >= 15
        for svc in ("cart", "seat", "wait"):      # one node: the same value under each pod's service
            rows.append({"time": at(m), "service": svc, "name": "NodeNetworkReceiveBytes",
                         "value": (1_300_000.0 if after else 295_000.0) + (m % 3) * 1000})
        rows.append({"time": at(m), "service": "store", "name": "cpu_utilization",
                     "value": (0.6 if after else 0.3) + (m % 4) * 0.02})
        rows.append({"time": at(m), "service": "delivery", "name": "PodClientLatencyP99(s)",
                     "value": 0.0488 if after else (0.049 if m == 3 else 0.00496)})
    write_jsonl(d / "metrics.jsonl", rows)
    ctx = _ctx(d)
    res = run(ctx, "metric_changes", split_at=at(14))
    node = [r for r in res.data if r.name == "NodeNetworkReceiveBytes"]
    assert len(node) == 1 and sorted([node[0].service] + node[0].same_in) == ["cart", "seat", "wait"]
    assert "+2 same" in res.text and "seat" in ctx.ledger.get(node[0].evidence).summary
    assert res.data[-1].name == "PodClientLatencyP99(s)" and res.data[-1].bucketed
    assert res.data[-1].z <= 10 and "bucket move" in res.text
    assert not res.data[0].bucketed


# ---- edge_rates: every edge dropping at once over missing spans is said once ----------------------------------
EDGES = (("gateway", "travel"), ("travel", "basic"), ("basic", "station"), ("travel", "seat"), ("seat", "config"))


def _calls(minutes: range, per_min) -> list[dict]:
    spans = []
    for m in minutes:
        for caller, callee in EDGES:
            n = per_min(m)
            spans += [{"time": at(m + i / n), "trace_id": f"t{m}-{caller}-{i}", "span_id": f"s{m}-{caller}-{i}",
                       "service": caller, "operation": f"GET /{callee}", "duration_ms": 5.0, "kind": "client",
                       "peer_service": callee} for i in range(n)]
    return spans


def test_edge_rates_reads_minutes_without_spans_as_unknown_not_as_calls_that_stopped(tmp_path):
    """TrainTicket: spans end before the window does; every edge's calls 'went down' there, and the relay seat
    (eighth session) read 'at page 16.4' for an edge making 50 calls a minute: the mean took the minutes without
    spans as zeros. Both come from the minutes that have spans now."""
    d = _incident(tmp_path / "gap", end=30, alert=24)
    spans = _calls(range(20), lambda m: 6)              # spans end at 08:20, ten minutes before the window's end
    write_jsonl(d / "spans.jsonl", spans)
    res = run(_ctx(d), "edge_rates", bucket_minutes=1)
    assert "no edge's call or error rate left its baseline" in res.text and "spans missing 08:19:50" in res.text
    assert {(r.calls_change, r.calls_at_page) for r in res.data} == {(None, 6.0)}
    assert "'at page' = the mean per minute 2026-07-01 08:09–08:24Z (of its minutes with spans" in res.text
    # spans that stop well before the page (an outage of the span pipeline, or of everything): unknown there
    cut = _incident(tmp_path / "cut", end=30, alert=24)
    write_jsonl(cut / "spans.jsonl", _calls(range(8), lambda m: 6))
    out = run(_ctx(cut), "edge_rates", bucket_minutes=1)
    assert "no spans in the minutes before the page: the rates there are unknown, not unchanged" in out.text
    # 'at page' is the mean over the minutes there are: a window that began 10 minutes before the page, not 15
    short = _incident(tmp_path / "short", end=12, alert=10)
    write_jsonl(short / "spans.jsonl", [r for r in spans if r["time"] < at(12)])
    assert "'at page' = the mean per minute 2026-07-01 08:00–08:10Z" in run(_ctx(short), "edge_rates").text


def test_edge_rates_says_once_that_every_edge_changed_together(tmp_path):
    """TrainTicket 10:12: 44 of 48 edges' calls 'went up' at one minute, each row on its own; the model read them
    one edge at a time. One line says the stream as a whole changed, and the rows say 'together'."""
    d = _incident(tmp_path / "surge", end=20, alert=16)
    write_jsonl(d / "spans.jsonl", _calls(range(20), lambda m: 6 if m < 10 else 18))
    res = run(_ctx(d), "edge_rates", bucket_minutes=1)
    assert "5 of 5 edges' calls went up together at 08:10" in res.text
    assert all(r.together for r in res.data) and res.text.count("up 08:10 together") == 5


# ---- log_patterns: the services an exception names ------------------------------------------------------------
def test_log_patterns_counts_the_services_an_error_template_names(tmp_path):
    """TrainTicket 10:12: 'No instances available for <*>' hid which service callers could not reach; the model
    probed search_logs a dozen times to learn it was ts-basic-service."""
    d = _incident(tmp_path / "names", end=20, alert=16)
    logs = []
    for m in range(20):
        for svc in ("travel", "travel2", "basic", "basic-admin", "station"):
            logs.append({"time": at(m), "service": svc, "level": "info", "message": f"{svc} handled GET /x"})
        if m >= 10:
            for i, (svc, target) in enumerate((("travel", "basic"), ("travel2", "basic"), ("travel", "station"))):
                logs.append({"time": at(m + 0.1 + i / 10), "service": svc, "level": "error",
                             "message": f"java.lang.IllegalStateException: No instances available for {target}"})
            logs.append({"time": at(m + 0.5), "service": "travel", "level": "error",
                         "message": "travel: Connection refused (basic-admin:8080)"})
    write_jsonl(d / "logs.jsonl", sorted(logs, key=lambda r: r["time"]))
    res = run(_ctx(d), "log_patterns", split_at=at(9))
    no_instances = next(r for r in res.data if "No instances" in r.template)
    assert no_instances.names == "basic 20, station 10"
    refused = next(r for r in res.data if "refused" in r.template)
    assert refused.names == "basic-admin 10"                 # the whole name, and not the logger (travel)
    assert "basic 20, station 10" in res.text


# ---- latency_by_service: the slowest traces' path to the span that holds their time -----------------------------
def test_latency_by_service_follows_the_slowest_traces_to_the_span_holding_their_time(tmp_path):
    """TrainTicket: the model asked which child span carried the extra time of the slowest traces; no tool said."""
    d = _incident(tmp_path / "slow", end=30, alert=24)
    spans = []
    for i in range(30 * 6):                             # a request every 10 s; store's query slows from 08:15
        m, t = i / 6, f"t{i}"
        query = 300.0 + i if m >= 15 and i % 2 else 3.0
        for sid, parent, svc, op, kind, dur in (
                ("a", None, "api", "GET /cart", "server", query + 9), ("b", "a", "api", "GET store", "client", query + 6),
                ("c", "b", "store", "GET /items", "server", query + 4), ("d", "c", "store", "query", "internal", query),
                ("e", "a", "api", "render", "internal", 2.0)):
            spans.append({"time": at(m), "trace_id": t, "span_id": f"{t}{sid}", "parent_span_id": parent and f"{t}{parent}",
                          "service": svc, "operation": op, "duration_ms": dur, "kind": kind,
                          **({"peer_service": "store"} if kind == "client" else {})})
    write_jsonl(d / "spans.jsonl", spans)
    ctx = _ctx(d)
    res = run(ctx, "latency_by_service", service="api", split_at=at(14))
    slow = next(line for line in res.text.splitlines() if line.startswith("trace t179 "))
    assert "api GET /cart 488 → GET store → store 485 → store GET /items 483 → query 479" in slow
    assert "own time 479 ms in store query (usual 3 ms)" in slow
    ev = ctx.ledger.get(res.text.split("] slowest traces")[0].rsplit("[", 1)[1])
    assert ev.attributes == {"view": "slowest traces", "carrier": "store"} and "in store's own time" in ev.summary
    # The time in a client call with no span of the callee under it names the callee (the model had to guess it)
    write_jsonl(d / "spans.jsonl", [r for r in spans if r["service"] == "api"])
    slow = next(line for line in run(_ctx(d), "latency_by_service", service="api", split_at=at(14)).text.splitlines()
                if line.startswith("trace t179 "))
    assert "own time 485 ms in api GET store, a call to store with no span of store's under it" in slow


# ---- the node each service runs on, where the records say it ---------------------------------------------------
def test_the_node_of_each_service_is_told_where_log_records_name_it(tmp_path):
    """TrainTicket: the model wanted a pod → node map; Nezha's log records carry the node, nothing showed it."""
    d = _incident(tmp_path / "nodes", end=30, alert=24)
    logs, metrics = [], []
    for m in range(30):
        for svc, node in (("cart", "10.0.0.1"), ("seat", "10.0.0.1"), ("pay", "10.0.0.2")):
            logs.append({"time": at(m), "service": svc, "level": "info", "message": "ok", "instance": f"{svc}-0",
                         "attributes": {"node": node}})
            metrics.append({"time": at(m), "service": svc, "name": "NodeNetworkReceiveBytes",
                            "value": (9e5 if m >= 15 and node == "10.0.0.1" else 3e5) + (m % 3) * 1000})
        metrics.append({"time": at(m), "service": "store", "name": "cpu_utilization", "value": 0.3})
    write_jsonl(d / "logs.jsonl", logs)
    write_jsonl(d / "metrics.jsonl", metrics)
    ctx = _ctx(d)
    desc = run(ctx, "describe_incident").text
    assert ("services by node (2 nodes, from the node their log records name; none for 1 more services): "
            "10.0.0.1: cart, seat; 10.0.0.2: pay") in desc
    res = run(ctx, "metric_changes", split_at=at(14))
    assert res.data[0].node == "10.0.0.1" and "cart +1 same (node 10.0.0.1)" in res.text


def test_logs_naming_no_node_are_not_sampled_over_the_window(tmp_path, monkeypatch):
    """A service's first records say whether its records name a node; only then is it sampled over the window
    (a spread sample is a scan each: 1.2 s of describe_incident at 5M lines, benchmarks/run.py). A busy service
    naming none does not hide a small one that does (a review found one spread over all services did)."""
    d = _incident(tmp_path / "mixed", end=30, alert=24)
    logs = [{"time": at(m / 100), "service": "gateway", "level": "info", "message": "ok"} for m in range(3000)]
    logs += [{"time": at(m), "service": svc, "level": "info", "message": "ok", "attributes": {"k8s.node.name": "n7"}}
             for m in range(5) for svc in ("cart", "pay")]
    write_jsonl(d / "logs.jsonl", sorted(logs, key=lambda r: r["time"]))
    ctx = _ctx(d)
    orders = []
    real = ctx.telemetry.sample
    monkeypatch.setattr(ctx.telemetry, "sample", lambda source, where, **kw: orders.append(
        (where.services, kw.get("order", "time"))) or real(source, where, **kw))
    assert "n7: cart, pay" in run(ctx, "describe_incident").text
    assert sorted(s for (s,), order in orders if order == "spread") == ["cart", "pay"]


# ---- query_metric by=service: the groups past the table are not dropped -----------------------------------------
def test_query_metric_by_service_gives_every_service_past_the_table_in_brief(tmp_path):
    """TrainTicket has 46 services; by=service cut 16 of them, exactly the ones a model wanted."""
    d = _incident(tmp_path / "many", end=20, alert=15)
    write_jsonl(d / "metrics.jsonl", [{"time": at(m), "service": f"svc-{i:02d}", "name": "cpu_utilization",
                                       "value": 0.1 + i / 1000} for i in range(40) for m in range(20)])
    res = TOOLS["query_metric"](_ctx(d), {"name": "cpu_utilization", "by": "service"})
    assert "… 10 more rows left out" in res.text and "those 10, baseline → last:" in res.text
    assert all(f"svc-{i:02d}" in res.text for i in range(40))


def test_edge_rates_shows_a_minute_the_spans_barely_cover_as_unknown_not_a_drop(tmp_path):
    """Spans end 4 s into 08:10: that minute's count (1 call) read as the edge dropping from 6 to 1."""
    d = _incident(tmp_path / "end", end=15, alert=12)
    spans = [{"time": at(i / 6), "trace_id": f"t{i}", "span_id": f"s{i}", "service": "gateway", "kind": "client",
              "operation": "GET /travel", "duration_ms": 5.0, "peer_service": "travel"} for i in range(60)]
    spans.append({**spans[0], "time": at(10 + 4 / 60), "trace_id": "tz", "span_id": "sz"})   # then none after 08:10:04
    write_jsonl(d / "spans.jsonl", spans)
    res = TOOLS["edge_rates"](_ctx(d), {"bucket_minutes": 1})
    series = next(line for line in res.text.splitlines() if line.startswith("gateway→travel:")).split(": ", 1)[1]
    assert series.split()[:10] == ["6"] * 10 and set(series.split()[10:]) == {"?"}


# ---- error_onsets: an episode that was over well before the page is not the symptom ---------------------------
def test_an_error_episode_over_before_the_page_is_marked_ended_and_not_the_symptom(tmp_path):
    """OnlineBoutique 0635: the frontend's error_rate 0 → 0.84 for 06:28–06:30, then 0 until the page at 06:39;
    the CPU fault began at 06:35. The earlier episode dated the symptom, and the CPU jump read as 'after it'."""
    from factory import heuristic_run
    d = _incident(tmp_path / "ep", end=40, alert=36)
    write_jsonl(d / "metrics.jsonl",
                [{"time": at(m), "service": "gateway", "name": "error_rate", "value": 0.8 if 21 <= m <= 23 else 0.0}
                 for m in range(40)]
                + [{"time": at(m), "service": "gateway", "name": "cpu_utilization", "value": 0.2} for m in range(40)]
                + [{"time": at(m), "service": "catalog", "name": "cpu_utilization",
                    "value": 0.9 + (m % 2) / 100 if m >= 31 else 0.3 + (m % 3) / 100} for m in range(40)])
    write_jsonl(d / "spans.jsonl", [
        {"time": at(i / 6), "trace_id": f"t{i}", "span_id": f"s{i}", "service": "gateway", "kind": "client",
         "operation": "GET /catalog", "duration_ms": 5.0, "peer_service": "catalog"} for i in range(240)])
    res = TOOLS["error_onsets"](_ctx(d), {})
    [o] = res.data
    assert (o.service, o.ended_at) == ("gateway", T0 + timedelta(minutes=23)) and "ended" in res.text
    report = heuristic_run(d).report
    assert report.root_cause is not None and (report.root_cause.service, report.root_cause.kind) == (
        "catalog", "resource_saturation")


# ---- log_patterns: a rate per minute of logs, not of window -----------------------------------------------------
def test_log_patterns_rates_are_per_minute_of_logs_not_of_window(tmp_path):
    """TrainTicket: the logs end a minute after the split; per_min_after divided by the whole rest of the window
    read every template as falling five-fold, a traffic collapse that did not happen."""
    d = _incident(tmp_path / "rates", end=20, alert=16)              # the tools' split: minute 8
    write_jsonl(d / "logs.jsonl", [{"time": at(i / 6), "service": "travel", "level": "info",
                                    "message": "t.s.TravelServiceImpl#372 [getTickets][Calculate distance]"}
                                   for i in range(9 * 6)])           # 6 a minute, until minute 9; none after
    [row] = TOOLS["log_patterns"](_ctx(d), {"service": "travel"}).data
    assert row.per_min_before == pytest.approx(6, rel=0.1) and row.per_min_after == pytest.approx(6, rel=0.2)


def test_query_metric_from_a_start_after_the_baseline_has_no_baseline_of_zero(tmp_path):
    """Nezha TrainTicket 10:04 (relay seat, eighth session): asked from 10:05, after the tools' split, query_metric
    said "baseline 0 … shifted up at 10:05 (None%)"; no point before the split is no baseline, not a zero one."""
    d = _incident(tmp_path / "inc", end=20, alert=16)
    write_jsonl(d / "metrics.jsonl", [{"time": at(m), "service": "order", "name": "latency_p99_ms",
                                       "value": 20.0 if m < 14 else 240.0} for m in range(20)])
    ctx = _ctx(d)
    late = TOOLS["query_metric"](ctx, {"name": "latency_p99_ms", "service": "order", "start": at(10)})
    assert "no point before the baseline's end (08:08)" in late.text and "None%" not in late.text
    row = late.data.overall
    assert (row.baseline, row.shift, row.max) == (None, None, 240.0)
    whole = TOOLS["query_metric"](ctx, {"name": "latency_p99_ms", "service": "order"})
    assert whole.data.overall.shift == "up" and "(1100.0%)" in whole.text


def test_query_metric_compares_at_the_split_every_other_tool_uses(tmp_path):
    """Relay seat, eighth session: one series had a baseline of 495 in metric_changes and 875 in query_metric,
    which cut halfway to the page while the other tools cut a minute before the earliest error onset."""
    d = _incident(tmp_path / "inc", end=20, alert=16)
    write_jsonl(d / "logs.jsonl", [{"time": at(m + i / 10), "service": "order", "level": lvl,
                                    "message": f"{lvl} line"} for m in range(20) for i in range(10)
                                   for lvl in (["info"] + (["error"] if m >= 8 else []))])
    write_jsonl(d / "metrics.jsonl", [{"time": at(m), "service": "order", "name": "latency_p99_ms",
                                       "value": 10.0 if m < 7 else 50.0} for m in range(20)])
    res = TOOLS["query_metric"](_ctx(d), {"name": "latency_p99_ms", "service": "order"})
    assert "; split at 08:07 (a minute before the earliest error onset)" in res.text
    assert res.data.overall.baseline == 10.0 and res.data.overall.shift == "up"


# ---- search_logs: a match's count per minute, with minutes that have no logs at all marked unknown ------------
def test_search_logs_gives_a_matchs_count_per_minute_and_marks_minutes_without_logs_unknown(tmp_path):
    """TrainTicket: a model wanted one template's count per minute to see when it began and stopped; search_logs
    gave one total. Minutes 6–8 have no log lines at all (a hole): they are '?', not 0."""
    d = _incident(tmp_path / "pm", end=12, alert=10)
    logs = []
    for m in [m for m in range(12) if m not in (6, 7, 8)]:
        logs += [{"time": at(m + i / 10), "service": "order", "level": "info", "message": f"GET /order {i}"}
                 for i in range(5)]
        logs += [{"time": at(m + 0.05 + i / 20), "service": "order", "level": "error",
                  "message": "No instances available for price"} for i in range({3: 2, 4: 4, 5: 1, 9: 3}.get(m, 0))]
    write_jsonl(d / "logs.jsonl", sorted(logs, key=lambda r: r["time"]))
    res = run(_ctx(d), "search_logs", text="no instances available")
    line = res.text.splitlines()[1]
    assert line == ("per minute ('?': no log lines at all that minute, missing not zero): 08:00–08:02 0 · 08:03 2 · "
                    "08:04 4 · 08:05 1 · 08:06–08:08 ? · 08:09 3 · 08:10–08:11 0"), line
    assert "per minute" not in run(_ctx(d), "search_logs", service="order").text      # no text: no match to count
    # A service searched alone: its own silent minutes are '?' even when another service logged then (review)
    write_jsonl(d / "logs.jsonl", sorted(logs + [{"time": at(7.5), "service": "gateway", "level": "info",
                                                  "message": "GET /"}], key=lambda r: r["time"]))
    one = run(_ctx(d), "search_logs", service="order", text="no instances available").text.splitlines()[1]
    assert "08:06–08:08 ?" in one, one
    assert "per minute" not in run(_ctx(d), "search_logs", text="nothing like it").text


def test_search_logs_per_minute_stays_one_bounded_line(tmp_path):
    d = _incident(tmp_path / "long", end=200, alert=190)
    write_jsonl(d / "logs.jsonl", [{"time": at(m + 0.5), "service": "order", "level": "error",
                                    "message": f"timeout {'x' * (m % 2)}"} for m in range(200) for _ in range(1 + m % 2)])
    line = run(_ctx(d), "search_logs", text="timeout").text.splitlines()[1]
    assert line.startswith("per minute: 08:00 1 · 08:01 2 · ") and "?" not in line
    assert line.count(" · ") == 39 and line.endswith("… 160 more runs (narrow start/end)")


def test_error_onsets_names_an_error_burst_inside_the_baseline(tmp_path):
    """Relay seat, eighth session (TrainTicket 09:38): basic's burst of "No instances available" errors at 09:33
    sat inside the baseline, so error_onsets said only "no service's errors rose"; the model found it by search."""
    d = _incident(tmp_path / "b", end=20, alert=16)
    logs = [{"time": at(m + i / 10), "service": "order", "level": "info", "message": "GET /order"}
            for m in range(20) for i in range(10)]
    logs += [{"time": at(3 + i / 20), "service": "basic", "level": "error",
              "message": "No instances available for ts-train-service"} for i in range(15)]
    logs += [{"time": at(m + 0.5), "service": "order", "level": "error", "message": "order not found"} for m in range(20)]
    write_jsonl(d / "logs.jsonl", sorted(logs, key=lambda r: r["time"]))
    text = run(_ctx(d), "error_onsets").text
    assert "error bursts inside the baseline itself" in text and "basic 15 at 08:03 (usual 0/min)" in text
    assert "order " not in text.split("baseline itself")[1]          # one error a minute, every minute: no burst


def test_metric_changes_ranks_a_change_that_began_after_the_page_after_those_before_it(tmp_path):
    """Relay seat, eighth session (TrainTicket 10:08): the top rows of metric_changes began at 10:09–10:10, after
    the page; a change after the page cannot have caused it."""
    d = _incident(tmp_path / "late", end=20, alert=14)
    write_jsonl(d / "metrics.jsonl", [
        {"time": at(m), "service": "admin", "name": "cpu_utilization", "value": 0.1 if m < 16 else 0.9}
        for m in range(20)] + [
        {"time": at(m), "service": "route", "name": "cpu_utilization", "value": 0.2 if m < 11 else 0.35}
        for m in range(20)])
    res = TOOLS["metric_changes"](_ctx(d), {"name": "cpu_utilization"})
    assert [r.service for r in res.data] == ["route", "admin"] and abs(res.data[1].z) > abs(res.data[0].z)
    assert "step (after the page)" in res.text and "'after the page' = began after 08:14" in res.text
