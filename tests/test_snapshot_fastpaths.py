"""The snapshot backend's reused tables (tools/backends/fastpaths.py) give the answers the plain queries give."""
from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest

from tests.factory import T0, build, ts, write_jsonl
from tools.backends.base import Filter
from tools.backends.snapshot import SnapshotTelemetry

MESSAGES = ["GET /a 200", "call to token timed out", "Timed Out waiting", "100% CPU_load", "a_b%c\\d",
            "Ünïcode FEHLER beim Öffnen", "İstanbul office", "straße", "ΣΊΣΥΦΟΣ", "Connection REFUSED"]


class Plain(SnapshotTelemetry):
    """The same backend with every reused table switched off: the plain queries."""

    def _count_by_minute(self, *a):
        return None

    def _count_matches(self, *a):
        return None

    def _sample_matches(self, *a):
        return None

    def _sample_notable(self, *a):
        return None


def _snapshot(tmp_path):
    d = build(tmp_path / "snap")
    rng = random.Random(7)
    logs = [{"time": (T0 + timedelta(seconds=rng.uniform(0, 7200))).isoformat(), "service": rng.choice("abc"),
             "level": rng.choice(["info", "info", "warn", "error", "FATAL"]), "zone": rng.choice(["z1", "z2", None]),
             "instance": rng.choice(["i1", "i2"]), "message": rng.choice(MESSAGES)} for _ in range(3000)]
    # before 1970 the minute table's floored epoch minute and time_bucket's must still agree
    logs.append({"time": "1969-12-31T23:59:30+00:00", "service": "a", "level": "error", "message": MESSAGES[1]})
    logs.sort(key=lambda r: r["time"])
    logs[10], logs[2000] = logs[2000], logs[10]          # out of order: the loader sorts it
    write_jsonl(d / "logs.jsonl", logs)
    return d, logs


FILTERS = [Filter(), Filter(start=T0 + timedelta(minutes=10), end=T0 + timedelta(minutes=70)),
           Filter(start=T0 + timedelta(minutes=10, seconds=17), end=T0 + timedelta(minutes=70, seconds=41)),
           Filter(start=T0 + timedelta(minutes=3, seconds=5), end=T0 + timedelta(minutes=3, seconds=50)),
           Filter(end=T0 + timedelta(minutes=30, seconds=1), services=("a", "b"), levels=("error", "fatal")),
           Filter(start=T0 + timedelta(seconds=59), services=())]


def test_counts_from_the_minute_table_equal_the_plain_counts(tmp_path):
    d, _ = _snapshot(tmp_path)
    fast, plain = SnapshotTelemetry(d), Plain(d)
    fast.minute_table_share = 1.0                  # a small test table is kept even though it is not 4× smaller
    for f in FILTERS:
        for by, bucket_s in [((), None), (("service", "level"), None), (("zone",), None), (("service",), 60),
                             (("service", "instance"), 300), ((), 120), (("service", "peer_service", "kind"), 60)]:
            for source in ("logs", "spans"):
                if (source == "spans") == bool(set(by) & {"level", "zone", "instance"}) or \
                        source == "logs" and "kind" in by:
                    continue
                assert fast.count(source, f, by=by, bucket_s=bucket_s) == plain.count(source, f, by=by,
                                                                                       bucket_s=bucket_s)
    assert fast._minute_tables["logs"] and fast._minute_tables["spans"]      # served from the tables


def test_a_loaded_table_is_in_time_order_and_counts_unusable_records(tmp_path):
    d, logs = _snapshot(tmp_path)
    write_jsonl(d / "logs.jsonl", logs + [{"time": "not a time", "service": "a", "message": "x"},
                                          {"time": ts(5), "message": "no service"}])
    t = SnapshotTelemetry(d)
    times = [r[0] for r in t.con.execute("SELECT time FROM logs ORDER BY rowid").fetchall()]
    assert times == sorted(times) and len(times) == len(logs)
    assert t.coverage("logs").skipped_lines == 2 and t.coverage("logs").rows == len(logs)


def test_text_search_counts_as_before(tmp_path):
    """An escaped ILIKE finds what contains(lower(message), lower(text)) found, wildcards and Unicode included."""
    d, _ = _snapshot(tmp_path)
    fast, plain = SnapshotTelemetry(d), Plain(d)
    for text in ["timed out", "TIMED", "100%", "_load", "a_b%c\\d", "%", "_", "fehler", "ünïcode", "öffnen",
                 "istanbul", "İSTANBUL", "STRASSE", "straße", "σίσυφος", "refused", "nowhere"]:
        f = Filter(text=text, start=T0 + timedelta(minutes=5, seconds=3))
        before = fast.con.execute("SELECT count(*) FROM logs WHERE time >= ? AND contains(lower(message), lower(?))",
                                  [f.start, text]).fetchone()[0]
        got = fast.count("logs", f, by=("service", "level"))
        assert sum(r["n"] for r in got) == before, text
        assert got == plain.count("logs", f, by=("service", "level"))
        assert fast.sample("logs", f, limit=7, order="spread") == plain.sample("logs", f, limit=7, order="spread")
        assert fast.sample("logs", f, limit=1) == plain.sample("logs", f, limit=1)
        assert list(fast._matches)[-1] == ("logs", f)                    # one scan of the messages, reused


def test_regex_search_reuses_one_scan(tmp_path):
    d, _ = _snapshot(tmp_path)
    fast, plain = SnapshotTelemetry(d), Plain(d)
    for text in ("time[d]? out", "^GET", "σ"):
        f = Filter(text=text, regex=True, levels=("warn", "error", "fatal"))
        assert fast.count("logs", f, by=("service",), bucket_s=600) == plain.count("logs", f, by=("service",),
                                                                                 bucket_s=600)
        assert fast.sample("logs", f, limit=5, order="spread") == plain.sample("logs", f, limit=5, order="spread")
    assert len(fast._matches) == 2                                       # the oldest search was let go


def test_span_edges_and_latency_from_reused_tables(tmp_path):
    d = build(tmp_path / "snap")
    t = SnapshotTelemetry(d)
    w = Filter(start=T0 + timedelta(minutes=20), end=T0 + timedelta(minutes=100), services=("api", "search"))
    for f in (Filter(), w, w.but(status="error")):
        edges = t.span_edges(f)
        cond, params = t._where("spans", f, alias="c")
        plain = t._rows(f"""
            WITH e AS (
              SELECT c.service AS caller, c.peer_service AS callee, c.status, c.duration_ms
                FROM spans c WHERE {cond} AND c.kind = 'client' AND c.peer_service IS NOT NULL
              UNION ALL
              SELECT p.service, c.service, c.status, c.duration_ms
                FROM spans c JOIN spans p ON c.parent_span_id = p.span_id AND c.trace_id = p.trace_id
               WHERE {cond} AND p.service <> c.service AND NOT (p.kind = 'client' AND p.peer_service IS NOT NULL))
            SELECT caller, callee, count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors
              FROM e WHERE caller <> callee GROUP BY 1, 2 ORDER BY 1, 2""", params + params)
        assert sorted((e["caller"], e["callee"], e["calls"], e["errors"]) for e in edges) == \
            [(r["caller"], r["callee"], r["calls"], r["errors"]) for r in plain]
        got = t.span_latency(f, by=("service", "kind"))
        cond, params = t._where("spans", f, alias="s")
        own = t._rows(f"""SELECT s.service, s.kind, greatest(any_value(s.duration_ms) - coalesce(sum(c.duration_ms), 0), 0)
                          AS self_ms FROM spans s LEFT JOIN spans c ON c.trace_id = s.trace_id AND c.parent_span_id = s.span_id
                          WHERE {cond} GROUP BY s.trace_id, s.span_id, s.service, s.kind""", params)
        for r in got:
            mine = sorted(o["self_ms"] for o in own if (o["service"], o["kind"]) == (r["service"], r["kind"]))
            assert r["n"] == len(mine) and r["self_p50_ms"] == pytest.approx(
                t.con.execute("SELECT quantile_cont(x, 0.5) FROM unnest(?) t(x)", [mine]).fetchone()[0])


def test_samples_of_warnings_and_errors_from_the_notable_rows_equal_the_plain_samples(tmp_path):
    d, _ = _snapshot(tmp_path)
    fast, plain = SnapshotTelemetry(d), Plain(d)
    fast.minute_table_share = 1.0                  # the test's logs are half warnings and errors
    for f in FILTERS:
        for levels in [("error", "fatal"), ("warn", "error", "fatal"), ("warn",)]:
            where = dataclasses.replace(f, levels=levels) if f.levels is None else f
            for order, limit in [("spread", 7), ("time", 5), ("spread", 5000)]:
                got = fast.sample("logs", where, limit=limit, order=order)
                assert got == plain.sample("logs", where, limit=limit, order=order), (where, order)
    assert fast._notable_tables["logs"]                   # answered from the table, not the fallback
    info = Filter(levels=("info", "error"))
    assert fast.sample("logs", info, limit=9, order="spread") == plain.sample("logs", info, limit=9, order="spread")


@pytest.mark.parametrize("shuffled", [False, True])
def test_columns_a_file_lacks_read_as_null_and_take_no_storage(tmp_path, shuffled):
    """A Parquet file without trace_id and attributes: the two columns are virtual (two stored NULL columns were
    ~50 MiB of the load's peak at 5M lines), in time order or sorted by the loader."""
    import duckdb
    d = build(tmp_path / "inc")
    rows = [{"time": ts(i % 50), "service": "api", "level": "info", "message": f"m{i}"} for i in range(300)]
    if not shuffled:
        rows.sort(key=lambda r: r["time"])
    write_jsonl(tmp_path / "l.jsonl", rows)
    (d / "logs.jsonl").unlink()
    duckdb.execute(f"COPY (SELECT * FROM read_json('{tmp_path / 'l.jsonl'}')) TO '{d / 'logs.parquet'}'")
    t = SnapshotTelemetry(d)
    stored = {c for (c,) in t.con.execute("SELECT DISTINCT column_name FROM pragma_storage_info('logs')").fetchall()}
    assert stored == {"time", "service", "level", "message"}
    got = t.sample("logs", Filter(services=("api",)), limit=500)
    assert sorted(r["message"] for r in got) == sorted(r["message"] for r in rows)
    assert [r["time"] for r in got] == sorted(r["time"] for r in got)
    assert all(r["trace_id"] is None and r["attributes"] is None for r in got)
    t.close()


def test_the_snapshot_database_is_never_checkpointed(tmp_path):
    """DuckDB checkpoints an in-memory database too once its writes pass a threshold, rewriting every table: at
    5M lines the first table built after the load (the span edges) took 1.7 s and 480 MiB more. 300k lines of
    the benchmark's incident are past the default threshold."""
    from benchmarks.large_incident import write
    write(tmp_path / "inc", 300_000, "jsonl")
    t = SnapshotTelemetry(tmp_path / "inc")
    assert t.span_edges(Filter())
    assert t.con.execute("SELECT count(*) FROM pragma_storage_info('logs') WHERE persistent").fetchone()[0] == 0
    t.close()


def test_a_parquet_file_in_time_order_is_loaded_in_its_order_with_levels_normalised(tmp_path, monkeypatch):
    """The level expression must not turn into a join (DuckDB makes one of an IN list): the insert then lost
    the file's order at a row-group boundary and the loader sorted 5M lines again."""
    import duckdb
    from tools.backends import snapshot
    statements, connect = [], duckdb.connect

    class Spy:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *a):
            statements.append(sql)
            return self.con.execute(sql, *a)

        def __getattr__(self, name):
            return getattr(self.con, name)
    monkeypatch.setattr(snapshot.duckdb, "connect", lambda *a, **kw: Spy(connect(*a, **kw)))
    d = build(tmp_path / "inc")
    (d / "logs.jsonl").unlink()
    levels = ["INFO", "warn", "Warning", "error", "CRIT"]
    connect().execute(f"""COPY (SELECT TIMESTAMPTZ '2026-03-06 10:00:00+00' + to_milliseconds(range) AS time,
                          'svc-' || (range % 7) AS service, {levels}[1 + range % 5] AS level, 'm' AS message
                          FROM range(300000)) TO '{d / 'logs.parquet'}'""")
    t = SnapshotTelemetry(d)
    assert not [s for s in statements if "_sorted" in s]
    assert {r["level"]: r["n"] for r in t.count("logs", Filter(), by=("level",))} == \
        {"info": 60000, "warn": 120000, "error": 60000, "fatal": 60000}
    t.close()


def test_fields_no_first_record_of_a_jsonl_file_has_are_not_stored_unless_a_later_one_has_them(tmp_path,
                                                                                                monkeypatch):
    """DuckDB is told a JSONL file's columns before it reads it: a field none of the first records has is left
    out of the table (a stored column of NULLs was ~24 MiB at 5M lines) and the scan checks the guess, redoing
    itself with every column when a later record has the field after all."""
    from tools.backends import snapshot
    monkeypatch.setattr(snapshot, "file_head", lambda f, size: f.read_bytes()[:2000])    # the first ~25 records
    d = build(tmp_path / "inc")
    rows = [{"time": ts(i % 50), "service": "api", "level": "info", "message": f"m{i}"} for i in range(300)]
    rows.sort(key=lambda r: r["time"])
    for late in (False, True):
        if late:
            rows[250] = {**rows[250], "trace_id": "t-250", "attributes": {"node": "n1"}}
        write_jsonl(d / "logs.jsonl", rows)
        t = SnapshotTelemetry(d)
        stored = {c for (c,) in t.con.execute("SELECT DISTINCT column_name FROM pragma_storage_info('logs')")
                  .fetchall()}
        assert ({"trace_id", "attributes"} <= stored) == late
        got = t.sample("logs", Filter(services=("api",)), limit=500)
        assert len(got) == 300 and t.coverage("logs").skipped_lines == 0
        assert [(r["trace_id"], r["attributes"]) for r in got if r["trace_id"] or r["attributes"]] == \
            ([("t-250", {"node": "n1"})] if late else [])
        t.close()
