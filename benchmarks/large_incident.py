"""A large synthetic incident for benchmarks: ~1M log lines, written by DuckDB in seconds.

30 services in a chain of tiers over 3 hours; svc-07 fails to scale up at 17:00 and its callers'
errors follow. Deterministic (no randomness beyond hash()), so figures compare across runs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import yaml

N_SERVICES = 30


def write(out: Path, log_lines: int = 1_000_000, fmt: str = "jsonl") -> Path:
    """Write the incident into `out`; fmt "jsonl" (gzip-compressed JSONL) or "parquet" for logs, metrics, spans."""
    out.mkdir(parents=True, exist_ok=True)
    ext, opts = ("parquet", "(FORMAT parquet)") if fmt == "parquet" else ("jsonl.gz", "(FORMAT json, COMPRESSION gzip)")
    (out / "incident.yaml").write_text(yaml.safe_dump({
        "format": 1, "id": "bench-large", "title": "svc-00 errors",
        "window": {"start": "2026-03-06T15:00:00Z", "end": "2026-03-06T18:00:00Z"},
        "alert": {"at": "2026-03-06T17:05:00Z", "service": "svc-00", "summary": "svc-00 5xx above 5%"}}))
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone='UTC'")
    t0 = "TIMESTAMPTZ '2026-03-06 15:00:00+00'"
    onset = "TIMESTAMPTZ '2026-03-06 17:00:00+00'"
    svc = f"'svc-' || lpad(CAST(i % {N_SERVICES} AS VARCHAR), 2, '0')"
    # svc-07 (and, 2 minutes later, its callers svc-00..06) fail after the onset
    logs = f"""
      SELECT strftime({t0} + to_microseconds(CAST(i * 10800000000 // {log_lines} AS BIGINT)), '%Y-%m-%dT%H:%M:%S.%fZ') AS time,
             {svc} AS service,
             CASE WHEN ({t0} + to_microseconds(CAST(i * 10800000000 // {log_lines} AS BIGINT))) >= {onset}
                       + (CASE WHEN i % {N_SERVICES} = 7 THEN INTERVAL 0 MINUTE ELSE INTERVAL 2 MINUTE END)
                       AND i % {N_SERVICES} <= 7 AND hash(i) % 4 = 0 THEN 'error'
                  WHEN hash(i) % 500 = 0 THEN 'warn' ELSE 'info' END AS level,
             {svc} || '-' || CAST(i % 3 AS VARCHAR) AS instance,
             'zone-' || CAST(i % 3 AS VARCHAR) AS zone,
             CASE WHEN ({t0} + to_microseconds(CAST(i * 10800000000 // {log_lines} AS BIGINT))) >= {onset}
                       AND i % {N_SERVICES} <= 7 AND hash(i) % 4 = 0
                  THEN 'call to svc-' || lpad(CAST(i % {N_SERVICES} + 1 AS VARCHAR), 2, '0') || ' timed out after '
                       || CAST(1000 + hash(i) % 50 AS VARCHAR) || 'ms'
                  ELSE 'GET /api/v1/items/' || CAST(hash(i) % 100000 AS VARCHAR) || ' 200 ' || CAST(hash(i) % 90 AS VARCHAR) || 'ms'
             END AS message
        FROM range({log_lines}) t(i)"""
    con.execute(f"COPY ({logs}) TO '{out}/logs.{ext}' {opts}")
    metrics = f"""
      SELECT strftime({t0} + to_minutes(m), '%Y-%m-%dT%H:%M:%SZ') AS time, 'svc-' || lpad(CAST(s AS VARCHAR), 2, '0') AS service,
             'svc-' || lpad(CAST(s AS VARCHAR), 2, '0') || '-' || CAST(k AS VARCHAR) AS instance, n.name,
             CASE WHEN n.name = 'cpu_utilization' THEN
                    CASE WHEN s = 7 AND m >= 118 THEN 0.97 ELSE 0.3 + (hash(m, s, k) % 100) / 1000.0 END
                  WHEN n.name = 'instance_count' THEN 3.0
                  ELSE 0.5 + (hash(m, s, k) % 50) / 1000.0 END AS value
        FROM range(180) a(m), range({N_SERVICES}) b(s), range(3) c(k),
             (VALUES ('cpu_utilization'), ('memory_utilization'), ('instance_count')) n(name)"""
    con.execute(f"COPY ({metrics}) TO '{out}/metrics.{ext}' {opts}")
    spans = f"""
      SELECT strftime({t0} + to_seconds(CAST(i * 10800 // 200000 AS BIGINT)), '%Y-%m-%dT%H:%M:%SZ') AS time,
             'tr' || CAST(i // 2 AS VARCHAR) AS trace_id, 'sp' || CAST(i AS VARCHAR) AS span_id,
             CASE WHEN i % 2 = 1 THEN 'sp' || CAST(i - 1 AS VARCHAR) END AS parent_span_id,
             'svc-' || lpad(CAST((i // 2) % 8 AS VARCHAR), 2, '0') AS service,
             CASE WHEN i % 2 = 0 THEN 'server' ELSE 'client' END AS kind,
             CASE WHEN i % 2 = 1 THEN 'svc-' || lpad(CAST((i // 2) % 8 + 1 AS VARCHAR), 2, '0') END AS peer_service,
             CASE WHEN i * 10800 // 200000 >= 7200 AND hash(i) % 3 = 0 THEN 'error' ELSE 'ok' END AS status,
             10.0 + hash(i) % 90 AS duration_ms
        FROM range(200000) t(i)"""
    con.execute(f"COPY ({spans}) TO '{out}/spans.{ext}' {opts}")
    scaling = f"""SELECT strftime({onset} - INTERVAL 3 MINUTE + to_minutes(k), '%Y-%m-%dT%H:%M:%SZ') AS time,
                  'svc-07' AS service, 'scale_up' AS action, 3 AS from_count, 6 AS desired_count, 3 AS actual_count,
                  'failed' AS status, '0/40 nodes are available: 40 Insufficient cpu' AS message FROM range(4) t(k)"""
    con.execute(f"COPY ({scaling}) TO '{out}/scaling.jsonl' (FORMAT json)")
    con.execute(f"""COPY (SELECT '2026-03-06T16:50:00Z' AS time, 'svc-20' AS service, 'v2' AS version,
                    'v1' AS previous_version, 'deploy' AS kind, 'succeeded' AS status) TO '{out}/deployments.jsonl' (FORMAT json)""")
    return out


if __name__ == "__main__":
    print(write(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000))
