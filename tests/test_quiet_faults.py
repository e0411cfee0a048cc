"""Faults that raise no error: CPU contention, network delay, an exception in a service's own code.

One small system (web → cart → store, web → store) with no span status (as in much real tracing data), paged at
the entry service three minutes after a fault deep in the call graph."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from factory import answer, write_jsonl
from tools import TOOLS, ToolContext
from tools.analysis import change_point
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.evidence import EvidenceLedger

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
FAULT = 40          # minute


def at(minute: float) -> str:
    return (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def quiet_system(root: Path, fault: str, spans_from: float = 0) -> Path:
    """fault: cpu (store's CPU and own time rise), network (calls to store spend 200 ms on the wire) or
    exception (store logs exceptions)."""
    root.mkdir(parents=True)
    (root / "incident.yaml").write_text(yaml.safe_dump({
        "format": 1, "id": f"quiet-{fault}", "title": "web latency SLO burn",
        "window": {"start": at(0), "end": at(FAULT + 6)},
        "alert": {"at": at(FAULT + 3), "service": "web", "summary": "web latency SLO burn"}}))
    spans, metrics, logs = [], [], []
    for i in range(int(spans_from * 12), (FAULT + 6) * 12):         # a request every 5 s
        m = i / 12
        bad = m >= FAULT
        own = 60.0 if bad and fault == "cpu" else 5.0 + (i % 3)
        wire = 200.0 if bad and fault == "network" else 1.0 + (i % 2) * 0.5
        tid = f"t{i:05d}"
        def span(sid, parent, svc, kind, dur, peer=None, t=m):
            spans.append({"time": at(t), "trace_id": tid, "span_id": sid, "parent_span_id": parent, "service": svc,
                          "kind": kind, "duration_ms": dur, "operation": f"{svc}.op",
                          **({"peer_service": peer} if peer else {})})
        store_call = own + wire
        span("w", None, "web", "server", 2 + 2 * (store_call + 3) + 3)
        span("wc", "w", "web", "client", store_call + 3 + 1, "cart")
        span("cs", "wc", "cart", "server", store_call + 3)
        span("cc", "cs", "cart", "client", store_call, "store")
        span("ss", "cc", "store", "server", own)
        span("wd", "w", "web", "client", store_call, "store")
        span("sd", "wd", "store", "server", own)
        if fault == "exception" and bad and i % 2 == 0:
            logs.append({"time": at(m + 0.01), "service": "store", "level": "error", "trace_id": tid,
                         "message": "java.lang.NullPointerException at StoreHandler.price(StoreHandler.java:88)"})
        logs.append({"time": at(m), "service": "web", "level": "info", "trace_id": tid, "message": "GET / 200"})
    for minute in range(FAULT + 6):
        for svc, cpu in (("web", 0.2), ("cart", 0.15), ("store", 0.1)):
            hot = svc == "store" and fault == "cpu" and minute >= FAULT
            metrics.append({"time": at(minute), "service": svc, "name": "cpu_utilization",
                            "value": 0.95 if hot else cpu + 0.01 * (minute % 3)})
    write_jsonl(root / "spans.jsonl", spans)
    write_jsonl(root / "metrics.jsonl", metrics)
    write_jsonl(root / "logs.jsonl", logs)
    return root


@pytest.mark.parametrize("fault,kind", [("cpu", "resource_saturation"), ("exception", "application_error")])
def test_the_quiet_fault_deep_in_the_call_graph_is_found(tmp_path, fault, kind):
    assert answer(quiet_system(tmp_path / fault, fault)) == ("store", kind)


def test_network_delay_is_found_when_spans_start_with_the_fault(tmp_path):
    """No baseline in spans at all: the edges into store spend 200 ms on the wire, every other edge ~1 ms."""
    d = quiet_system(tmp_path / "net", "network", spans_from=FAULT)
    assert answer(d) == ("store", "network_delay")


def test_latency_by_service_ranks_own_time_not_the_callers(tmp_path):
    ctx = ToolContext(SnapshotTelemetry(quiet_system(tmp_path / "cpu", "cpu")), EvidenceLedger())
    res = TOOLS["latency_by_service"](ctx, {})
    own = [r for r in res.data if r.view == "own"]
    assert own[0].service == "store" and own[0].ratio > 5
    assert "web" not in {r.service for r in own}      # web got slower only because store did
    assert "span status not recorded" in res.text


def test_trace_errors_says_span_status_is_not_recorded(tmp_path):
    ctx = ToolContext(SnapshotTelemetry(quiet_system(tmp_path / "exc", "exception")), EvidenceLedger())
    res = TOOLS["trace_errors"](ctx, {})
    assert res.status.value == "no_data" and "span status not recorded" in res.text and "store" in res.text


def test_metric_changes_ranks_every_service(tmp_path):
    ctx = ToolContext(SnapshotTelemetry(quiet_system(tmp_path / "cpu", "cpu")), EvidenceLedger())
    res = TOOLS["metric_changes"](ctx, {"name": "cpu_utilization"})
    top = res.data[0]
    assert (top.service, top.shape, top.direction) == ("store", "step", "up") and top.at.minute == FAULT
    assert ctx.ledger.get(res.evidence_ids[0]).matches("metrics", {"service": "store", "name": "cpu_utilization"})


def _minutes(values: list[float]) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]


def test_a_pinned_cpu_after_a_three_point_baseline_is_a_change():
    cp = change_point(_minutes([0.77, 0.36, 0.54, 1.0, 1.0, 0.99]), T0 + timedelta(minutes=3))
    assert cp.shape == "step" and cp.direction == 1 and cp.at == T0 + timedelta(minutes=3)


def test_a_step_is_not_a_ramp_and_a_ramp_inside_the_baseline_is_found():
    step = change_point(_minutes([0.36, 0.365] * 5 + [0.93] * 5), T0 + timedelta(minutes=8))
    assert step.shape == "step" and step.at == T0 + timedelta(minutes=10)
    ramp = change_point(_minutes([0.3 + (0.01 * (i - 24) if i >= 24 else 0) + 0.002 * (i * 7 % 3)
                                  for i in range(90)]), T0 + timedelta(minutes=51))
    assert ramp.shape == "ramp" and ramp.at == T0 + timedelta(minutes=24)       # the baseline stops at the climb
    assert ramp.slope_per_min == pytest.approx(0.01, rel=0.05)
    assert ramp.time_to(1.0, T0 + timedelta(minutes=90)) == pytest.approx(4.6, abs=0.5)


def test_a_jump_after_noisy_minutes_is_a_step_not_a_ramp():
    """route's CPU in a real case: 16.5, 4.54, 19.7, 15.3, 12.4, 22.8, 6.59, 4.81, then 199. The minutes below
    the baseline just before the jump are noise, not the start of a climb (it was shown as 'ramped from 08:46')."""
    cp = change_point(_minutes([16.5, 4.54, 19.7, 15.3, 12.4, 22.8, 6.59, 4.81, 199]), T0 + timedelta(minutes=3))
    assert cp.shape == "step" and cp.at == T0 + timedelta(minutes=8)


def test_a_dip_that_came_back_is_passed_over_for_the_rise_that_stayed():
    """productcatalog's CPU in a real case: a dip to 0.08 for three minutes (the whole system paused), back to
    ~0.35, then the fault's climb to 0.87-0.96 until the page. The change is the climb, not the dip."""
    cpu = [0.49, 0.48, 0.41, 0.3, 0.23, 0.27, 0.34, 0.42, 0.48, 0.35, 0.36, 0.39, 0.84, 0.83, 0.89, 0.7, 0.48,
           0.3, 0.26, 0.39, 0.36, 0.08, 0.09, 0.09, 0.35, 0.31, 0.44, 0.3, 0.87, 0.88, 0.88, 0.96]
    cp = change_point(_minutes(cpu), T0 + timedelta(minutes=16))
    assert (cp.shape, cp.direction, cp.at) == ("step", 1, T0 + timedelta(minutes=28))


def test_noise_is_not_a_change():
    import random
    r = random.Random(3)
    assert change_point(_minutes([0.5 + r.gauss(0, 0.02) for _ in range(60)]), T0 + timedelta(minutes=30)).shape is None


def test_the_ramp_search_fits_give_the_direct_least_squares_errors():
    import random
    import statistics as st
    from tools.analysis import _Fits

    def flat(ys):
        return sum((y - st.fmean(ys)) ** 2 for y in ys) if ys else 0.0

    def line(seg):
        if len(seg) < 2:
            return 0.0
        x, y = [(t - seg[0][0]).total_seconds() / 60 for t, _ in seg], [v for _, v in seg]
        mx, my = st.fmean(x), st.fmean(y)
        sxx = sum((a - mx) ** 2 for a in x)
        b = sum((a - mx) * (c - my) for a, c in zip(x, y)) / sxx if sxx else 0.0
        return sum((c - (my + b * (a - mx))) ** 2 for a, c in zip(x, y))

    r = random.Random(3)
    pts = _minutes([500 + r.gauss(0, 5) + (3 * i if i > 20 else 0) for i in range(60)])
    fits = _Fits(pts)
    for i, j in [(0, 60), (0, 7), (5, 6), (20, 60), (33, 35), (59, 60), (10, 10)]:
        assert fits.flat(i, j) == pytest.approx(flat([v for _, v in pts[i:j]]), rel=1e-9, abs=1e-6)
        assert fits.line(i, j) == pytest.approx(line(pts[i:j]), rel=1e-9, abs=1e-6)
