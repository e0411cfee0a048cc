from datetime import datetime, timezone

import pytest

from factory import T0, build, ts
from tools.backends.base import Filter, TelemetryError
from tools.backends.snapshot import SnapshotTelemetry
from tools.domain.errors import SnapshotError


@pytest.fixture(scope="module")
def tel(tmp_path_factory):
    t = SnapshotTelemetry(build(tmp_path_factory.mktemp("mini") / "mini", gz=True))
    yield t
    t.close()


def test_coverage_counts_every_source(tel):
    assert tel.coverage("logs").present and tel.coverage("logs").rows > 1000
    assert tel.coverage("scaling").rows == 3
    assert tel.coverage("logs").first == T0
    assert tel.services(tel.incident.window) == {"api", "search", "token", "index"}


def test_count_groups_and_counts_errors(tel):
    rows = tel.count("logs", Filter(services=("search",)), by=("level",))
    by = {r["level"]: r for r in rows}
    assert by["error"]["errors"] == by["error"]["n"] == 2 * (120 - 73)
    assert by["info"]["errors"] == 0


def test_count_buckets_by_minute(tel):
    rows = tel.count("logs", Filter(services=("api",), start=T0, end=datetime(2026, 3, 6, 10, 3, tzinfo=timezone.utc)),
                     bucket_s=60)
    assert [r["n"] for r in rows] == [4, 4, 4]


def test_text_filter_substring_and_regex(tel):
    n = tel.count("logs", Filter(text="TIMED OUT"))[0]["n"]
    assert n == 2 * 47
    assert tel.count("logs", Filter(text=r"token:\d+ timed", regex=True))[0]["n"] == n
    with pytest.raises(TelemetryError, match="invalid regex"):
        tel.count("logs", Filter(text="(", regex=True))


def test_text_filter_is_a_parameter_not_sql(tel):
    assert tel.count("logs", Filter(text="'; DROP TABLE logs; --"))[0]["n"] == 0
    assert tel.coverage("logs").rows == tel.count("logs", Filter())[0]["n"]


def test_metric_series_aggregates_per_step(tel):
    rows = tel.metric_series(Filter(name="cpu_utilization", services=("search",)), step_s=600)
    assert len(rows) == 12
    assert rows[-1]["value"] == pytest.approx(0.97)


def test_span_edges_mark_external_callees(tel):
    edges = {(e["caller"], e["callee"]): e for e in tel.span_edges(Filter())}
    assert edges[("search", "token")]["errors"] == 47
    assert edges[("search", "geo-api")]["external"] is True
    assert edges[("search", "token")]["external"] is False
    assert ("search", "index") in edges            # from parent/child, no client span


def test_events(tel):
    ev = tel.events("scaling", Filter(services=("search",)))
    assert [e["status"] for e in ev] == ["failed"] * 3 and ev[0]["time"].tzinfo is not None
    assert tel.events("deployments", Filter())[0]["changes"] == {"image": {"from": "index:v41", "to": "index:v42"}}
    with pytest.raises(TelemetryError):
        tel.count("logs", Filter(), by=("no_such_field; drop",))


def test_missing_source_is_reported_as_absent(tmp_path):
    t = SnapshotTelemetry(build(tmp_path / "nospans", spans=False))
    assert not t.coverage("spans").present
    assert t.span_edges(Filter()) == []
    t.close()


def test_parquet_files_read_like_jsonl(tmp_path):
    import duckdb
    src = build(tmp_path / "a")
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(f"COPY (SELECT CAST(time AS TIMESTAMPTZ) AS time, name, value, service FROM "
                f"read_json_auto('{src}/metrics.jsonl')) TO '{src}/metrics.parquet' (FORMAT parquet)")
    (src / "metrics.jsonl").unlink()
    t = SnapshotTelemetry(src)
    assert t.coverage("metrics").files == ["metrics.parquet"]
    assert t.metric_series(Filter(name="cpu_utilization", services=("search",)), step_s=7200)[0]["value"] > 0.5
    t.close()


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(SnapshotError, match="no such incident snapshot directory"):
        SnapshotTelemetry(tmp_path / "nope")
