"""`eval -j N` runs cases in N worker processes (threads share one GIL); the rows and the cache are the same."""
from __future__ import annotations

from pathlib import Path

from evals.harness import find_cases, run_eval

CORPUS = Path(__file__).resolve().parent.parent / "evals" / "incidents"


def test_processes_give_the_rows_and_cache_of_one_worker(tmp_path):
    cases = find_cases(CORPUS)[:3]
    one = run_eval(cases, ["heuristic"], concurrency=1, out_dir=tmp_path / "one")
    two = run_eval(cases, ["heuristic"], concurrency=2, out_dir=tmp_path / "two")
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("wall_s", "transcript")} for r in rows]  # noqa: E731
    assert strip(one["rows"]) == strip(two["rows"]) and len(one["rows"]) == 3
    assert sorted(p.name for p in (tmp_path / "one" / "cache").iterdir()) == \
        sorted(p.name for p in (tmp_path / "two" / "cache").iterdir())
    again = run_eval(cases, ["heuristic"], concurrency=2, out_dir=tmp_path / "one")   # the cache of -j 1 serves -j 2
    assert all(r["cached"] for r in again["rows"])


def test_each_worker_gives_duckdb_its_share_of_the_cores(tmp_path, monkeypatch):
    from factory import build
    from evals.harness import _worker_init
    from tools.backends import snapshot
    monkeypatch.setattr(snapshot, "DUCKDB_THREADS", None)
    _worker_init(1)                         # what the pool runs in each worker first
    t = snapshot.SnapshotTelemetry(build(tmp_path / "inc"))
    assert t.con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    t.close()
