"""What misled an LLM in the model's seat on Nezha TrainTicket days (NOTES "LLM-seat findings on Nezha,
fixed"): silence read as traffic stopping, a metric from a zero baseline ranked first, a call edge labelled
"(wire)". Each test fails on the code before the fix."""
from __future__ import annotations

import json

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
