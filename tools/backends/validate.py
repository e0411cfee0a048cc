"""`fivewhys snapshot validate`: every problem in a snapshot, with file and line.

JSONL is checked by streaming it line by line (never whole in memory); Parquet by its schema
and by DuckDB queries for null required fields and unparseable times.
"""
from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import yaml

from .base import FIELDS, LEVELS, REQUIRED, SOURCES, TIME_FIELDS
from tools.domain.errors import SnapshotError
from tools.domain.incident import INFRA_KINDS, is_snapshot_file, load_incident
from tools.domain.incident_lines import incident_problems, line_of

from .caps import MAX_RECORD_BYTES, Caps, CappedLines, open_decompressed
from .scan import JSON_FIELDS, LEVEL_ALIASES, PARSED_FIELDS, capped_relation, record_counts
from .snapshot import source_files

MAX_PER_PROBLEM = 5          # examples shown per (file, problem); the rest are counted
ENUMS = {("logs", "level"): set(LEVELS) | set(LEVEL_ALIASES), ("spans", "kind"): {"server", "client", "internal",
         "producer", "consumer"}, ("spans", "status"): {"ok", "error", "unset"},
         ("deployments", "kind"): {"deploy", "rollback", "config"},
         ("deployments", "status"): {"succeeded", "failed", "in_progress"},
         ("scaling", "action"): {"scale_up", "scale_down"}, ("scaling", "status"): {"succeeded", "failed"},
         ("certificates", "purpose"): {"client", "server"},
         ("registry", "event"): {"register", "deregister", "healthy", "unhealthy", "update"},
         ("infra_changes", "kind"): set(INFRA_KINDS), ("infra_changes", "status"): {"succeeded", "failed", "in_progress"}}
NUMBERS = {"value", "duration_ms", "from_count", "desired_count", "actual_count"}
OBJECTS = {"attributes", "labels", "changes"}


@dataclass
class Problem:
    file: str
    line: int | None
    message: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.file}{f':{self.line}' if self.line else ''}: {'error' if self.fatal else 'warning'}: {self.message}"


@dataclass
class ValidationReport:
    problems: list[Problem] = field(default_factory=list)
    records: Counter = field(default_factory=Counter)
    suppressed: Counter = field(default_factory=Counter)

    @property
    def usable(self) -> bool:
        return not any(p.fatal for p in self.problems)


def validate_snapshot(path: str | Path, caps: Caps | None = None) -> ValidationReport:
    path = Path(path)
    rep = ValidationReport()
    f = path / "incident.yaml"
    try:
        caps = caps or Caps.from_env()
    except SnapshotError as e:
        rep.problems.append(Problem("environment", None, str(e), fatal=True))
        return rep
    try:
        inc = load_incident(path)
        if inc.alert.at and not inc.window.start <= inc.alert.at <= inc.window.end:
            rep.problems.append(Problem(str(f), line_of(yaml.compose(f.read_text()), ("alert", "at")), "alert.at is "
                                        "outside the window: the page's own telemetry is missing, and baselines "
                                        "are measured against it"))
    except SnapshotError as e:
        if not path.is_dir():
            rep.problems.append(Problem(str(path), None, str(e).split(": ", 1)[-1], fatal=True))
            return rep
        rep.problems += [Problem(str(f), line, msg, fatal=True) for line, msg in incident_problems(f, e)]
    for source in SOURCES:
        try:
            files = source_files(path, source)
        except SnapshotError as e:
            rep.problems.append(Problem(str(path / source), None, str(e), fatal=True))
            continue
        for f in files:
            if f.suffix == ".parquet":
                _parquet(f, source, rep, caps)
            else:
                _jsonl(f, source, rep, caps)
    extra = sorted(p.name for p in path.iterdir() if p.is_file() and not is_snapshot_file(p.name))
    for name in extra:
        rep.problems.append(Problem(str(path / name), None, "not part of the snapshot format; ignored"))
    if rep.usable and not sum(rep.records.values()):     # investigate refuses it too (agent.session)
        rep.problems.append(Problem(str(path), None, "no telemetry: no source has a usable record", fatal=True))
    return rep


def _add(rep: ValidationReport, f: Path, line: int | None, msg: str, key: str, fatal: bool = False) -> None:
    k = (str(f), key)
    rep.suppressed[k] += 1
    if rep.suppressed[k] <= MAX_PER_PROBLEM:
        rep.problems.append(Problem(str(f), line, msg, fatal))


def _jsonl(f: Path, source: str, rep: ValidationReport, caps: Caps) -> None:
    ok = seen = cut = 0
    try:
        with open_decompressed(f) as fh:
            lines = CappedLines(fh, caps, MAX_RECORD_BYTES)
            for n, raw in lines:
                if n == 1 and raw is not None and not raw.removeprefix(b"\xef\xbb\xbf").strip():
                    continue                        # a byte-order mark alone: a blank line, for DuckDB too
                seen += 1
                rec = _parse(raw, source, f, n, rep)
                if rec is not None and _record(rec, source, f, n, rep):
                    ok += 1
                # a line shorter than a cap cannot hold a field longer than it
                cut += rec is not None and len(raw) > caps.name_chars and _cut_fields(rec, source, f, n, rep, caps,
                                                                                     len(raw) > caps.field_chars)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        _add(rep, f, None, f"cannot be read to the end ({e}); records after the break are lost", "io", fatal=ok == 0)
    else:
        if lines.stopped:
            rep.problems.append(Problem(str(f), None, getattr(caps, f"{lines.stopped}_note")(f.name)))
    if cut:
        rep.problems.append(Problem(str(f), None, caps.fields_note(f.name, cut)))
    rep.records[source] += ok
    for (file, key), count in rep.suppressed.items():
        if file == str(f) and count > MAX_PER_PROBLEM:
            rep.problems.append(Problem(file, None, f"… and {count - MAX_PER_PROBLEM} more lines with the same problem"))
    if seen == 0 and not any(p.file == str(f) and p.fatal for p in rep.problems):
        # Written by a capture that found nothing (no scaling events in the window): valid, and empty. So is a
        # file whose bytes cap was reached in blank lines: investigate reads no record from it either.
        rep.problems.append(Problem(str(f), None, f"empty: no {source} records in the snapshot"))
    elif ok == 0:
        rep.problems.append(Problem(str(f), None, f"no usable {source} records", fatal=True))


def _parse(raw: bytes | None, source: str, f: Path, n: int, rep: ValidationReport) -> dict | None:
    """One line as a record, or None (reported) when it cannot be one."""
    if raw is None:
        _add(rep, f, n, f"record over {MAX_RECORD_BYTES >> 20} MB; skipped", "huge")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        _add(rep, f, n, f"not valid UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1}); "
                        f"read with the bad bytes replaced", "utf8")
        text = raw.decode("utf-8", errors="replace")
    if n == 1:
        text = text.removeprefix("\ufeff")           # a byte-order mark: the loader (DuckDB) reads past it too
    try:
        rec, twice = _first_wins(text) if _maybe_twice(text, source) else (json.loads(text), [])
    except RecursionError:
        _add(rep, f, n, "nested too deeply to be a record; skipped", "json")
        return None
    except ValueError as e:
        what = "truncated record" if not text.rstrip().endswith("}") else f"not valid JSON ({e.msg})"
        _add(rep, f, n, f"{what}; skipped", "json")
        return None
    if not isinstance(rec, dict):
        _add(rep, f, n, f"expected a JSON object, got {type(rec).__name__}; skipped", "object")
        return None
    for k in twice:
        _add(rep, f, n, f"duplicate key {k[:40]!r}: the first value is read", "twice")
    return rec


def _cut_fields(rec: dict, source: str, f: Path, n: int, rep: ValidationReport, caps: Caps, objects: bool) -> bool:
    """Whether the loader cuts a field of this record to its length cap (and which, reported). `objects`:
    whether the line is long enough for a JSON object in it to be over the cap."""
    cut = False
    for k in FIELDS[source]:
        v = rec.get(k)
        if v is None or k in PARSED_FIELDS or k in JSON_FIELDS and not objects:
            continue
        # as the loader measures it: a JSON field as its JSON text (a string with its quotes), a number as written
        text = v if isinstance(v, str) and k not in JSON_FIELDS else json.dumps(v, ensure_ascii=False,
                                                                                  separators=(",", ":"))
        if len(text) > caps.chars(k):
            cut = True
            what = "left out" if k in JSON_FIELDS else f"cut to {caps.chars(k):,} characters"
            _add(rep, f, n, f"{k} is {len(text):,} characters long; {what}", f"long:{k}")
    return cut


def _maybe_twice(text: str, source: str) -> bool:
    """Whether a field of the format may be given twice: only then is the slower first-wins parse needed."""
    return any(text.count(f'"{k}"') > 1 for k in FIELDS[source])


def _first_wins(text: str) -> tuple[object, list[str]]:
    """A record as the loader reads it: DuckDB's read_json keeps the first of a top-level key given twice,
    where json.loads would keep the last; those keys are returned to be reported. (Nested objects, such as
    attributes, are kept as JSON text by the loader and read later, so only the top level matters.)"""
    twice: list[list[str]] = []

    def first(pairs):
        obj: dict = {}
        twice.append([])
        for k, v in pairs:
            if k in obj:
                twice[-1].append(k)
            else:
                obj[k] = v
        return obj
    rec = json.loads(text, object_pairs_hook=first)
    return rec, twice[-1] if twice and isinstance(rec, dict) else []


def _record(rec: dict, source: str, f: Path, n: int, rep: ValidationReport) -> bool:
    usable = True
    for k in REQUIRED[source]:
        if rec.get(k) in (None, ""):
            _add(rep, f, n, f"missing required field {k!r}; skipped", f"missing:{k}")
            usable = False
    for k in TIME_FIELDS & rec.keys():
        v = rec[k]
        if v is not None and not _is_time(v):
            _add(rep, f, n, f"{k} {str(v)[:40]!r} is not an RFC 3339 time" + ("; skipped" if k in REQUIRED[source]
                                                                             else ""), f"time:{k}")
            usable = usable and k not in REQUIRED[source]
    for k in NUMBERS & rec.keys():
        v = rec[k]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) and not _is_number(v)):
            _add(rep, f, n, f"{k} should be a number, got {str(v)[:40]!r}", f"num:{k}")
            usable = usable and k not in REQUIRED[source]
    for k in OBJECTS & rec.keys():
        if rec[k] is not None and not isinstance(rec[k], dict):
            _add(rep, f, n, f"{k} should be an object, got {type(rec[k]).__name__}", f"obj:{k}")
    for (src, k), allowed in ENUMS.items():
        if src == source and rec.get(k) is not None and str(rec[k]).lower() not in allowed:
            _add(rep, f, n, f"unknown {k} {str(rec[k])[:30]!r} (expected one of {', '.join(sorted(allowed)[:8])})",
                 f"enum:{k}")
    for k in ("service", "message", "name"):
        if k in rec and rec[k] is not None and not isinstance(rec[k], str):
            _add(rep, f, n, f"{k} should be a string, got {type(rec[k]).__name__}", f"str:{k}")
    return usable


def _is_time(v) -> bool:
    if not isinstance(v, str):
        return False
    try:
        datetime.fromisoformat(v.strip())
        # a date alone is midnight to the loader (DuckDB) too; "20260306" and "16:00" are not times to it
        return "T" in v or " " in v.strip() or bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()))
    except ValueError:
        return False


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _parquet(f: Path, source: str, rep: ValidationReport, caps: Caps) -> None:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        con.execute("SET TimeZone='UTC'")
        rel = capped_relation(con, f, source, caps, caps.records)        # the rows the loader reads
        cols = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
        missing = [c for c in REQUIRED[source] if c not in cols]
        if missing:
            rep.problems.append(Problem(str(f), None, f"missing required column(s) {', '.join(missing)}", fatal=True))
            return
        total, _, cut = record_counts(con, f, source, caps)
        if total > caps.records:
            total = caps.records
            rep.problems.append(Problem(str(f), None, caps.records_note(f.name)))
        if cut:
            rep.problems.append(Problem(str(f), None, caps.fields_note(f.name, cut)))
        bad = 0
        for c in REQUIRED[source]:
            cond = f"{c} IS NULL" + (f" OR TRY_CAST({c} AS TIMESTAMPTZ) IS NULL" if c in TIME_FIELDS else "")
            rows = con.execute(f"SELECT row_number FROM (SELECT row_number() OVER () AS row_number, * FROM {rel}) "
                               f"WHERE {cond} LIMIT {MAX_PER_PROBLEM + 1}").fetchall()
            for (rn,) in rows[:MAX_PER_PROBLEM]:
                rep.problems.append(Problem(str(f), rn, f"row {rn}: {c} is missing or not a time; skipped"))
            bad += len(rows)
        if source == "logs" and "level" in cols:
            for lvl, cnt in con.execute(f"SELECT lower(CAST(level AS VARCHAR)), count(*) FROM {rel} GROUP BY 1").fetchall():
                if lvl is not None and lvl not in ENUMS[("logs", "level")]:
                    rep.problems.append(Problem(str(f), None, f"unknown level {lvl!r} in {cnt} rows"))
        rep.records[source] += total - bad
        if total == 0:          # as for an empty JSONL file, and as investigate reads it: no data of the kind
            rep.problems.append(Problem(str(f), None, f"empty: no {source} records in the snapshot"))
        elif total - bad <= 0:
            rep.problems.append(Problem(str(f), None, f"no usable {source} records", fatal=True))
    except duckdb.Error as e:
        rep.problems.append(Problem(str(f), None, f"not a readable Parquet file ({str(e).splitlines()[0][:200]})",
                                    fatal=True))
    finally:
        con.close()
