"""Readers for the Nezha dataset's CSVs, streamed row by row into v1 snapshot records.

Column names are the dataset's own (see docs/nezha.md). Every reader takes a `Counter` of problems and
counts a bad row there instead of raising: one broken line never stops an import.
"""
from __future__ import annotations

import csv
import gzip
import json
import math
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

UTC = timezone.utc
POD_HASH = re.compile(r"-[a-z0-9]{5,10}-[a-z0-9]{5}$")       # Deployment pods: <name>-<ReplicaSet hash>-<pod hash>
# Pod metric columns whose meaning matches a name the tools know: (our name, factor). Others keep their name.
POD_METRICS = {"CpuUsageRate(%)": ("cpu_utilization", 0.01), "PodWorkload(Ops)": ("request_rate", 1.0),
               "PodServerLatencyP99(s)": ("latency_p99_ms", 1000.0)}
SUCCESS = ("PodSuccessRate(%)", "SuccessRate(%)")            # → error_rate = 1 − success, when collected at all
NOT_METRICS = {"Time", "TimeStamp", "PodName", "ServiceName", "time", "timestamp"}
LEVEL_WORD = re.compile(r"^\s*(?:\S*\d\S*\s+){0,2}\[?(trace|debug|info|warn|warning|error|fatal|critical)\]?[\s:]",
                        re.IGNORECASE)
LEVEL_NAMES = {"warning": "warn", "critical": "fatal", "trace": "debug"}
GO_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)? ([+-]\d{4})")   # Go's time.String()

csv.field_size_limit(min(sys.maxsize, 1 << 27))   # a log row with a stack trace can be long


def service_of(pod: str) -> str:
    """frontend-579b9bff58-t2dbm → frontend; names without a pod hash are kept as they are."""
    return POD_HASH.sub("", pod.strip())


def rfc3339(ns: int) -> str:
    s, rest = divmod(ns, 10**9)
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1000:06d}Z"


def ns_of(t: datetime) -> int:
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


def csv_rows(path: Path, bad: Counter, what: str) -> Iterator[dict[str, str]]:
    """Rows as dicts; a malformed line (wrong column count, NUL byte) is counted, not raised."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f)
            try:
                header = next(reader)
            except (StopIteration, csv.Error):
                bad[f"{what}: {path.name} has no header"] += 1
                return
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error:
                    bad[what] += 1
                    continue
                if len(row) != len(header):
                    bad[what] += 1
                    continue
                yield dict(zip(header, row))
    except OSError as e:
        bad[f"{what}: {path.name} unreadable ({e.strerror})"] += 1


def _number(s: str | None) -> float | None:
    """A finite float, or None for the empty and NaN cells the collector wrote when it had no sample."""
    try:
        v = float(s)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def row_time(row: dict[str, str], bad: Counter) -> float | None:
    """Epoch seconds of a metric row from its Time column (Go's "2022-08-22 03:51:19.79 +0000 UTC m=+0.3").
    TimeStamp is only the fallback: in adservice's file of 2022-08-22 it has digits wrong (2028, not 2022)."""
    stamp = _number(row.get("TimeStamp") or row.get("timestamp"))
    m = GO_TIME.match(row.get("Time") or row.get("time") or "")
    if not m:
        return stamp
    t = datetime.strptime(f"{m[1]} {m[2]}", "%Y-%m-%d %H:%M:%S %z").timestamp()
    if stamp is not None and abs(stamp - t) > 2:
        bad["metric TimeStamp ≠ Time (Time used)"] += 1
    return t


@lru_cache(maxsize=256)
def collected(path: Path) -> set[str]:
    """Success-rate columns with at least one non-zero value. A column that is 0 % all day (every pod of
    both systems, TrainTicket's front_service) was not collected: read as errors it would be 100 %."""
    seen: set[str] = set()
    for row in csv_rows(path, Counter(), "metrics"):
        seen.update(c for c in SUCCESS if _number(row.get(c)))
    return seen


def _rows_in_window(path: Path, start: datetime, end: datetime, bad: Counter) -> Iterator[tuple[float, dict]]:
    """The CSV's rows with their time, inside [start, end]; a row without a readable time is counted as bad."""
    lo, hi = start.timestamp(), end.timestamp()
    for row in csv_rows(path, bad, "metrics"):
        t = row_time(row, bad)
        if t is None:
            bad["metrics"] += 1
        elif lo <= t <= hi:
            yield t, row


def pod_metrics(path: Path, start: datetime, end: datetime, bad: Counter, service: str | None = None,
                instance: str | None = None) -> Iterator[dict]:
    """A wide per-pod (or front_service) CSV → one record per column and row in the window."""
    keep = collected(path)
    for t, row in _rows_in_window(path, start, end, bad):
        pod = instance or row.get("PodName") or path.stem
        base = {"time": rfc3339(int(t) * 10**9), "service": service or service_of(pod), "instance": pod}
        for col, raw in row.items():
            if col in NOT_METRICS or (v := _number(raw)) is None:
                continue
            if col in SUCCESS:
                if col in keep:
                    yield {**base, "name": "error_rate", "value": round(1 - v / 100, 6)}
                continue
            name, factor = POD_METRICS.get(col, (col, 1.0))
            yield {**base, "name": name, "value": round(v * factor, 6)}


def edge_metrics(path: Path, start: datetime, end: datetime, bad: Counter) -> Iterator[dict]:
    """source_50.csv / destination_50.csv: one column per caller_callee edge; kept under the file's name,
    on the caller, with the callee as peer_service."""
    for t, row in _rows_in_window(path, start, end, bad):
        for col, raw in row.items():
            if col in NOT_METRICS or "_" not in col or (v := _number(raw)) is None:
                continue
            caller, callee = col.split("_", 1)
            yield {"time": rfc3339(int(t) * 10**9), "service": caller, "name": path.stem, "value": v,
                   "labels": {"peer_service": callee}}


def _in_window(files: Iterable[Path], col: str, start: datetime, end: datetime, bad: Counter,
               what: str) -> Iterator[tuple[int, dict[str, str]]]:
    lo, hi = ns_of(start), ns_of(end)
    for f in files:
        for row in csv_rows(f, bad, what):
            try:
                ns = int(row[col])
            except (KeyError, ValueError):
                bad[what] += 1
                continue
            if lo <= ns <= hi:
                yield ns, row


def spans(files: list[Path], start: datetime, end: datetime, bad: Counter) -> Iterator[dict]:
    """Two passes over the window's trace CSVs: the first learns each span's service and its children's,
    so the second can mark a span whose child runs in one other service as that client call. The data has
    no span kind and no status; kind is inferred from the call structure, status is left out."""
    service: dict[str, str] = {}
    callees: dict[str, set[str]] = defaultdict(set)
    for _, r in _in_window(files, "StartTimeUnixNano", start, end, Counter(), "spans"):
        s = service_of(r.get("PodName", ""))
        service[r.get("SpanID", "")] = s
        callees[r.get("ParentID", "")].add(s)
    for ns, r in _in_window(files, "StartTimeUnixNano", start, end, bad, "spans"):
        pod, sid, tid, parent = r.get("PodName"), r.get("SpanID"), r.get("TraceID"), r.get("ParentID")
        duration = _number(r.get("Duration"))
        if not (pod and sid and tid) or duration is None:
            bad["spans"] += 1
            continue
        svc = service_of(pod)
        rec = {"time": rfc3339(ns), "trace_id": tid, "span_id": sid,
               "parent_span_id": None if parent in ("root", "", None) else parent, "service": svc,
               "operation": r.get("OperationName") or None, "duration_ms": round(duration / 1000, 3),   # µs
               "attributes": {"service.instance.id": pod}}
        others = callees.get(sid, set()) - {svc}
        if len(others) == 1:
            rec.update(kind="client", peer_service=others.pop())
        elif rec["parent_span_id"] is None or service.get(parent or "", svc) != svc:
            rec["kind"] = "server"
        yield rec


def parse_log(raw: str) -> tuple[str, str | None, dict]:
    """The Log cell is a container-runtime JSON line ({"log": …, "stream": …}); its text is either the
    service's own JSON (with severity/level) or a text line. A level is kept only where the line states one."""
    text, extra = raw, {}
    try:
        outer = json.loads(raw)
        if isinstance(outer, dict) and isinstance(outer.get("log"), str):
            text = outer["log"]
    except ValueError:
        pass
    text = text.rstrip("\n")
    if text.lstrip().startswith("{"):
        try:
            inner = json.loads(text)
        except ValueError:
            inner = None
        if isinstance(inner, dict):
            level = inner.pop("severity", None) or inner.pop("level", None)
            message = inner.pop("message", None) or inner.pop("msg", None) or text
            extra = {k: v for k, v in inner.items() if isinstance(v, (str, int, float, bool)) and k != "timestamp"}
            return str(message), _level(level), extra
    m = LEVEL_WORD.match(text)
    return text, _level(m.group(1) if m else None), extra


def _level(word) -> str | None:
    if not isinstance(word, str) or not word.strip():
        return None
    w = word.strip().lower()
    w = LEVEL_NAMES.get(w, w)
    return w if w in ("debug", "info", "warn", "error", "fatal") else None


def logs(files: list[Path], start: datetime, end: datetime, bad: Counter) -> Iterator[dict]:
    for ns, r in _in_window(files, "TimeUnixNano", start, end, bad, "logs"):
        pod = r.get("PodName")
        if not pod or r.get("Log") is None:
            bad["logs"] += 1
            continue
        message, level, extra = parse_log(r["Log"])
        rec = {"time": rfc3339(ns), "service": service_of(pod), "message": message, "instance": pod}
        if level:
            rec["level"] = level
        if r.get("TraceID"):
            rec["trace_id"] = r["TraceID"]
        attrs = {"span_id": r.get("SpanID") or None, "node": r.get("Node") or None,
                 "container": r.get("Container") or None, **extra}
        rec["attributes"] = {k: v for k, v in attrs.items() if v is not None}
        yield rec


def write_jsonl_gz(path: Path, records: Iterable[dict]) -> int:
    """Streamed out as they come; gzip without name or mtime so a re-import gives the same bytes.
    Nothing to write → no file (a missing file means "no data of that kind")."""
    n = 0
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        for r in records:
            gz.write((json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n").encode())
            n += 1
    if n == 0:
        path.unlink()
    return n
