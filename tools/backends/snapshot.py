"""The embedded default backend: an incident snapshot directory read in place with DuckDB.

Each telemetry file is scanned once by DuckDB into a typed, in-memory columnar table
(never into Python objects); every primitive of the Telemetry protocol is then one
parameterised SQL query. Malformed records are dropped and counted, never fatal.
"""
from __future__ import annotations

import gzip
import json
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import Field

from tools.domain.errors import QueryError, SnapshotError
from tools.domain.incident import NOT_TELEMETRY, TIME_FIELDS, load_incident

from .base import (EVENT_SOURCES, FIELDS, REQUIRED, SOURCES, BackendConfig, Coverage, Filter, Incident, Source,
                   TelemetryError, TimeWindow, as_utc, checked_regex)
from .caps import MAX_RECORD_BYTES, SCAN_OBJECT_BYTES, Caps, ScanWatch, file_head, gzip_broken, sanitized_copy
from .fastpaths import FastPaths
from .scan import (JSON_FIELDS, NUMERIC_FIELDS, capped_relation, create_table, like_escaped, text_cut_possible,
                   typed_columns)

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
TIME_OF = {s: ("not_after" if s == "certificates" else "time") for s in SOURCES}


def source_files(path: Path, source: str) -> list[Path]:
    """The one file of a source. A directory or broken link in its place, two files for one source
    (logs.jsonl beside logs.jsonl.gz would count every record twice), or a link to a file outside the
    snapshot (its records would reach the transcript and a model unseen) is an error, not "no data"."""
    found = [path / f"{source}{suf}" for suf in SUFFIXES if (path / f"{source}{suf}").exists()
             or (path / f"{source}{suf}").is_symlink()]
    for f in found:
        if not f.is_file():
            raise SnapshotError(f"{f}: not a readable regular file (a directory, a broken link or a device)")
        if f.is_symlink() and not f.resolve().is_relative_to(path.resolve()):
            raise SnapshotError(f"{f}: a link to {f.resolve()}, outside the snapshot; refused (copy the file "
                                f"into the snapshot to use it)")
    if len(found) > 1:
        raise SnapshotError(f"{', '.join(f.name for f in found)} in {path}: one file per source, "
                            f"or every record is counted twice; keep one")
    return found


class SnapshotConfig(BackendConfig):
    """`backend = "snapshot"`: any source from a snapshot directory."""
    backend: Literal["snapshot"]
    path: str = Field(description="The snapshot directory.")

    def open(self, incident: Incident) -> SnapshotTelemetry:
        return SnapshotTelemetry(self.path)


SNIFF_BYTES = 4 << 20                  # of a JSONL file, read for the fields it has (`_unseen`)
DUCKDB_THREADS: int | None = None       # DuckDB's default (one per core) unless set: eval's workers share the cores


class SnapshotTelemetry(FastPaths):
    """Telemetry answered from a snapshot directory (INCIDENT_FORMAT.md v1)."""

    def __init__(self, path: str | Path, caps: Caps | None = None):
        self.path = Path(path)
        self.incident = load_incident(self.path)
        self.caps = caps or Caps.from_env()
        # No progress bar: it would be drawn on stdout, inside `--json` output.
        self.con = duckdb.connect(":memory:", config={"threads": DUCKDB_THREADS} if DUCKDB_THREADS else {})
        self.con.execute("SET enable_progress_bar = false")
        self.con.execute("SET TimeZone='UTC'")
        # Nothing here is ever persisted: an automatic checkpoint would only rewrite every table, once its writes
        # pass the threshold (at 5M lines, the first table built after the load took 1.7 s and 480 MiB more).
        self.con.execute("SET checkpoint_threshold = '1TB'")
        self._tmp = tempfile.TemporaryDirectory(prefix="fivewhys-")
        self._coverage: dict[str, Coverage] = {}
        self._stored: dict[str, str] = {}      # the stored columns of the table being loaded (the others are virtual)
        self._fast_init()
        for source in SOURCES:
            self._coverage[source] = self._load(source)
        self._all_services: set[str] | None = None            # the whole snapshot's, on first use

    # ---- loading -------------------------------------------------------------------------
    def _raw_relation(self, f: Path, source: str, limit: int | None, object_bytes: int = MAX_RECORD_BYTES,
                      flag_kept_text: bool = True) -> str:
        return capped_relation(self.con, f, source, self.caps, limit, object_bytes, flag_kept_text)

    def _load(self, source: str) -> Coverage:
        files = source_files(self.path, source)      # at most one: two files for a source are refused
        if not files:
            create_table(self.con, source, FIELDS[source])
            return Coverage(present=False)
        f, t = files[0], TIME_OF[source]
        usable = _usable(source)
        try:
            total, torn, notes = self._read(f, source)
            # One pass for the counts, the range and whether the file is in time order (the window is cheap;
            # files are nearly always written in order and one that is not is sorted below).
            rows, first, last, unsorted = self.con.execute(
                f"SELECT count(*), min({t}), max({t}), count(*) FILTER (WHERE {t} < prev) FROM (SELECT {t}, "
                f"lag({t}) OVER () AS prev FROM {source} WHERE {usable})").fetchone()
            if not rows and (total or torn):
                # `snapshot validate` calls such a snapshot not usable; read as "nothing happened" it would be answered
                raise SnapshotError(f"{f}: no usable {source} record ({total} malformed"
                                    f"{', the file is cut short or corrupt' if torn else ''}; `fivewhys snapshot "
                                    f"validate {self.path}` lists the problems); fix or remove the file")
            # Unusable records go in memory, not in another scan of the file; a file out of time order is
            # sorted here, so time filters skip whole row groups.
            if unsorted:
                stored = [c for c in FIELDS[source] if c in self._stored]
                create_table(self.con, "_sorted", stored, source)
                self.con.execute(f"INSERT INTO _sorted BY NAME SELECT {', '.join(stored)} FROM {source} WHERE {usable} "
                                 f"ORDER BY {t}")
                self.con.execute(f"DROP TABLE {source}")
                self.con.execute(f"ALTER TABLE _sorted RENAME TO {source}")
            elif rows < total:
                self.con.execute(f"DELETE FROM {source} WHERE NOT ({usable})")
        except (duckdb.Error, OSError, EOFError, gzip.BadGzipFile) as e:
            raise SnapshotError(f"{f}: cannot be read ({_first_line(e)})") from None
        return Coverage(present=True, rows=rows, first=first, last=last, skipped_lines=total - rows,
                        cut_short=[f.name] if torn else [], files=[f.name], capped=notes)

    def _read(self, f: Path, source: str) -> tuple[int, bool, list[str]]:
        """One file into the source's table in one typed scan, within the caps: (records read, whether the file
        was torn, what the caps left out). Unusable records are still in the table: the caller deletes them."""
        caps, src, torn, notes = self.caps, f, False, []
        over = ScanWatch(f, caps, self.con.interrupt) if f.suffix != ".parquet" else None
        total = unread = cut = 0
        try:
            if not (over and over.bytes_over):
                total, unread, cut = self._scan_first(f, source, over)
        except duckdb.Error as e:
            if not (isinstance(e, duckdb.InterruptException) or f.name.endswith(".gz") and "GZIP" in str(e).upper()
                    or _too_long(e)):
                raise
            unread = True     # stopped at the bytes cap, a truncated gzip or a huge record: the copy keeps what it can
        if over and over.result():         # waited for before any other query, which its interrupt could stop
            notes.append(caps.bytes_note(f.name))
        if over and (over.bytes_over or unread):
            # Records that read as all-null are malformed JSON or non-UTF-8 text; a UTF-8-clean copy within
            # the bytes cap recovers the latter with their bad bytes replaced, instead of losing them.
            src, torn = sanitized_copy(f, Path(self._tmp.name), caps.bytes)
            total, _, cut = self._scan(src, source, caps.records)
        if total == 0 and src is f and f.name.endswith(".gz"):
            torn = gzip_broken(f, caps.bytes)  # DuckDB skips a gzip trailer's checks; validate does not
        if total == caps.records and self.con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {self._raw_relation(src, source, caps.records + 1)} "
                f"OFFSET {caps.records})").fetchone()[0]:
            notes.append(caps.records_note(f.name))
        if cut:
            notes.append(caps.fields_note(f.name, cut))
        return total, torn, notes

    def _scan_first(self, f: Path, source: str, watch: ScanWatch | None) -> tuple[int, int, int]:
        """`_scan` of the file's first records (up to the records cap). A JSONL file is read without LIMIT (a
        LIMIT keeps DuckDB's JSON read on one thread: 2.2x the bare scan's wall time at 5M lines), and again with
        it only when that read more records than the cap, was stopped by the watch's line count or failed: so
        the records kept, and every error met, are the LIMIT scan's. The bytes cap's stop is the caller's."""
        if watch:
            try:
                counts = self._scan(f, source, None, SCAN_OBJECT_BYTES, self._unseen(f, source))
            except duckdb.Error as e:
                if watch.bytes_over or _too_long(e):
                    raise
                counts = None
            finally:
                watch.limited()            # from here only the bytes cap stops a scan, as before
            if counts and counts[0] <= self.caps.records:
                return counts
        return self._scan(f, source, self.caps.records)

    def _scan(self, src: Path, source: str, limit: int | None, object_bytes: int = MAX_RECORD_BYTES,
              unseen: frozenset[str] = frozenset()) -> tuple[int, int, int]:
        """(Re)create the source's table from one scan of `src`, of its first `limit` records (all if None):
        (records, records whose required fields all read as null, records with a field cut). `unseen` fields
        are not stored (virtual NULL columns) unless a record has one after all: the scan is then redone."""
        raw = self._raw_relation(src, source, limit, object_bytes, flag_kept_text=False)
        have = {r[0]: r[1] for r in self.con.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall() if r[0] not in unseen}
        flags = {"_cut": "_cut"} if "_cut" in have else {}
        if src.suffix != ".parquet":    # a malformed or non-UTF-8 JSON record reads as all-null: the caller repairs
            flags["_unread"] = " AND ".join(f"{c} IS NULL" for c in REQUIRED[source])
        if unseen:
            flags["_unseen"] = " OR ".join(f"{c} IS NOT NULL" for c in sorted(unseen))
        create_table(self.con, source, have, extra="".join(f", {k} BOOLEAN" for k in flags))
        self._stored = have
        self.con.execute(f"INSERT INTO {source} BY NAME SELECT {typed_columns(have, source)}"
                         f"{''.join(f', ({v}) AS {k}' for k, v in flags.items())} FROM {raw}")
        if unseen and self.con.execute(f"SELECT bool_or(_unseen) FROM {source}").fetchone()[0]:
            return self._scan(src, source, limit, object_bytes)         # a field the first records lack came later
        counted = ", ".join(f"count(*) FILTER (WHERE {k})" if k in flags else "0" for k in ("_unread", "_cut"))
        counts = self.con.execute(f"SELECT count(*), {counted} FROM {source}").fetchone()
        # Rare: counted exactly, in one more read (not after a first read past the records cap: one with LIMIT follows).
        if (limit is not None or counts[0] <= self.caps.records) and text_cut_possible(self.con, source, have,
                                                                                        self.caps):
            again = self._raw_relation(src, source, limit, object_bytes)
            counts = *counts[:2], self.con.execute(f"SELECT count(*) FILTER (WHERE _cut) FROM {again}").fetchone()[0]
        for k in flags:                 # counted: the table keeps the format's columns only
            self.con.execute(f"ALTER TABLE {source} DROP COLUMN {k}")
        return counts

    def _unseen(self, f: Path, source: str) -> frozenset[str]:
        """The optional fields whose name is nowhere in the first 4 MiB of a JSONL file. DuckDB must be told a
        JSONL file's columns before it reads it, and a field no record has would be a stored column of NULLs
        (~24 MiB each at 5M lines): `_scan` leaves these out and checks the guess in the same scan. Read here in
        bytes, not records: a prefix of blank lines or one endless line must not be read to find records."""
        head = file_head(f, SNIFF_BYTES)
        return frozenset(c for c in FIELDS[source] if c not in REQUIRED[source] and f'"{c}"'.encode() not in head)

    # ---- the Telemetry protocol ------------------------------------------------------------
    def coverage(self, source: Source) -> Coverage:
        return self._coverage[source]

    def services(self, window: TimeWindow) -> set[str]:
        return self._services_where(Filter(start=window.start, end=window.end))

    def _every_service(self) -> set[str]:        # who emits anything at all (a callee outside them is external)
        if self._all_services is None:
            self._all_services = self._services_where(Filter())
        return self._all_services

    def _services_where(self, f: Filter) -> set[str]:
        parts = [(f"SELECT DISTINCT service FROM {s} WHERE {cond}", params) for s in SOURCES
                 if self._coverage[s].present and s not in NOT_TELEMETRY for cond, params in [self._where(s, f)]]
        if not parts:
            return set()
        rows = self._rows(" UNION ".join(sql for sql, _ in parts), [p for _, ps in parts for p in ps])
        return {r["service"] for r in rows if r["service"]}

    def count(self, source, where, by=(), bucket_s=None, limit=10_000):
        cols = [_field(source, b) for b in by]
        if (fast := self._count_by_minute(source, where, cols, bucket_s, limit)) is not None:
            return fast
        if (fast := self._count_matches(source, where, cols, bucket_s, limit)) is not None:
            return fast
        if bucket_s:
            cols.append(f"time_bucket(INTERVAL '{int(bucket_s)} seconds', time) AS bucket")
        cond, params = self._where(source, where)
        err = _error_condition(source)
        keys = ", ".join(str(i + 1) for i in range(len(cols)))
        sql = (f"SELECT {', '.join(cols + ['count(*) AS n', f'count(*) FILTER (WHERE {err}) AS errors'])} "
               f"FROM {source} WHERE {cond} {f'GROUP BY {keys}' if cols else ''} "
               f"{f'ORDER BY {keys}' if cols else ''} LIMIT {int(limit)}")
        return self._rows(sql, params)

    def sample(self, source, where, limit=20, order="time"):
        if (fast := self._sample_matches(source, where, limit, order)) is not None:
            return fast
        if (fast := self._sample_notable(source, where, limit, order)) is not None:
            return fast
        cond, params = self._where(source, where)
        t = TIME_OF[source]
        # The rows are picked by row id first, so the ordering does not carry every field of every row.
        key = f"hash({t}, rowid)" if order == "spread" else t     # spread: a deterministic pseudo-random sample
        sql = (f"SELECT * FROM {source} WHERE rowid IN (SELECT rowid FROM {source} WHERE {cond} ORDER BY {key} "
               f"LIMIT {int(limit)}) ORDER BY {t}")
        return self._rows(sql, params)

    def metric_series(self, where, by=(), step_s=60, agg="avg"):
        if agg not in ("avg", "max", "sum", "min"):
            raise QueryError(f"unknown aggregation {agg!r}")
        # peer_service: the callee a per-edge series measures (labels.peer_service), else null
        cols = [("json_extract_string(labels, '$.peer_service') AS peer_service" if b == "peer_service"
                 else _field("metrics", b)) for b in by]
        cols.append(f"time_bucket(INTERVAL '{int(step_s)} seconds', time) AS bucket")
        cond, params = self._where("metrics", where)
        keys = ", ".join(str(i + 1) for i in range(len(cols)))
        sql = (f"SELECT {', '.join(cols)}, {agg}(value) AS value FROM metrics "
               f"WHERE {cond} AND value IS NOT NULL AND isfinite(value) GROUP BY {keys} ORDER BY {keys}")
        return self._rows(sql, params)

    def metric_names(self, where):
        cond, params = self._where("metrics", where)
        return self._rows(f"SELECT service, name, count(*) AS n FROM metrics WHERE {cond} "
                          f"GROUP BY service, name ORDER BY service, name", params)

    def span_latency(self, where, by=("service",), bucket_s=None, limit=10_000):
        cond, params = self._where("spans", where, alias="s")
        cols = [_field("spans", b) for b in by] + (
            [f"time_bucket(INTERVAL '{int(bucket_s)} seconds', time) AS bucket"] if bucket_s else [])
        keys = ", ".join(str(i + 1) for i in range(len(cols)))
        # A span's own time is its duration minus its children's (clamped: async children may overlap it).
        own = f"SELECT * FROM {table} s WHERE {cond}" if (table := not where.text and self._span_own_table()) else f"""
              SELECT any_value(s.service) AS service, any_value(s.kind) AS kind, any_value(s.operation) AS operation,
                     any_value(s.peer_service) AS peer_service, any_value(s.time) AS time,
                     any_value(s.status) AS status, any_value(s.duration_ms) AS duration_ms,
                     greatest(any_value(s.duration_ms) - coalesce(sum(c.duration_ms), 0), 0) AS self_ms
                FROM spans s LEFT JOIN spans c ON c.trace_id = s.trace_id AND c.parent_span_id = s.span_id
               WHERE {cond} GROUP BY s.trace_id, s.span_id"""
        sql = f"""
            WITH own AS ({own})
            SELECT {''.join(c + ', ' for c in cols)}count(*) AS n, count(*) FILTER (WHERE status = 'error') AS errors,
                   count(status) AS with_status,
                   quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.9) AS p90_ms,
                   quantile_cont(self_ms, 0.5) AS self_p50_ms, quantile_cont(self_ms, 0.9) AS self_p90_ms
              FROM own {f'GROUP BY {keys} ORDER BY {keys}' if cols else ''} LIMIT {int(limit)}"""
        return self._rows(sql, params)

    def events(self, source, where, limit=200):
        if source not in EVENT_SOURCES:
            raise QueryError(f"{source} is not an event source")
        cond, params = self._where(source, where)
        return self._rows(f"SELECT * FROM {source} WHERE {cond} ORDER BY {TIME_OF[source]} LIMIT {int(limit)}", params)

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()

    # ---- SQL helpers ----------------------------------------------------------------------
    def _where(self, source: str, f: Filter, alias: str = "") -> tuple[str, list[Any]]:
        a = f"{alias}." if alias else ""
        cond, params = ["true"], []
        t = TIME_OF[source]
        if source != "certificates":
            if f.start is not None:
                cond.append(f"{a}{t} >= ?"); params.append(f.start)
            if f.end is not None:
                cond.append(f"{a}{t} < ?"); params.append(f.end)
        simple = {"services": "service", "levels": "level", "kinds": "kind", "trace_ids": "trace_id"}
        for attr, col in simple.items():
            vals = getattr(f, attr)
            if vals is not None and col in FIELDS[source]:
                cond.append(f"{a}{col} IN ({', '.join('?' * len(vals)) or 'NULL'})"); params.extend(vals)
        for attr in ("name", "status", "peer_service"):
            val = getattr(f, attr)
            if val is not None and attr in FIELDS[source]:
                cond.append(f"{a}{attr} = ?"); params.append(val)
        if f.text:
            target = {"logs": "message", "scaling": "message", "deployments": "description"}.get(
                source, "CAST(attributes AS VARCHAR)" if "attributes" in FIELDS[source] else "service")
            target = f"{a}{target}" if not target.startswith("CAST") else f"CAST({a}attributes AS VARCHAR)"
            if f.regex:
                cond.append(f"regexp_matches({target}, ?, 'i')"); params.append(checked_regex(f.text))
            else:
                # ILIKE with no ESCAPE clause is the fast one; a text holding a wildcard needs the clause
                esc = " ESCAPE '\\'" if re.search(r"[%_\\]", f.text) else ""
                cond.append(f"{target} ILIKE ?{esc}"); params.append(f"%{like_escaped(f.text) if esc else f.text}%")
        return " AND ".join(cond), params

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        try:
            cur = self.con.execute(sql, params)
        except duckdb.Error as e:
            raise TelemetryError(f"query failed: {_first_line(e)}") from None
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            rec = dict(zip(names, row))
            for k in JSON_FIELDS & rec.keys():
                if isinstance(rec[k], str):
                    try:
                        rec[k] = json.loads(rec[k])
                    except ValueError:
                        pass
            out.append(rec)
        return out


def _field(source: str, name: str) -> str:
    if name not in FIELDS[source]:
        raise QueryError(f"{source} has no field {name!r} (fields: {', '.join(FIELDS[source])})")
    return name


def _usable(source: str) -> str:
    """A record with its required fields. An empty string is as missing as null (validate says so too): a
    service named "" is no service. Only text can be empty: casting times or numbers to text to ask would
    cost as much as the scan that loaded them."""
    typed = TIME_FIELDS | NUMERIC_FIELDS.keys() | JSON_FIELDS
    return " AND ".join(f"{c} IS NOT NULL" + ("" if c in typed else f" AND {c} <> ''") for c in REQUIRED[source])


def _error_condition(source: str) -> str:
    return {"logs": "level IN ('error', 'fatal')", "spans": "status = 'error'",
            "scaling": "status = 'failed'", "deployments": "status = 'failed'"}.get(source, "false")


def _too_long(e: duckdb.Error) -> bool:
    """DuckDB met a JSON record longer than its read buffer (about twice `maximum_object_size`)."""
    return "maximum_object_size" in str(e)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def parse_time(value: str) -> datetime:
    """RFC 3339 (a trailing Z included) → aware datetime; naive times are taken as UTC."""
    return as_utc(datetime.fromisoformat(value.strip().replace("z", "Z")))
