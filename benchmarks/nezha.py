"""The heuristic on the imported Nezha suite, by system and fault type, beside three baselines.

    python benchmarks/nezha.py [evals/nezha-dev] [--concurrency 2] [--no-cache]

Baselines, from the snapshots alone (never truth.yaml), scored on the service only (they name no kind):
- entry: always the paged service (the system's entry).
- jump: the service whose cpu_utilization or latency_p99_ms rose most, relative, from the baseline (the first
  half of the time before the page, as the tools take it) to its peak after; services ranked for @3.
- random: the expected value of a uniform guess, 1/N and min(3, N)/N over the N services with telemetry.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evals.harness import find_cases, run_eval  # noqa: E402
from tools.analysis import baseline_end  # noqa: E402
from tools.domain.incident import load_incident  # noqa: E402

# name → floor added to both sides, so an idle pod's 0 → 1 ms is no "jump"
JUMP_METRICS = {"cpu_utilization": 0.05, "latency_p99_ms": 10.0}


def jump_ranking(case: Path) -> list[str]:
    """Services by their largest relative rise (peak after / mean before) of CPU or p99 latency."""
    inc = load_incident(case)
    split, files = baseline_end(inc), list(case.glob("metrics.*"))
    if not files:
        return []
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        rows = con.execute(f"""
            SELECT service, name,
                   avg(value) FILTER (WHERE CAST(time AS TIMESTAMPTZ) < ?) AS before,
                   max(value) FILTER (WHERE CAST(time AS TIMESTAMPTZ) >= ?) AS after
              FROM read_json_auto(?, format='newline_delimited')
             WHERE name IN ({', '.join('?' * len(JUMP_METRICS))}) AND service IS NOT NULL
             GROUP BY 1, 2""", [split, split, str(files[0]), *JUMP_METRICS]).fetchall()
    finally:
        con.close()
    best: dict[str, float] = defaultdict(float)
    for service, name, before, after in rows:
        if before is None or after is None:
            continue
        floor = JUMP_METRICS[name]
        best[service] = max(best[service], (after + floor) / (max(before, 0) + floor))
    return sorted(best, key=lambda s: (-best[s], s))


def services_in(case: Path) -> int:
    con = duckdb.connect()
    try:
        parts = [f"SELECT DISTINCT service FROM read_json_auto('{f}', format='newline_delimited')"
                 for s in ("metrics", "spans", "logs") for f in case.glob(f"{s}.jsonl*")]
        if not parts:
            return 0
        return con.execute(f"SELECT count(DISTINCT service) FROM ({' UNION '.join(parts)})").fetchone()[0]
    finally:
        con.close()


def baselines(case: Path, truth_service: str) -> dict[str, float]:
    inc, ranking, n = load_incident(case), jump_ranking(case), max(1, services_in(case))
    return {"entry": float(inc.alert.service == truth_service), "jump@1": float(ranking[:1] == [truth_service]),
            "jump@3": float(truth_service in ranking[:3]), "random@1": 1 / n, "random@3": min(3, n) / n}


COLS = [("AC@1", "ac1"), ("AC@3", "ac3"), ("service", "service_ok"), ("entry", "entry"), ("jump@1", "jump@1"),
        ("jump@3", "jump@3"), ("random@1", "random@1"), ("random@3", "random@3")]


def table(title: str, groups: dict[str, list[dict]]) -> str:
    out = [f"### {title}", "", "| " + " | ".join([title.split()[-1], "n", *(c for c, _ in COLS), "answered",
                                                "precision"]) + " |", "|" + "---|" * (len(COLS) + 4)]
    for g, rows in sorted(groups.items()):
        cells = [f"{100 * sum(float(r[k]) for r in rows) / len(rows):.1f}%" for _, k in COLS]
        answered = [r for r in rows if not r["abstained"]]
        # Precision of the confident answers: how often a named root cause (service and kind) was right.
        precision = f"{100 * sum(r['ac1'] for r in answered) / len(answered):.0f}%" if answered else "-"
        out.append(f"| {g} | {len(rows)} | " + " | ".join(cells) + f" | {len(answered)} | {precision} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", nargs="?", type=Path, default=Path("evals/nezha-dev"))
    ap.add_argument("--concurrency", "-j", type=int, default=2)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=Path("eval-out"))
    a = ap.parse_args(argv)
    cases = find_cases(a.suite) if a.suite.is_dir() else []
    if not cases:
        print(f"error: no cases in {a.suite}; import them first (docs/nezha.md):\n  python -m evals.nezha import "
              f"NEZHA_REPO_DIR --day 2022-08-22 --day 2023-01-29 --out {a.suite}", file=sys.stderr)
        return 2
    res = run_eval(cases, ["heuristic"], concurrency=a.concurrency, out_dir=a.out_dir, use_cache=not a.no_cache)
    rows = []
    for r in res["rows"]:
        case = a.suite / r["case"]
        t = yaml.safe_load((case / "truth.yaml").read_text())
        rows.append({**r, **baselines(case, t["root_cause"]["service"]), "system": t.get("system", "?"),
                     "fault_type": t.get("fault_type", "?"), "all": "all"})
    print(f"## heuristic on {a.suite} ({len(rows)} cases; baselines score the service only)\n")
    for title, key in (("overall all", "all"), ("by system", "system"), ("by fault_type", "fault_type")):
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            groups[r[key]].append(r)
        print(table(title, groups) + "\n")
    errors = [r for r in rows if r["error"]]
    if errors:
        print(f"{len(errors)} cases errored: " + ", ".join(f"{r['case']} ({r['error'][:60]})" for r in errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
