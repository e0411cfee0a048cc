"""Issue 13, items 2, 4 and 6: a ramp read as a ramp, errors by the callee's zone, percentiles that rest on
enough spans. Each test fails on the code before the fix."""
import json

import pytest

from factory import ZONES, build, ts, write_jsonl
from tools import TOOLS, ToolContext
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.evidence import EvidenceLedger


def _ctx(d):
    return ToolContext(SnapshotTelemetry(d), EvidenceLedger())


def _add(d, source, rows):
    path = d / f"{source}.jsonl"
    old = [json.loads(line) for line in open(path)] if path.exists() else []
    write_jsonl(path, old + rows)


def run(ctx, tool_name, **args):
    res = TOOLS[tool_name](ctx, args)
    assert not res.error, res.text
    return res


# ---- item 2: query_metric on a ramp -------------------------------------------------------------------------
def test_query_metric_reports_a_ramps_start_slope_and_time_to_full(tmp_path):
    d = build(tmp_path / "ramp")
    # cart's memory climbs from 10:20 (inside the baseline, which ends at 10:45) at 0.005/min and is not full yet
    _add(d, "metrics", [{"time": ts(m), "name": "memory_utilization", "service": "cart",
                         "value": 0.3 + 0.005 * max(0, m - 20)} for m in range(120)])
    c = _ctx(d)
    res = run(c, "query_metric", name="memory_utilization", service="cart")
    o = res.data.overall
    assert o.shape == "ramp" and o.ramp_start.strftime("%H:%M") in ("10:19", "10:20", "10:21")
    assert o.slope_per_min == pytest.approx(0.005, rel=0.15)
    assert o.ramp_baseline == pytest.approx(0.3, abs=0.02)          # not a baseline holding half the ramp
    assert o.minutes_to_full == pytest.approx((1.0 - o.max) / o.slope_per_min, rel=0.05)
    assert "ramped from 10:2" in res.text and "full (1.0) in ~" in res.text and "shifted up" not in res.text
    flat = run(c, "query_metric", name="cpu_utilization", service="search").data.overall
    assert flat.shape == "step" and flat.ramp_start is None and flat.minutes_to_full is None


def test_query_metric_says_when_a_disk_filled(tmp_path):
    d = build(tmp_path / "disk")
    _add(d, "metrics", [{"time": ts(m), "name": "disk_utilization", "service": "cart",
                         "value": min(1.0, 0.6 + max(0, m - 40) * 0.012)} for m in range(120)])
    res = run(_ctx(d), "query_metric", name="disk_utilization", service="cart")
    assert res.data.overall.shape == "ramp" and res.data.overall.minutes_to_full == 0
    assert "ramped from 10:4" in res.text and "full (1.0) by" in res.text


# ---- item 4: zone_breakdown by the callee's zone ------------------------------------------------------------
def _partition(tmp_path, with_addresses=True):
    """token's instances in z-b become unreachable at 11:12; callers in both zones log it, naming the address."""
    d = build(tmp_path / "part")
    reg = [{"time": ts(0), "service": "token", "instance": f"token-{z}-{k}", "event": "register",
            "address": f"10.{i}.7.{k}:8443", "zone": z} for i, z in enumerate(ZONES) for k in range(3)]
    _add(d, "registry", reg)
    lines = [{"time": ts(m + k / 10), "service": svc, "level": "error", "instance": f"{svc}-{z}", "zone": z,
              "message": (f"dial tcp 10.1.7.{k % 3 + 5}:8443: i/o timeout" if with_addresses else "i/o timeout")}
             for m in range(72, 110) for k in range(2) for svc in ("search", "api") for z in ZONES]
    _add(d, "logs", lines)
    return d


def test_zone_breakdown_names_the_callees_zone_reported_from_every_caller_zone(tmp_path):
    c = _ctx(_partition(tmp_path))
    res = run(c, "zone_breakdown", split_at="2026-03-06T11:12:00Z")
    z = res.data
    assert not z.concentrated                                  # the callers' own zones are even
    top = z.peer_zones[0]
    assert top.zone == "z-b" and top.error_share == 1.0 and set(top.caller_zones) == set(ZONES)
    assert z.peer_concentrated == "z-b" and "point at zone z-b" in res.text
    assert c.ledger.get(res.evidence_ids[0]).attributes["peer_zone"] == "z-b"
    only_token = run(c, "zone_breakdown", service="token", split_at="2026-03-06T11:12:00Z").data
    assert only_token.peer_zones and only_token.peer_zones[0].zone == "z-b"


def test_zone_breakdown_by_peer_says_when_no_record_names_a_peer(tmp_path):
    res = run(_ctx(_partition(tmp_path, with_addresses=False)), "zone_breakdown", split_at="2026-03-06T11:12:00Z")
    assert res.data.peer_zones == [] and res.data.peer_concentrated is None
    assert "no error record of calls names a peer zone" in res.text


def test_zone_breakdown_never_says_spread_when_one_zone_holds_every_error(tmp_path):
    d = build(tmp_path / "one")
    write_jsonl(d / "logs.jsonl", [{"time": ts(m), "service": "search", "level": "error" if m >= 80 else "info",
                                    "zone": "z-a", "instance": "search-z-a", "message": "boom"} for m in range(120)])
    res = run(_ctx(d), "zone_breakdown", service="search", split_at="2026-03-06T11:20:00Z")
    assert "spread across zones" not in res.text and "all 40 errors in z-a" in res.text


def test_zone_breakdown_does_not_call_a_zone_dropped_from_a_handful_of_lines(tmp_path):
    d = build(tmp_path / "few")
    rows = [{"time": ts(m), "service": "cart", "level": "info", "zone": z, "instance": f"cart-{z}", "message": "ok"}
            for m in range(0, 120, 10) for z in ZONES]
    rows = [r for r in rows if not (r["zone"] == "z-b" and r["time"] >= ts(100))]      # z-b: 0 of ~2 expected
    write_jsonl(d / "logs.jsonl", rows)
    res = run(_ctx(d), "zone_breakdown", service="cart", split_at="2026-03-06T11:40:00Z")
    assert res.data.dropped == [] and "collapsed" not in res.text
    # the same drop on enough lines is one
    rows = [{"time": ts(m + k / 10), "service": "cart", "level": "info", "zone": z, "instance": f"cart-{z}",
             "message": "ok"} for m in range(120) for k in range(3) for z in ZONES]
    write_jsonl(d / "logs.jsonl", [r for r in rows if not (r["zone"] == "z-b" and r["time"] >= ts(100))])
    assert run(_ctx(d), "zone_breakdown", service="cart", split_at="2026-03-06T11:40:00Z").data.dropped == ["z-b"]


# ---- item 6: service_map percentiles over a window ----------------------------------------------------------
def test_service_map_in_a_short_window_gives_no_degenerate_percentiles(tmp_path):
    c = _ctx(build(tmp_path / "sm"))
    res = run(c, "service_map", start="2026-03-06T11:20:00Z", end="2026-03-06T11:21:00Z")   # one trace
    for e in res.data:
        assert e.spans == e.calls == 1 and e.p50_ms is None and e.p99_ms is None
    assert "p50 from 5 calls, p99 from 100" in res.text
    whole = run(c, "service_map").data                                                     # 120 calls per edge
    e = next(e for e in whole if (e.caller, e.callee) == ("search", "token"))
    assert e.spans == 120 and e.p50_ms is not None and e.p99_ms is not None and e.p99_ms > e.p50_ms
    mid = run(c, "service_map", start="2026-03-06T11:00:00Z", end="2026-03-06T11:30:00Z").data
    assert all(e.p50_ms is not None and e.p99_ms is None for e in mid)                   # 30 calls: a median, no p99


# ---- item 7: trace_errors and the logs agree ---------------------------------------------------------------
def test_trace_errors_shows_the_callees_own_exception_from_the_same_traces(tmp_path):
    """Only token logs the failure, in the traces of search's failing calls: the caller's row shows it."""
    d = build(tmp_path / "callee")
    rows = [json.loads(line) for line in open(d / "logs.jsonl")]
    rows = [{**r, "trace_id": None} if r["service"] == "search" else r for r in rows]
    rows += [{"time": ts(m + 0.2), "service": "token", "level": "error", "instance": "token-z-a", "zone": "z-a",
              "trace_id": f"t{m}", "message": "IllegalStateException: key store not loaded"} for m in range(73, 120)]
    write_jsonl(d / "logs.jsonl", rows)
    top = run(_ctx(d), "trace_errors", service="search").data[0]
    assert top.peer_service == "token" and "token: IllegalStateException" in top.logs


def test_no_failing_spans_of_a_service_that_logs_errors_says_the_views_disagree(tmp_path):
    d = build(tmp_path / "quiet")
    _add(d, "logs", [{"time": ts(m), "service": "token", "level": "error", "message": "NullPointerException"}
                     for m in range(80, 112)])
    res = TOOLS["trace_errors"](_ctx(d), {"service": "token"})
    assert res.status.value == "empty" and "token logged 32 error lines" in res.text
    assert "logged" not in TOOLS["trace_errors"](_ctx(d), {"service": "api", "end": ts(60)}).text
