"""The Nezha importer on a tiny fabricated dataset with the real column names (no network, no real data)."""
from __future__ import annotations

import csv
import gzip
from collections import Counter
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from evals.nezha import KIND, import_day, main, read_faults, truth
from evals.nezha_read import parse_log, service_of
from evals.scorers import load_truth
from tools.backends.validate import validate_snapshot

UTC = timezone.utc
DAY = "2022-08-22"
INJECT = datetime(2022, 8, 22, 4, 36, 3, tzinfo=UTC)          # cartservice cpu_contention, as in the real list
POD_COLS = ("Time,TimeStamp,PodName,CpuUsage(m),CpuUsageRate(%),MemoryUsage(Mi),MemoryUsageRate(%),SyscallRead,"
            "SyscallWrite,NetworkReceiveBytes,NetworkTransmitBytes,PodClientLatencyP90(s),PodServerLatencyP90(s),"
            "PodClientLatencyP95(s),PodServerLatencyP95(s),PodClientLatencyP99(s),PodServerLatencyP99(s),"
            "PodWorkload(Ops),PodSuccessRate(%),NodeCpuUsageRate(%),NodeMemoryUsageRate(%),NodeNetworkReceiveBytes")
TRACE_COLS = ["TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano", "EndTimeUnixNano",
              "Duration"]
LOG_COLS = ["Timestamp", "TimeUnixNano", "Node", "PodName", "Container", "TraceID", "SpanID", "Log"]
PODS = {"frontend": "frontend-579b9bff58-t2dbm", "cartservice": "cartservice-579f59597d-wc2lz"}


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _docker(line: str) -> str:
    return json.dumps({"log": line + "\n", "stream": "stdout", "time": "2022-08-22T04:37:00.1Z"})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "Nezha"
    rca = root / "rca_data" / DAY
    rca.mkdir(parents=True)
    (rca / f"{DAY}-fault_list.json").write_text(json.dumps({"04": [
        {"inject_time": "2022-08-22 04:36:03", "inject_timestamp": str(int(INJECT.timestamp())),
         "inject_pod": PODS["cartservice"], "inject_type": "cpu_contention"}]}))
    for svc, pod in PODS.items():
        rows = []
        for m in range(-20, 8):
            t = INJECT.replace(second=19) + timedelta(minutes=m)
            cpu = 95.0 if svc == "cartservice" and 1 <= m <= 3 else 10.0
            p99 = "nan" if m == -5 else 0.05                                    # the collector writes nan
            stamp = int(t.timestamp()) + (200_000_000 if svc == "cartservice" else 0)   # adservice's real bug
            rows.append([f"{t:%Y-%m-%d %H:%M:%S}.123 +0000 UTC m=+1.0", stamp, pod, 2.0, cpu, 30.0, 25.0,
                         0, 0, 1000, 2000, 0.01, 0.02, 0.02, 0.03, 0.04, p99, 8.0, 0, 5, 10, 100])
        rows.append(["garbage", "oops", pod] + [""] * 19)                       # a bad row: counted, skipped
        _write(rca / "metric" / f"{pod}_metric.csv", POD_COLS.split(","), rows)
    t0 = INJECT + timedelta(seconds=30)
    _write(rca / "trace" / "04_37_trace.csv", TRACE_COLS, [
        ["t1", "a1", "root", PODS["frontend"], "hipstershop.Frontend/Recv.", _ns(t0), _ns(t0) + 9_000_000, 9000],
        ["t1", "a2", "a1", PODS["frontend"], "hipstershop.CartService/GetCart", _ns(t0), _ns(t0) + 8_000_000, 8000],
        ["t1", "a3", "a2", PODS["cartservice"], "hipstershop.CartService/GetCart", _ns(t0), _ns(t0) + 7e6, 7000],
        ["t1", "a4", "a2", PODS["cartservice"], "x", "not-a-time", 0, 1]])     # bad: counted
    _write(rca / "log" / "04_37_log.csv", LOG_COLS, [
        [f"{t0:%Y-%m-%dT%H:%M:%S}Z", _ns(t0), "33.33.33.1", PODS["frontend"], "server", "t1", "a1",
         _docker(json.dumps({"message": "request complete", "severity": "info", "http.resp.status": 200}))],
        [f"{t0:%Y-%m-%dT%H:%M:%S}Z", _ns(t0), "33.33.33.1", PODS["cartservice"], "server", "t1", "a3",
         _docker("TraceID: t1 SpanID: a3 GetCartAsync called with userId=42")],
        [f"{t0:%Y-%m-%dT%H:%M:%S}Z", _ns(t0), "33.33.33.1", PODS["cartservice"], "server", "t1", "a3",
         _docker("12:37:33.001 ERROR c.CartStore#12 Can't access cart storage")]])
    for m in ("04_36", "04_37", "04_38"):                                      # what was collected, by minute
        _write(rca / "traceid" / f"{m}_traceid.csv", ["t"], [["t1"]])
    return root


@pytest.fixture
def imported(repo: Path, tmp_path: Path):
    lines: list[str] = []
    cases = import_day(repo, DAY, tmp_path / "out", say=lines.append)
    assert len(cases) == 1
    return cases[0], tmp_path / "out" / cases[0].name, "\n".join(lines)


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(x) for x in f]


@pytest.mark.parametrize("pod, service", [
    ("frontend-579b9bff58-t2dbm", "frontend"), ("cartservice-579f59597d-wc2lz", "cartservice"),
    ("ts-order-service-5b67c48447-mv5hb", "ts-order-service"), ("ts-station-food-service-dc4d75dd-fw6ft",
                                                               "ts-station-food-service"),
    ("front_service", "front_service"), ("redis-cart", "redis-cart")])
def test_pod_to_service(pod, service):
    assert service_of(pod) == service


def test_case_layout_and_utc_times(imported):
    case, d, _ = imported
    assert case.name == "nezha-ob-2022-08-22-0436-cpu_contention"
    inc = yaml.safe_load((d / "incident.yaml").read_text())
    assert inc["alert"]["at"] == "2022-08-22T04:40:00Z"                      # 04:36:03 + 3 min, next whole minute
    start = datetime.fromisoformat(inc["window"]["start"])
    assert start <= INJECT - (datetime.fromisoformat(inc["alert"]["at"]) - INJECT)   # baseline half is fault-free
    spans = {s["span_id"]: s for s in _read(d / "spans.jsonl.gz")}
    assert spans["a1"]["time"] == "2022-08-22T04:36:33.000000Z" and spans["a1"]["parent_span_id"] is None
    assert spans["a2"]["kind"] == "client" and spans["a2"]["peer_service"] == "cartservice"
    assert spans["a3"]["service"] == "cartservice" and spans["a3"]["duration_ms"] == 7.0     # µs in the data
    assert not any("status" in s for s in spans.values())                   # the data has none; none invented
    assert case.bad["spans"] == 1 and case.bad["metrics"] == 2
    assert case.bad["metric TimeStamp ≠ Time (Time used)"] > 0            # and its rows are kept (below)


def test_metrics_mapped_and_uncollected_success_dropped(imported):
    _, d, _ = imported
    rows = _read(d / "metrics.jsonl.gz")
    names = {r["name"] for r in rows}
    assert {"cpu_utilization", "request_rate", "latency_p99_ms", "MemoryUsageRate(%)", "CpuUsage(m)"} <= names
    assert "error_rate" not in names and "PodSuccessRate(%)" not in names   # 0 % all day: not collected
    cart = [r for r in rows if r["service"] == "cartservice" and r["name"] == "cpu_utilization"]
    assert max(r["value"] for r in cart) == pytest.approx(0.95)
    assert all(r["time"].endswith("Z") for r in rows)


def test_logs_level_only_when_stated(imported):
    _, d, _ = imported
    by_msg = {r["message"]: r for r in _read(d / "logs.jsonl.gz")}
    assert by_msg["request complete"]["level"] == "info"
    assert by_msg["request complete"]["attributes"]["http.resp.status"] == 200
    assert "level" not in by_msg["TraceID: t1 SpanID: a3 GetCartAsync called with userId=42"]
    assert by_msg["12:37:33.001 ERROR c.CartStore#12 Can't access cart storage"]["level"] == "error"
    assert parse_log("not json at all")[0] == "not json at all"


def test_absent_files_are_reported(imported):
    case, _, printed = imported
    lacks = " ".join(case.lacks)
    assert "spans: 2 of 3 minute files absent (04_36, 04_38)" in lacks
    assert "logs: 2 of 3 minute files absent (04_36, 04_38)" in lacks
    assert "lacks:" in printed and case.name in printed


def test_written_case_validates_and_loads_as_truth(imported):
    _, d, _ = imported
    rep = validate_snapshot(d)
    assert rep.usable and not rep.problems, [str(p) for p in rep.problems]
    assert rep.records["spans"] == 3 and rep.records["logs"] == 3
    t = load_truth(d)
    assert (t.service, t.kind, t.difficulty) == ("cartservice", "resource_saturation", "real")
    assert t.onset.startswith("2022-08-22T04:36:03")


def test_page_does_not_name_the_fault(imported):
    _, d, _ = imported
    inc = (d / "incident.yaml").read_text()
    assert yaml.safe_load(inc)["alert"]["service"] == "frontend"
    for leak in ("cartservice", "cpu", "contention", "saturation"):
        assert leak not in inc.lower()


@pytest.mark.parametrize("fault_type, kind", [
    ("cpu_contention", "resource_saturation"), ("cpu_consumed", "resource_saturation"),
    ("network_delay", "network_delay"), ("exception", "application_error"), ("return", "application_error")])
def test_truth_kinds(fault_type, kind, repo):
    faults, _ = read_faults(repo / "rca_data" / DAY / f"{DAY}-fault_list.json")
    faults[0].type = fault_type
    t = truth(faults[0], "OnlineBoutique", DAY, Counter(spans=1, logs=1))
    assert KIND[fault_type] == kind and t["root_cause"]["kind"] == kind
    assert t["fault_type"] == fault_type and t["system"] == "OnlineBoutique"
    assert all(k["where"]["service"] == "cartservice" for k in t["key_evidence"])


def test_clock_checks(tmp_path):
    """TrainTicket's morning: inject_timestamp 8 h early (UTC+8 read as UTC) → inject_time used. A minute's
    disagreement (the repo's fix) → the timestamp used. Unknown types and broken entries are skipped."""
    at = datetime(2023, 1, 29, 8, 43, 4, tzinfo=UTC)
    f = tmp_path / "fl.json"
    f.write_text(json.dumps({"08": [
        {"inject_time": "2023-01-29 08:43:04", "inject_timestamp": str(int((at - timedelta(hours=8)).timestamp())),
         "inject_pod": "ts-contacts-service-866bd68c97-xcqfx", "inject_type": "return"},
        {"inject_time": "2023-01-29 09:10:43", "inject_timestamp": str(int(at.timestamp()) + 1599),
         "inject_pod": "ts-food-service-f5756978c-k8vqf", "inject_type": "exception"},
        {"inject_time": "2023-01-29 09:30:00", "inject_pod": "x-1", "inject_type": "disk_full"},
        {"inject_pod": "no time"}]}))
    faults, notes = read_faults(f)
    assert [x.at for x in faults] == [at, at + timedelta(seconds=1599)]
    assert "8h00m00s off" in faults[0].clock and "timestamp used" in faults[1].clock
    assert len(notes) == 2 and any("disk_full" in n for n in notes)


def test_cli(repo, tmp_path, capsys):
    assert main(["import", str(repo), "--day", "2030-01-01", "--out", str(tmp_path / "o")]) == 2
    assert main(["import", str(repo), "--day", DAY, "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "1 cases written" in out and (tmp_path / "o" / "nezha-ob-2022-08-22-0436-cpu_contention").is_dir()


def test_bad_rows_are_counted_not_raised(repo, tmp_path):
    trace = repo / "rca_data" / DAY / "trace" / "04_37_trace.csv"
    with open(trace, "ab") as f:
        f.write(b"t9,b1,root\n")                                             # too few columns
        f.write(b"t9,b2,root,frontend-579b9bff58-t2dbm,op,\x00,1,2\n")       # a NUL byte
        f.write(b'"unterminated,quote\n')
    (repo / "rca_data" / DAY / "log" / "04_37_log.csv").write_bytes(b"\xff\xfe not a csv header at all\n\x00\x00")
    case = import_day(repo, DAY, tmp_path / "out", say=lambda _: None)[0]
    assert case.counts["spans"] == 3 and case.bad["spans"] >= 3
    assert validate_snapshot(tmp_path / "out" / case.name).usable


def test_reimport_gives_the_same_bytes(repo, tmp_path):
    a = import_day(repo, DAY, tmp_path / "a", say=lambda _: None)[0]
    import_day(repo, DAY, tmp_path / "b", say=lambda _: None)
    import_day(repo, DAY, tmp_path / "b", say=lambda _: None)                # over an earlier import
    files = sorted(p.name for p in (tmp_path / "a" / a.name).iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b" / a.name).iterdir())
    for name in files:
        assert (tmp_path / "a" / a.name / name).read_bytes() == (tmp_path / "b" / a.name / name).read_bytes()
