"""Benchmarks: time and peak memory of the heuristic investigation, and p50/p95 per tool call.

    python benchmarks/run.py [--runs 3] [--log-lines 1000000]

Each measurement runs in a fresh subprocess (so peak RSS is that run's alone); figures are medians of
--runs runs made in this one invocation, since the machine is shared and noisy.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CHILD = r"""
import json, sys, time
from collections import defaultdict
t0 = time.perf_counter()
from agent.loop import ToolFinished
from agent.models.heuristic import HeuristicModel
from agent.session import open_investigation
t_import = time.perf_counter()
times = defaultdict(list)
def on_event(e):
    if isinstance(e, ToolFinished): times[e.call.name].append(e.seconds)
with open_investigation(sys.argv[1], HeuristicModel(), on_event=on_event) as inv:
    t_load = time.perf_counter()
    res = inv.run()
    t_end = time.perf_counter()
rc = res.report.root_cause
print(json.dumps({"load_s": t_load - t_import, "investigate_s": t_end - t_load, "total_s": t_end - t0,
                  "root_cause": f"{rc.service}/{rc.kind}" if rc else "inconclusive", "tool_times": times}))
"""


def measure(snapshot: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", CHILD, str(snapshot)], capture_output=True, text=True,
                         cwd=HERE.parent, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss   # max over children so far (KiB)
    res = json.loads(out.stdout)
    res["peak_rss_mib"] = peak / 1024 if peak > before else None
    return res


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--log-lines", type=int, default=1_000_000)
    args = ap.parse_args()
    from benchmarks.large_incident import write
    demo = HERE.parent / "evals" / "incidents" / "search-token-peak"
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        large = write(Path(tmp) / "large", args.log_lines)
        print(f"generated large incident ({args.log_lines:,} log lines) in {time.perf_counter() - t:.1f} s")
        # peak RSS is a high-water mark over all children: measure the small case first
        for name, snap in (("demo", demo), (f"large ({args.log_lines:,} log lines)", large)):
            runs = [measure(snap) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in ("load_s", "investigate_s", "total_s")}
            peak = max((r["peak_rss_mib"] or 0) for r in runs)
            print(f"\n## {name}: root cause {runs[0]['root_cause']}")
            print(f"median of {args.runs}: load {med['load_s']:.2f} s, investigate {med['investigate_s']:.2f} s, "
                  f"total incl. imports {med['total_s']:.2f} s; peak RSS {peak:.0f} MiB")
            tools: dict[str, list[float]] = {}
            for r in runs:
                for k, v in r["tool_times"].items():
                    tools.setdefault(k, []).extend(v)
            print("| tool | calls | p50 ms | p95 ms |\n|---|---|---|---|")
            for k, v in sorted(tools.items(), key=lambda kv: -pct(kv[1], 0.95)):
                print(f"| {k} | {len(v)} | {pct(v, 0.5) * 1000:.1f} | {pct(v, 0.95) * 1000:.1f} |")


if __name__ == "__main__":
    main()
