"""What an LLM in the model's seat missed on Nezha TrainTicket dev faults, seventh session (NOTES "LLM-seat
items, seventh session"). Each test fails on the code before its change."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

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

