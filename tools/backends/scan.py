"""Reading one telemetry file with DuckDB within the caps: shared by the loader (snapshot.py) and
`snapshot validate`, so the two read the same records and report the same caps."""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from tools.domain.incident import FIELDS, LEVELS, REQUIRED, TIME_FIELDS

from .caps import MAX_RECORD_BYTES, Caps

JSON_FIELDS = {"attributes", "labels", "changes"}
NUMERIC_FIELDS = {"value": "DOUBLE", "duration_ms": "DOUBLE", "from_count": "INTEGER",
                  "desired_count": "INTEGER", "actual_count": "INTEGER"}
LOWER_FIELDS = {"status", "kind", "action", "event", "purpose"}
# Read as a time or a number: their text is never kept, so never cut (a megabyte of it is simply not a time).
PARSED_FIELDS = TIME_FIELDS | set(NUMERIC_FIELDS)
# Kept in the table as the text read (lower() and the level's aliases aside), so a cut shows in the table; a JSON
# object over its cap is left out whole, which does not.
KEPT_AS_TEXT = {c for cs in FIELDS.values() for c in cs} - PARSED_FIELDS - JSON_FIELDS
LEVEL_ALIASES = {"warning": "warn", "err": "error", "critical": "fatal", "crit": "fatal",
                 "panic": "fatal", "emerg": "fatal", "alert": "fatal", "trace": "debug", "notice": "info"}
# Parquet types whose values are short whatever they hold; any other type (VARIANT, UNION, …) is read as text
SHORT_TYPES = re.compile(r"BOOLEAN|U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|DECIMAL\(.*\)|DATE|INTERVAL|UUID"
                         r"|TIME( WITH TIME ZONE)?|TIMESTAMP(_NS|_MS|_S| WITH TIME ZONE)?")


def capped_relation(con: duckdb.DuckDBPyConnection, f: Path, source: str, caps: Caps,
                    limit: int | None, object_bytes: int = MAX_RECORD_BYTES, flag_kept_text: bool = True) -> str:
    """The file's first `limit` records (every record if None) with each field cut to its cap (a JSON object over it left out),
    plus `_cut`, whether any field was: cut in the same scan, so a megabyte-long field is never kept. Without
    `flag_kept_text`, `_cut` leaves out the fields kept as text, whose cuts the table's statistics show
    (`text_cut_possible`), and is not there when no other field can be cut: the flag's column was 19% of a
    5M-row Parquet load."""
    if f.suffix == ".parquet":
        rel = f"read_parquet('{sql_path(f)}')"
    else:
        cols = ", ".join(f"'{c}': '{'JSON' if c in JSON_FIELDS else 'VARCHAR'}'" for c in FIELDS[source])
        rel = (f"read_json('{sql_path(f)}', format='newline_delimited', ignore_errors=true, "
               f"maximum_object_size={object_bytes}, columns={{{cols}}})")
    have = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
    cols, long = [], []
    for c in (c for c in FIELDS[source] if c in have):
        n, typ = caps.chars(c), have[c].upper()
        text = as_text(c, typ)
        # strlen (bytes, known without reading the text) bounds length (characters) from above: only a
        # value over the cap in bytes is measured in characters, which keeps the scan as fast as a bare one.
        over = f"(strlen({text}) > {n} AND length({text}) > {n})"
        if SHORT_TYPES.fullmatch(typ):
            cols.append(c)
        elif c in PARSED_FIELDS:
            cols.append(f"{text} AS {c}")
        elif c in JSON_FIELDS or typ == "JSON" or typ.startswith(("STRUCT", "MAP")) or typ.endswith("]"):
            # an object cut would no longer be JSON: left out whole
            cols.append(f"CASE WHEN {over} THEN NULL ELSE {text if typ == 'BLOB' else c} END AS {c}")
            long.append(over)
        else:
            cols.append(f"CASE WHEN strlen({text}) > {n} THEN left({text}, {n}) ELSE {text} END AS {c}")
            if flag_kept_text or not cut_shows(c, caps):
                long.append(over)
    if long or flag_kept_text:
        cols.append(f"coalesce({' OR '.join(long) or 'false'}, false) AS _cut")
    # A LIMIT makes DuckDB read the file in order on one thread (2.7x the bare scan's wall time at 5M Parquet
    # rows on two cores): a Parquet file states its row count, so one within the cap is read without it (the
    # loader reads a JSONL file without it first, and counts: snapshot._scan_first).
    within = limit is None or (f.suffix == ".parquet"
                               and con.execute(f"SELECT count(*) FROM {rel}").fetchone()[0] <= limit)
    return f"(SELECT {', '.join(cols)} FROM {rel}{'' if within else f' LIMIT {int(limit)}'})"


def as_text(c: str, typ: str) -> str:
    """Column `c` of DuckDB type `typ` as text. BLOB: text from a Parquet writer that did not mark it UTF-8,
    decoded (its bytes escaped, as `\\xFF`, only when they are not UTF-8)."""
    if typ == "VARCHAR":
        return c
    if typ == "BLOB":
        return f"coalesce(try(decode({c})), CAST({c} AS VARCHAR))"
    return f"CAST({c} AS VARCHAR)"


def cut_shows(c: str, caps: Caps) -> bool:
    """Whether a cut of field `c` shows in the table's statistics (`text_cut_possible`): it is kept as the text read,
    and a level cut to a cap shorter than the longest alias could become the (shorter) level it names."""
    return c in KEPT_AS_TEXT and (c != "level" or caps.chars(c) > max(map(len, LEVEL_ALIASES)))


def text_cut_possible(con: duckdb.DuckDBPyConnection, table: str, have: dict[str, str], caps: Caps) -> bool:
    """Whether a field kept as text may have been cut to its cap in `table` (loaded with `flag_kept_text` off).
    A cut value is `cap` characters, so at least `cap` bytes (lower() maps one character to one), and DuckDB's
    statistics hold each column's longest value in bytes, read without a scan; unknown statistics say maybe."""
    cols = [c for c in FIELDS[table] if cut_shows(c, caps) and have.get(c) == "VARCHAR"]
    if not cols:
        return False
    row = con.execute(f"SELECT {', '.join(f'stats({c})' for c in cols)} FROM {table} LIMIT 1").fetchone()
    return row is not None and any((n := _longest(s)) is None or n >= caps.chars(c) for c, s in zip(cols, row))


def _longest(stats: object) -> int | None:
    """A column's longest value in bytes from `stats()`: a struct since DuckDB 2.0, text before it."""
    if isinstance(stats, dict):
        return stats.get("max_string_length")
    m = re.search(r"Max String Length: (\d+)", str(stats))
    return int(m.group(1)) if m else None


def typed_columns(have: dict[str, str], source: str) -> str:
    """The typed select of the format's columns a file has (`have`: column → DuckDB type)."""
    sel = []
    for c in (c for c in FIELDS[source] if c in have):
        if c in TIME_FIELDS:
            sel.append(f"TRY_CAST({c} AS TIMESTAMPTZ) AS {c}")
        elif c in JSON_FIELDS:             # JSON text (a Parquet file's) is parsed; an invalid one is left out
            sel.append(c if have[c] == "JSON" else f"TRY_CAST({c} AS JSON) AS {c}" if have[c] == "VARCHAR"
                       else f"TRY_CAST(to_json({c}) AS JSON) AS {c}")
        elif c == "value":                 # NaN, inf and 1e308 (which overflows any average) are not readings
            sel.append("CASE WHEN abs(TRY_CAST(value AS DOUBLE)) < 1e100 THEN TRY_CAST(value AS DOUBLE) END AS value")
        elif c in NUMERIC_FIELDS:
            sel.append(f"TRY_CAST({c} AS {NUMERIC_FIELDS[c]}) AS {c}")
        elif c in LOWER_FIELDS:            # "Failed", "ERROR", "CLIENT": the format's values, any case
            sel.append(f"lower(CAST({c} AS VARCHAR)) AS {c}")
        elif c == "level":
            # The format's own levels pass as they are (lower() of every row cost more), tested by `=`: DuckDB
            # turns an IN list into a join, and the insert then lost the file's order (a sort more at 5M lines).
            text = "CAST(level AS VARCHAR)"
            own = " OR ".join(f"{text} = '{v}'" for v in LEVELS)
            cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in LEVEL_ALIASES.items())
            sel.append(f"CASE WHEN {own} THEN {text} ELSE CASE lower({text}) {cases} ELSE lower({text}) END END AS level")
        else:
            sel.append(f"CAST({c} AS VARCHAR) AS {c}")
    return ", ".join(sel)


def create_table(con: duckdb.DuckDBPyConnection, table: str, have: Iterable[str], source: str | None = None,
                 extra: str = "") -> None:
    """(Re)create an empty table of the source's format columns. Those the file lacks are virtual columns that
    read as NULL, not stored NULLs: two absent columns were ~50 MiB of a 5M-line load's peak."""
    cols = []
    for c in FIELDS[source or table]:
        typ = "TIMESTAMPTZ" if c in TIME_FIELDS else "JSON" if c in JSON_FIELDS else NUMERIC_FIELDS.get(c, "VARCHAR")
        cols.append(f"{c} {typ}" if c in have else f"{c} {typ} GENERATED ALWAYS AS (CAST(NULL AS {typ})) VIRTUAL")
    con.execute(f"CREATE OR REPLACE TABLE {table} ({', '.join(cols)}{extra})")


def record_counts(con: duckdb.DuckDBPyConnection, f: Path, source: str, caps: Caps) -> tuple[int, int, int]:
    """Records read up to one past the records cap (so reaching it shows); of those within the cap, records whose
    required fields are all null (malformed or non-UTF-8 JSON) and records with a field cut."""
    nulls = " AND ".join(f"{c} IS NULL" for c in REQUIRED[source])
    total = con.execute(f"SELECT count(*) FROM {capped_relation(con, f, source, caps, caps.records + 1)}").fetchone()[0]
    return total, *con.execute(f"SELECT count(*) FILTER (WHERE {nulls}), count(*) FILTER (WHERE _cut) "
                               f"FROM {capped_relation(con, f, source, caps, caps.records)}").fetchone()


def sql_path(p: Path) -> str:
    return str(p).replace("'", "''")


def like_escaped(text: str) -> str:
    """`text` for `LIKE … ESCAPE '\\'`: its own wildcards and backslashes taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
