"""Tables the snapshot backend builds once and reuses, so a repeated question costs milliseconds, not a scan
of millions of rows. Each answers exactly what the plain query over the source table answers.

- Per-minute counts of logs (service, level, zone, instance) and spans (service, kind, peer_service, status):
  counts whose filters and groups are among those columns are summed from them; the partial minutes at the
  ends of an unaligned time range are counted from the source table (a time-ordered table reads only them).
- The span-edge table (caller, callee and the filtered span's fields): what `span_edges` joins spans for
  (answered here, beside `span_calls`: the calls each handler makes per request, before and after a split,
  and the log statements its span wrote, where log lines carry their span id).
- Each span's own time (its duration minus its children's): what `span_latency` joins spans for.
- The row ids of the logs at warn and above (with the fields a filter reads): a sample of errors or warnings
  reads those, not the millions of info lines around them.
- The matches of a text search (row ids plus the fields counts group by): a `search_logs` call counts,
  samples and finds the first match in one scan of the messages, not three.
Each is built on first use (a load does not pay for tables no tool asks for), and left out when it would not
be much smaller than the table it summarises.
"""
from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from tools.domain.errors import TelemetryError
from tools.domain.statements import SOURCE_LOCATION

MINUTE_DIMS = {"logs": ("service", "level", "zone", "instance"), "spans": ("service", "kind", "peer_service", "status")}
MATCH_FIELDS = {"logs": ("time", "service", "level")}
MINUTE_TABLE_SHARE = 0.25                         # kept only when at most this share of the table's rows
KEEP_MATCHES = 2                                  # text searches kept (a tool asks the same one up to 3 times)
ERRORS = {"logs": "level IN ('error', 'fatal')", "spans": "status = 'error'"}
NOTABLE = {"logs": ("warn", "error", "fatal")}   # levels whose rows are listed apart, for samples of them
NOTABLE_FIELDS = ("time", "service", "level", "trace_id")      # every logs field a filter without text reads
LOG_STEP_ROWS = 300_000                           # log lines read for the steps of call_changes (a sample of traces)
_ids = itertools.count()


def _handlers(cond: str) -> str:
    """The CTEs both kinds of step are counted against: the parent spans `p` in `cond` (its one parameter the
    split), and `asked`, each handler's requests before and after it."""
    return f"""p AS (SELECT trace_id, span_id, service, operation, time >= ? AS after FROM spans s WHERE {cond}),
            asked AS (SELECT service, operation, count(*) FILTER (WHERE NOT after) AS requests_before,
                             count(*) FILTER (WHERE after) AS requests_after FROM p GROUP BY ALL)"""


def _ceil_minute(t: datetime) -> datetime:
    floor = t.replace(second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(minutes=1)


class FastPaths:
    """Mixed into SnapshotTelemetry: uses its `con`, `_where`, `_rows` and the source tables."""
    con: Any
    minute_table_share = MINUTE_TABLE_SHARE

    def _fast_init(self) -> None:
        self._minute_tables: dict[str, str | None] = {}
        self._matches: OrderedDict[tuple, str] = OrderedDict()
        self._notable_tables: dict[str, str | None] = {}
        self._edges_table: str | None = None
        self._own_table: str | None = None

    # ---- per-minute counts -----------------------------------------------------------------------------
    def _minute_table(self, source: str) -> str | None:
        if source not in self._minute_tables:
            name, dims = f"_{source}_per_minute", ", ".join(MINUTE_DIMS[source])
            # The minute from the epoch's microseconds (floored, before 1970 too): time_bucket's value without
            # the time-zone arithmetic it does on a TIMESTAMPTZ, a quarter of this build at 5M rows.
            us = "epoch_us(time)"
            self.con.execute(f"CREATE TABLE {name} AS SELECT make_timestamptz({us} - ({us} % 60000000 + 60000000) "
                             f"% 60000000) AS minute, {dims}, "
                             f"count(*) AS n, count(*) FILTER (WHERE {ERRORS[source]}) AS errors FROM {source} "
                             f"GROUP BY ALL ORDER BY minute")
            small, rows = self.con.execute(f"SELECT (SELECT count(*) FROM {name}), "
                                           f"(SELECT count(*) FROM {source})").fetchone()
            if small > rows * self.minute_table_share:       # hardly smaller than the table: no gain
                self.con.execute(f"DROP TABLE {name}")
                name = None
            self._minute_tables[source] = name
        return self._minute_tables[source]

    def _count_by_minute(self, source, where, cols: list[str], bucket_s, limit) -> list[dict] | None:
        """The count from the per-minute table, or None when it cannot give the same answer."""
        if (source not in MINUTE_DIMS or where.text or where.trace_ids is not None
                or not set(cols) <= set(MINUTE_DIMS[source]) or (bucket_s and int(bucket_s) % 60)):
            return None
        lo = _ceil_minute(where.start) if where.start else None
        hi = where.end.replace(second=0, microsecond=0) if where.end else None
        if lo and hi and lo >= hi:
            return None
        table = self._minute_table(source)
        if table is None:
            return None
        bucket = (lambda t: [f"time_bucket(INTERVAL '{int(bucket_s)} seconds', {t}) AS bucket"]) if bucket_s else (
            lambda t: [])
        dims, params = self._where(source, where.but(start=None, end=None))
        bounds = [c for c, v in (("minute >= ?", lo), ("minute < ?", hi)) if v]
        parts = [f"SELECT {', '.join(cols + bucket('minute') + ['n', 'errors'])} FROM {table} "
                 f"WHERE {' AND '.join([dims] + bounds)}"]
        params = params + [v for v in (lo, hi) if v]
        if lo or hi:                                   # the partial minutes at the ends, from the rows
            cond, p = self._where(source, where)
            edges = " OR ".join(c for c, v in (("time < ?", lo), ("time >= ?", hi)) if v)
            parts.append(f"SELECT {', '.join(cols + bucket('time'))}{', ' if cols or bucket_s else ''}1 AS n, "
                         f"CASE WHEN {ERRORS[source]} THEN 1 ELSE 0 END AS errors FROM {source} "
                         f"WHERE {cond} AND ({edges})")
            params += p + [v for v in (lo, hi) if v]
        keys = ", ".join(str(i + 1) for i in range(len(cols) + bool(bucket_s)))
        names = cols + (["bucket"] if bucket_s else [])
        sql = (f"SELECT {''.join(c + ', ' for c in names)}CAST(coalesce(sum(n), 0) AS BIGINT) AS n, "
               f"CAST(coalesce(sum(errors), 0) AS BIGINT) AS errors FROM ({' UNION ALL '.join(parts)}) "
               f"{f'GROUP BY {keys} ORDER BY {keys}' if keys else ''} LIMIT {int(limit)}")
        return self._rows(sql, params)

    # ---- samples of warnings and errors -----------------------------------------------------------------
    def _notable_table(self, source: str, where) -> str | None:
        if source not in NOTABLE or where.text or not where.levels or not set(where.levels) <= set(NOTABLE[source]):
            return None
        if source not in self._notable_tables:
            name, levels = f"_{source}_notable", ", ".join(f"'{v}'" for v in NOTABLE[source])
            self.con.execute(f"CREATE TABLE {name} AS SELECT rowid AS rid, {', '.join(NOTABLE_FIELDS)} FROM {source} "
                             f"WHERE level IN ({levels})")
            small, rows = self.con.execute(f"SELECT (SELECT count(*) FROM {name}), "
                                           f"(SELECT count(*) FROM {source})").fetchone()
            if small > rows * self.minute_table_share:
                self.con.execute(f"DROP TABLE {name}")
                name = None
            self._notable_tables[source] = name
        return self._notable_tables[source]

    def _sample_notable(self, source, where, limit: int, order: str) -> list[dict] | None:
        """The plain sample's rows (the same row ids, the same order keys), picked among the notable rows."""
        if (table := self._notable_table(source, where)) is None:
            return None
        cond, params = self._where(source, where)
        key = "hash(time, rid)" if order == "spread" else "time"
        return self._rows(f"SELECT * FROM {source} WHERE rowid IN (SELECT rid FROM {table} WHERE {cond} ORDER BY "
                          f"{key} LIMIT {int(limit)}) ORDER BY time", params)

    # ---- text searches ---------------------------------------------------------------------------------
    def _match_table(self, source: str, where) -> str | None:
        """The rows matching a filter with text, kept for the next calls with the same filter."""
        if not where.text or source not in MATCH_FIELDS:
            return None
        key = (source, where)
        if key not in self._matches:
            name = f"_matches_{next(_ids)}"
            cond, params = self._where(source, where)
            self._rows(f"CREATE TEMP TABLE {name} AS SELECT rowid AS rid, {', '.join(MATCH_FIELDS[source])} "
                       f"FROM {source} WHERE {cond}", params)
            self._matches[key] = name
            while len(self._matches) > KEEP_MATCHES:
                self.con.execute(f"DROP TABLE {self._matches.popitem(last=False)[1]}")
        self._matches.move_to_end(key)
        return self._matches[key]

    def _count_matches(self, source, where, cols: list[str], bucket_s, limit) -> list[dict] | None:
        if not where.text or source not in MATCH_FIELDS or not set(cols) <= set(MATCH_FIELDS[source]):
            return None
        table = self._match_table(source, where)
        sel = cols + ([f"time_bucket(INTERVAL '{int(bucket_s)} seconds', time) AS bucket"] if bucket_s else [])
        keys = ", ".join(str(i + 1) for i in range(len(sel)))
        return self._rows(f"SELECT {''.join(c + ', ' for c in sel)}count(*) AS n, count(*) FILTER "
                          f"(WHERE {ERRORS[source]}) AS errors FROM {table} "
                          f"{f'GROUP BY {keys} ORDER BY {keys}' if keys else ''} LIMIT {int(limit)}", [])

    def _sample_matches(self, source, where, limit: int, order: str) -> list[dict] | None:
        if not where.text or source not in MATCH_FIELDS:
            return None
        table = self._match_table(source, where)
        key = "hash(time, rid)" if order == "spread" else "time, rid"
        return self._rows(f"SELECT * FROM {source} WHERE rowid IN (SELECT rid FROM {table} ORDER BY {key} "
                          f"LIMIT {int(limit)}) ORDER BY time, rowid", [])

    # ---- spans -----------------------------------------------------------------------------------------
    def span_edges(self, where, limit=500):
        if where.text:                     # spans' text is in their attributes, which the edge table leaves out
            raise TelemetryError("span_edges takes no text filter")
        cond, params = self._where("spans", where, alias="c")
        # A client span names its callee; otherwise a child span in another service is the callee.
        sql = f"""
            WITH e AS (SELECT caller, callee, status, duration_ms FROM {self._span_edge_table()} c WHERE {cond})
            SELECT caller, callee, count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors,
                   quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.99) AS p99_ms
              FROM e WHERE caller <> callee GROUP BY caller, callee ORDER BY errors DESC, calls DESC LIMIT {int(limit)}"""
        rows = self._rows(sql, params)
        for r in rows:
            r["external"] = r["callee"] not in self._every_service()
        return rows

    def span_calls(self, where, split, limit=2000):
        cond, params = self._where("spans", where, alias="s")
        one_in = self._log_step_sample()
        sql = f"""
            WITH {_handlers(cond)},
            made AS (SELECT p.service, p.operation, c.service AS child_service, c.operation AS child_operation,
                            c.peer_service AS child_peer, count(*) FILTER (WHERE NOT p.after) AS calls_before,
                            count(*) FILTER (WHERE p.after) AS calls_after
                       FROM p JOIN spans c ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id GROUP BY ALL)
            SELECT *, 'call' AS step, NULL AS level, NULL AS example, 1 AS one_in FROM made JOIN asked USING (service, operation)
             ORDER BY calls_before + calls_after DESC LIMIT {int(limit)}"""
        rows = self._rows(sql, [split, *params])
        return rows + (self._rows(self._log_steps_sql(cond, one_in, limit), [split, *params]) if one_in else [])

    def _log_step_sample(self) -> int:
        """0 when no log line carries a trace id (no steps to count); else n for one trace in n, so that about
        LOG_STEP_ROWS lines are read: a share of requests needs a fair sample of traces, not every line."""
        n = self.con.execute("SELECT count(*) FROM logs WHERE trace_id IS NOT NULL").fetchone()[0]
        return math.ceil(n / LOG_STEP_ROWS) if n else 0

    def _log_steps_sql(self, cond: str, one_in: int, limit: int) -> str:
        """The log statements each handler's requests reached: a line belongs to the span its attributes name
        (`span_id`, OpenTelemetry's log correlation) in the same trace; a statement is its source location.
        Counted once per request (a loop's lines are one step), over the traces of the sample."""
        sample = f"hash(trace_id) % {one_in} = 0"
        return f"""
            WITH {_handlers(f"{cond} AND {sample}")},
            l AS (SELECT trace_id, json_extract_string(attributes, '$.span_id') AS span_id,
                         regexp_extract(message, '{SOURCE_LOCATION}', 1) AS stmt,
                         max(CASE level WHEN 'fatal' THEN 3 WHEN 'error' THEN 2 WHEN 'warn' THEN 1 ELSE 0 END) AS alarm,
                         any_value(message) AS example
                    FROM logs WHERE trace_id IS NOT NULL AND {sample} GROUP BY ALL),
            steps AS (SELECT p.service, p.operation, p.service AS child_service, l.stmt AS child_operation,
                             NULL::VARCHAR AS child_peer, count(*) FILTER (WHERE NOT p.after) AS calls_before,
                             count(*) FILTER (WHERE p.after) AS calls_after, 'log' AS step,
                             ['info', 'warn', 'error', 'fatal'][max(l.alarm) + 1] AS level, any_value(l.example) AS example
                        FROM p JOIN l ON l.trace_id = p.trace_id AND l.span_id = p.span_id
                       WHERE l.stmt <> '' GROUP BY ALL)
            SELECT *, {one_in} AS one_in FROM steps JOIN asked USING (service, operation)
             ORDER BY calls_before + calls_after DESC LIMIT {int(limit)}"""

    def _span_edge_table(self) -> str:
        """Each call once: the caller, the callee and the fields of the span a filter selects on."""
        if self._edges_table is None:
            self.con.execute("""
                CREATE TABLE _span_edges AS
                  SELECT c.time, c.service, c.kind, c.peer_service, c.status, c.trace_id, c.duration_ms,
                         c.service AS caller, c.peer_service AS callee
                    FROM spans c WHERE c.kind = 'client' AND c.peer_service IS NOT NULL
                  UNION ALL
                  SELECT c.time, c.service, c.kind, c.peer_service, c.status, c.trace_id, c.duration_ms,
                         p.service, c.service
                    FROM spans c JOIN spans p ON c.parent_span_id = p.span_id AND c.trace_id = p.trace_id
                   WHERE p.service <> c.service AND NOT (p.kind = 'client' AND p.peer_service IS NOT NULL)""")
            self._edges_table = "_span_edges"
        return self._edges_table

    def _span_own_table(self) -> str | None:
        """Each span's fields a filter or a latency group uses, with its own time (its duration minus its
        children's, clamped at 0): None when a (trace_id, span_id) repeats, since filtering before or after
        folding repeated spans together can then differ."""
        if self._own_table is None:
            self.con.execute("""
                CREATE TABLE _span_own AS
                  SELECT s.time, s.service, s.kind, s.operation, s.peer_service, s.status, s.trace_id, s.duration_ms,
                         greatest(s.duration_ms - coalesce(c.child_ms, 0), 0) AS self_ms
                    FROM spans s LEFT JOIN (SELECT trace_id, parent_span_id, sum(duration_ms) AS child_ms FROM spans
                                            GROUP BY ALL) c ON c.trace_id = s.trace_id AND c.parent_span_id = s.span_id""")
            own, distinct = self.con.execute("SELECT (SELECT count(*) FROM _span_own), (SELECT count(*) FROM "
                                             "(SELECT DISTINCT trace_id, span_id FROM spans))").fetchone()
            if own != distinct:
                self.con.execute("DROP TABLE _span_own")
            self._own_table = "_span_own" if own == distinct else ""
        return self._own_table or None
