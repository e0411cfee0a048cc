"""Benchmarks of issue 15: whole-CLI investigations at 1M/5M log lines, the load against one bare DuckDB scan,
tool times, start-up, `eval -j` scaling and peak memory. One command:

    python benchmarks/run.py [--runs 3] [--lines 5000000] [--data DIR] [--eval-cases 24] [--skip-eval]

The large incidents (benchmarks/large_incident.py, JSONL.gz and Parquet) are built into --data (default
~/.cache/fivewhys-bench, outside the repository) when missing. Every figure is a median of --runs runs made
in this one invocation, each in a fresh process (so peak RSS is that run's alone), and is printed with its
ratio to the bare-DuckDB limit measured in the same run: one typed `CREATE TABLE AS SELECT` of the same logs
file, with nothing else (the least any loader that keeps the logs in DuckDB must spend). The machine is
shared and noisy: compare ratios, not seconds across days.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

# The default caps stop at 2M records and 512 MiB a file; the benchmark reads the whole 5M-line file.
CAPS = {"FIVEWHYS_MAX_SOURCE_RECORDS": "50000000", "FIVEWHYS_MAX_SOURCE_BYTES": str(16 << 30)}

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

# Every tool once, in the order a model might call them, after the load: the first call of a kind pays for
# the table it builds (per-minute counts, span edges); text and regex searches are the slowest.
TOOL_CALLS = r"""
import json, sys, time
from agent.session import open_tools
from tools import TOOLS
calls = [("describe_incident", {}), ("error_onsets", {}), ("service_map", {}), ("search_logs", {"text": "timed out"}),
         ("search_logs", {"text": "timed out after [0-9]+ms", "regex": True}), ("log_patterns", {}), ("zone_breakdown", {}),
         ("latency_by_service", {}), ("trace_errors", {}), ("edge_rates", {}), ("metric_changes", {}),
         ("call_changes", {})]
out = {}
with open_tools(sys.argv[1]) as ctx:
    for name, args in calls:
        t = time.perf_counter()
        assert not TOOLS[name](ctx, args).error, name
        out[f"{name}({'regex' if 'regex' in args else next(iter(args), '')})"] = time.perf_counter() - t
print(json.dumps(out))
"""

LOAD = r"""
import sys, time
from tools.backends.snapshot import SnapshotTelemetry
t = time.perf_counter()
telemetry = SnapshotTelemetry(sys.argv[1])     # kept until timed: freeing it is not loading (nor timed for BARE)
print(time.perf_counter() - t)
"""

BARE = r"""
import sys, time, duckdb
f = sys.argv[1]
con = duckdb.connect(); con.execute("SET TimeZone='UTC'"); con.execute("SET enable_progress_bar=false")
cols = ("time", "service", "level", "instance", "zone", "message")
if f.endswith(".parquet"):
    rel = f"(SELECT CAST(time AS TIMESTAMPTZ) AS time, {', '.join(cols[1:])} FROM read_parquet('{f}'))"
else:
    spec = ", ".join(f"'{c}': '{'TIMESTAMPTZ' if c == 'time' else 'VARCHAR'}'" for c in cols)
    rel = f"read_json('{f}', format='newline_delimited', columns={{{spec}}})"
t = time.perf_counter()
con.execute(f"CREATE TABLE logs AS SELECT * FROM {rel}")
print(time.perf_counter() - t)
"""


# Runs a command and reports its wall time and its own peak RSS: the wrapper has no other child.
WRAP = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": time.perf_counter() - t, "peak_kib": u.ru_maxrss, "cpu": u.ru_utime + u.ru_stime,
                  "rc": p.returncode, "out": p.stdout}))
"""


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one run of `cmd` in a fresh process."""
    wall, peak, out, _ = timed_cpu(cmd)
    return wall, peak, out


def timed_cpu(cmd: list[str]) -> tuple[float, float, str, float]:
    """`timed` and the run's CPU seconds (all its threads): on a shared machine CPU varies less than wall."""
    res = json.loads(subprocess.run([sys.executable, "-c", WRAP, *cmd], capture_output=True, text=True, cwd=ROOT,
                                    env={**os.environ, **CAPS}, check=True).stdout)
    if res["rc"]:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {res['rc']})")
    return res["wall"], res["peak_kib"] / 1024, res["out"], res["cpu"]


def incident(data: Path, lines: int, fmt: str) -> Path:
    from benchmarks.large_incident import write
    d = data / f"{fmt}-{lines}"
    if not (d / "incident.yaml").exists():
        t = time.perf_counter()
        write(d, lines, fmt)
        print(f"built {d} ({lines:,} log lines, {fmt}) in {time.perf_counter() - t:.0f} s")
    return d


def logs_file(d: Path) -> Path:
    return next(d / n for n in ("logs.jsonl.gz", "logs.parquet") if (d / n).exists())


def logs_only(d: Path) -> Path:
    """A snapshot of the incident's logs alone (a hard link: a snapshot refuses links outside itself)."""
    out = d.with_name(d.name + "-logs")
    out.mkdir(exist_ok=True)
    for f in (d / "incident.yaml", logs_file(d)):
        if not (out / f.name).exists():
            os.link(f, out / f.name)
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def row(name: str, runs: list[float], limit: float | None, unit: str = "s") -> str:
    ratio = f"{med(runs) / limit:.2f}×" if limit else "-"
    return f"| {name} | {min(runs):.2f} / {med(runs):.2f} {unit} | {ratio} |"


def bench_incident(d: Path, runs: int) -> list[str]:
    """Whole CLI, the load inside it, tools and peak memory, against the bare scan of the same logs file. The
    runs are interleaved (bare, load, CLI, investigation; then again), so each ratio compares runs made under
    the same load of the machine."""
    py, fmt = sys.executable, d.name.split("-")[0]
    bare, load, cli, child, calls = [], [], [], [], []
    for _ in range(runs):
        bare.append(timed_cpu([py, "-c", BARE, str(logs_file(d))]))
        load.append(timed_cpu([py, "-c", LOAD, str(logs_only(d))]))
        cli.append(timed([py, "-m", "agent", "investigate", str(d), "--json", "--no-transcript"]))
        child.append(timed([py, "-c", CHILD, str(d)]))
        calls.append(json.loads(timed([py, "-c", TOOL_CALLS, str(d)])[2]))
    res = [json.loads(out) for _, _, out in child]
    tools: dict[str, list[float]] = {}
    for r in res:
        for k, v in r["tool_times"].items():
            tools.setdefault(k, []).extend(v)
    each = {k: med([c[k] for c in calls]) for k in calls[0]}
    limit = med([float(r[2]) for r in bare])
    cpu = med([r[3] for r in load]) / med([r[3] for r in bare])
    out = [f"| investigate {d.name}, whole CLI (root cause {res[0]['root_cause']}) | "
           f"{min(w for w, _, _ in cli):.2f} / {med([w for w, _, _ in cli]):.2f} s | "
           f"{med([w for w, _, _ in cli]) / limit:.2f}× |",
           row(f"loading the logs ({fmt}) vs one typed DuckDB scan of them ({limit:.2f} s)",
               [float(r[2]) for r in load], limit),
           f"| the same, CPU of the whole process (imports included) | {med([r[3] for r in load]):.2f} s vs "
           f"{med([r[3] for r in bare]):.2f} s | {cpu:.2f}× |",
           row("loading every source of the incident", [r["load_s"] for r in res], limit),
           f"| peak memory, investigation vs the bare scan ({med([r[1] for r in bare]):.0f} MiB) | "
           f"{max(p for _, p, _ in child):.0f} MiB | {max(p for _, p, _ in child) / med([r[1] for r in bare]):.2f}× |"]
    slow = sorted(tools.items(), key=lambda kv: -pct(kv[1], 0.95))
    out.append("| tools p95 (slowest five) | " + ", ".join(f"{k} {pct(v, 0.95):.2f} s" for k, v in slow[:5])
               + f" | {pct(slow[0][1], 0.95) / limit:.2f}× |")
    top = sorted(each.items(), key=lambda kv: -kv[1])
    out.append("| every tool once, cold (slowest six; median of runs) | " + ", ".join(f"{k} {v:.2f} s" for k, v in top[:6])
               + f" | {top[0][1] / limit:.2f}× |")
    return out


def bench_start(runs: int) -> list[str]:
    help_s = [timed([sys.executable, "-m", "agent", "--help"])[0] for _ in range(runs)]
    bare = [timed([sys.executable, "-c", "pass"])[0] for _ in range(runs)]
    return [row(f"`fivewhys --help` (bare interpreter {med(bare):.2f} s)", help_s, med(bare))]


def bench_eval(n_cases: int, runs: int) -> list[str]:
    from evals.harness import find_cases
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "suite"
        suite.mkdir()
        for c in find_cases(ROOT / "evals" / "incidents")[:n_cases]:
            (suite / c.name).symlink_to(c)
        times = {j: [] for j in (1, 2)}
        for _ in range(runs):
            for j in (1, 2):
                times[j].append(timed([sys.executable, "-m", "agent", "eval", str(suite), "-j", str(j), "--no-cache",
                                       "--out-dir", str(Path(tmp) / f"out{j}")])[0])
    return [f"| `eval -j 2` vs `-j 1` ({n_cases} cases) | {med(times[2]):.1f} s vs {med(times[1]):.1f} s | "
            f"{med(times[1]) / med(times[2]):.2f}× faster |"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--data", type=Path, default=Path.home() / ".cache" / "fivewhys-bench")
    ap.add_argument("--eval-cases", type=int, default=24)
    ap.add_argument("--skip-eval", action="store_true")
    args = ap.parse_args()
    dirs = [incident(args.data, n, fmt) for n in args.lines for fmt in ("jsonl", "parquet")]
    print("| measure | min / median | ratio to the limit |\n|---|---|---|", flush=True)
    for line in bench_start(args.runs):
        print(line, flush=True)
    for d in dirs:
        for line in bench_incident(d, args.runs):
            print(line, flush=True)
    if not args.skip_eval:
        for line in bench_eval(args.eval_cases, args.runs):
            print(line, flush=True)


if __name__ == "__main__":
    main()
