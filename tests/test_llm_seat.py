"""What misled an LLM in the model's seat on Nezha TrainTicket days (NOTES "LLM-seat findings on Nezha,
fixed"): silence read as traffic stopping, a metric from a zero baseline ranked first, a call edge labelled
"(wire)". Each test fails on the code before the fix."""
from __future__ import annotations

from factory import build, ts, write_jsonl  # noqa: F401
from test_quiet_faults import quiet_system
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
