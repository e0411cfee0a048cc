"""A seeded fuzz campaign against `snapshot validate` and `investigate` (issue 16): mutated copies of snapshots
(truncation, bit flips, gzip corruption, bombs within the caps, wrong types, huge fields, non-UTF-8, duplicate
keys, links, hostile text and secrets, dates far off, deep nesting, broken incident.yaml, odd file structure;
benchmarks/fuzz_mutations.py), each run through both commands in child processes with a timeout.

    python benchmarks/fuzz_snapshots.py [--mutations 1000] [--seed 1] [--workers 2] [--timeout 120]
                                        [--budget-s 5400] [--base DIR ...] [--keep DIR] [--json FILE]

Prints the counts that must be 0 (tracebacks, hangs, unexpected exit codes, disagreements between the two
commands, planted secrets shown, escape codes shown) and the peak memory of a child (must stay under 2 GB);
exits 1 when one of them is not. The children are forked from this process after it imported fivewhys, so a
run costs the command's work, not Python's start-up; each runs the real CLI (`agent.cli.main`) with
FIVEWHYS_DEBUG=1, so an error the CLI would hide behind its last-resort handler is a traceback here.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from fuzz_mutations import mutate  # noqa: E402

INCIDENTS = HERE.parent / "evals" / "incidents"
# the demo (every tenth mutation: it is the largest) and nine small corpus cases of other kinds
BASES = ["search-token-peak", "resource_saturation-04-easy", "disk_full-01-easy", "memory_leak-04-easy",
         "cert_expired-01-easy", "network_partition-04-easy", "rate_limited-04-easy", "registry_misroute-01-easy",
         "database_saturation-01-easy", "failed_scale_up-01-easy"]
ALLOWED = {"validate": {0, 1, 2}, "investigate": {0, 2, 3}}
CAPS = {"FIVEWHYS_MAX_SOURCE_BYTES": str(16 << 20), "FIVEWHYS_MAX_SOURCE_RECORDS": "50000"}   # bombs go past them
LIMIT_MIB = 2048
LOG: Path | None = None


@dataclass
class Run:
    kind: str
    code: int | None = None
    seconds: float = 0.0
    rss_mib: float = 0.0
    hung: bool = False
    out: str = ""
    err: str = ""


@dataclass
class Case:
    index: int
    base: str
    path: Path
    ops: list[str]
    secrets: list[str]
    runs: dict[str, Run] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def child(args: list[str], out: Path, err: Path, state: Path) -> None:
    """In the forked child: the CLI with stdout and stderr to files; never returns."""
    code = 98
    try:
        for fd, path in ((1, out), (2, err)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.environ.update(FIVEWHYS_DEBUG="1", FIVEWHYS_STATE_DIR=str(state), COLUMNS="160", **CAPS)
        sys.argv = ["fivewhys", *args]
        from agent.cli import main
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - what the fuzz counts
        traceback.print_exc()
        code = 99
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def spawn(case: Case, kind: str, work: Path) -> tuple[int, float]:
    args = (["snapshot", "validate", str(case.path)] if kind == "validate" else
            ["investigate", str(case.path), "--json", "--model", "heuristic",
             "--transcript", str(work / f"{case.index}.transcript.jsonl")])
    out, err = work / f"{case.index}.{kind}.out", work / f"{case.index}.{kind}.err"
    pid = os.fork()
    if pid == 0:
        child(args, out, err, work / "state")
    return pid, time.monotonic()


def finish(case: Case, kind: str, status: int, rusage, started: float, hung: bool, work: Path) -> None:
    read = lambda p: p.read_text(errors="replace") if p.exists() else ""  # noqa: E731
    case.runs[kind] = Run(kind, None if hung else os.waitstatus_to_exitcode(status), time.monotonic() - started,
                          rusage.ru_maxrss / 1024, hung, read(work / f"{case.index}.{kind}.out"),
                          read(work / f"{case.index}.{kind}.err"))


def judge(case: Case, work: Path) -> None:
    """What must never happen, for one mutation whose two runs are done."""
    v, i = case.runs["validate"], case.runs["investigate"]
    for r in (v, i):
        if r.hung:
            case.problems.append(f"hang: {r.kind}")
        elif "Traceback (most recent call last)" in r.err or r.code == 99:
            case.problems.append(f"traceback: {r.kind}: {last_line(r.err)}")
        elif r.code not in ALLOWED[r.kind]:
            case.problems.append(f"exit {r.code}: {r.kind}: {last_line(r.err)}")
        if any(c in r.out + r.err for c in "\x1b\x07"):
            case.problems.append(f"escape code shown: {r.kind}")
    transcript = work / f"{case.index}.transcript.jsonl"
    shown = v.out + v.err + i.out + i.err + (transcript.read_text(errors="replace") if transcript.exists() else "")
    case.problems += [f"secret shown: {m}" for m in case.secrets if m in shown]
    report = None
    if i.code in (0, 3):
        try:
            report = json.loads(i.out)
        except ValueError:
            case.problems.append("investigate: stdout is not JSON")
    if v.code == 1 and report and not report.get("inconclusive"):
        case.problems.append("disagree: validate says NOT usable, investigate answers with confidence "
                             f"{report['root_cause']['confidence']}")
    if v.code == 0 and i.code == 2:
        case.problems.append(f"disagree: validate says usable, investigate refuses: {last_line(i.err)}")


def last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1][:200] if lines else ""


def prepare(i: int, seed: int, bases: list[Path], work: Path) -> Case:
    """Mutation i of a seed is the same whatever ran before it (`--only i` runs it again)."""
    rng, base = random.Random(f"{seed}:{i}"), bases[i % len(bases)]
    d = work / f"m{i}" / base.name
    shutil.copytree(base, d, symlinks=True)
    ops, secrets = mutate(rng, d)
    return Case(i, base.name, d, ops, secrets)


def campaign(args: argparse.Namespace, bases: list[Path], work: Path) -> tuple[list[Case], float]:
    """Mutations prepared one at a time in this (single) thread, their runs forked, at most `workers` at once."""
    t0 = time.monotonic()
    todo = args.only or list(range(args.first, args.first + args.mutations))
    queue: list[tuple[Case, str]] = []
    running: dict[int, tuple[Case, str, float]] = {}
    done: list[Case] = []
    made = 0
    while made < len(todo) or queue or running:
        while len(running) < args.workers and (queue or (made < len(todo) and time.monotonic() - t0 < args.budget_s)):
            if not queue:
                case = prepare(todo[made], args.seed, bases, work)
                made += 1
                queue += [(case, "validate"), (case, "investigate")]
            case, kind = queue.pop(0)
            pid, started = spawn(case, kind, work)
            running[pid] = (case, kind, started)
        if not running:
            break
        reap(running, done, args.timeout, work, args.keep)
    return done, time.monotonic() - t0


def reap(running: dict, done: list[Case], timeout: float, work: Path, keep: Path | None) -> None:
    pid, status, rusage = os.wait4(-1, os.WNOHANG)
    if pid == 0:
        for p, (case, kind, started) in list(running.items()):
            if time.monotonic() - started > timeout:
                os.kill(p, signal.SIGKILL)
                _, status, rusage = os.wait4(p, 0)
                del running[p]
                complete(case, kind, status, rusage, started, True, done, work, keep)
        time.sleep(0.05)
        return
    case, kind, started = running.pop(pid)
    complete(case, kind, status, rusage, started, False, done, work, keep)


def complete(case, kind, status, rusage, started, hung, done, work, keep) -> None:
    finish(case, kind, status, rusage, started, hung, work)
    if len(case.runs) < 2:
        return
    judge(case, work)
    done.append(case)
    if LOG is not None:                   # one line per mutation, so a run stopped early still has its figures
        with open(LOG, "a") as f:
            f.write(json.dumps({"index": case.index, "base": case.base, "ops": case.ops, "problems": case.problems,
                                "runs": {k: {"code": r.code, "seconds": round(r.seconds, 2), "rss_mib": round(r.rss_mib),
                                             "hung": r.hung} for k, r in case.runs.items()}}) + "\n")
    if case.problems and keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.move(str(case.path.parent), str(keep / f"m{case.index}"))
        (keep / f"m{case.index}" / "problems.txt").write_text("\n".join(case.problems + ["ops: " + ", ".join(case.ops)]))
    shutil.rmtree(case.path.parent, ignore_errors=True)
    for p in work.glob(f"{case.index}.*"):
        p.unlink()


def summary(cases: list[Case], seconds: float, args: argparse.Namespace, bases: list[Path]) -> dict:
    problems = Counter(p.split(":")[0] for c in cases for p in c.problems)
    peak = {k: max((c.runs[k].rss_mib for c in cases), default=0.0) for k in ("validate", "investigate")}
    codes = {k: dict(sorted(Counter(c.runs[k].code for c in cases).items(), key=str)) for k in peak}
    return {"seed": args.seed, "mutations": len(cases), "seconds": round(seconds, 1), "workers": args.workers,
            "timeout_s": args.timeout, "bases": [b.name for b in bases],
            "tracebacks": problems["traceback"], "hangs": problems["hang"], "unexpected_exits": sum(
                n for k, n in problems.items() if k.startswith("exit")), "disagreements": problems["disagree"],
            "secrets_shown": problems["secret shown"], "escape_codes_shown": problems["escape code shown"],
            "not_json": problems["investigate"], "peak_rss_mib": peak, "exit_codes": codes,
            "operators": dict(Counter(op for c in cases for op in c.ops).most_common()),
            "slowest_s": round(max((r.seconds for c in cases for r in c.runs.values()), default=0.0), 1),
            "problems": [{"mutation": c.index, "base": c.base, "ops": c.ops, "problems": c.problems}
                         for c in cases if c.problems][:100]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first", type=int, default=0, help="the first mutation's number (split a run: 0 and 500)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per command before it counts as a hang")
    ap.add_argument("--budget-s", type=float, default=5400.0, help="no new mutation is started after this")
    ap.add_argument("--base", type=Path, action="append", help="a snapshot to mutate (default: the demo and 9 cases)")
    ap.add_argument("--keep", type=Path, help="move mutations with a problem here")
    ap.add_argument("--json", type=Path, help="write the summary here")
    ap.add_argument("--only", type=lambda s: [int(x) for x in s.split(",")], help="run these mutations again: 3,17")
    ap.add_argument("--merge", type=Path, nargs="+", help="print the sum of the --json summaries of split runs")
    ap.add_argument("--log", type=Path, help="append one JSON line per finished mutation here")
    ap.add_argument("--from-log", type=Path, nargs="+", help="print the summary of these --log files")
    args = ap.parse_args(argv)
    if args.merge:
        return report(merged([json.loads(p.read_text()) for p in args.merge]))
    if args.from_log:
        return report(summary(logged(args.from_log), 0.0, args, []))
    global LOG
    LOG = args.log
    bases = args.base or [INCIDENTS / b for b in BASES if (INCIDENTS / b).is_dir()]
    import agent.cli  # noqa: F401 - imported once, before the children are forked
    with tempfile.TemporaryDirectory(prefix="fivewhys-fuzz-") as tmp:
        cases, seconds = campaign(args, bases, Path(tmp))
    s = summary(cases, seconds, args, bases)
    if args.json:
        args.json.write_text(json.dumps(s, indent=1))
    return report(s)


def logged(paths: list[Path]) -> list[Case]:
    cases = []
    for line in (x for p in paths for x in p.read_text().splitlines() if x.strip()):
        d = json.loads(line)
        case = Case(d["index"], d["base"], Path(), d["ops"], [], problems=d["problems"])
        case.runs = {k: Run(k, r["code"], r["seconds"], r["rss_mib"], r["hung"]) for k, r in d["runs"].items()}
        cases.append(case)
    return cases


def merged(parts: list[dict]) -> dict:
    """Split runs (--first) as one: counts added, peaks and the slowest the largest, seconds the longest part."""
    s = dict(parts[0])
    for p in parts[1:]:
        for k in ("mutations", "tracebacks", "hangs", "unexpected_exits", "disagreements", "secrets_shown",
                  "escape_codes_shown", "not_json"):
            s[k] += p[k]
        s["workers"] += p["workers"]
        s["seconds"], s["slowest_s"] = max(s["seconds"], p["seconds"]), max(s["slowest_s"], p["slowest_s"])
        s["peak_rss_mib"] = {k: max(v, p["peak_rss_mib"][k]) for k, v in s["peak_rss_mib"].items()}
        for key in ("exit_codes", "operators"):
            s[key] = _add(s[key], p[key])
        s["problems"] = s["problems"] + p["problems"]
    return s


def _add(a: dict, b: dict) -> dict:
    return {k: _add(a.get(k, {}), b.get(k, {})) if isinstance(a.get(k, b.get(k)), dict) else a.get(k, 0) + b.get(k, 0)
            for k in {**a, **b}}


def report(s: dict) -> int:
    print(f"fuzz: seed {s['seed']}, {s['mutations']} mutations of {len(s['bases'])} snapshots in {s['seconds']} s "
          f"({s['workers']} workers, timeout {s['timeout_s']:.0f} s per command; slowest {s['slowest_s']} s)")
    print(f"tracebacks {s['tracebacks']} · hangs {s['hangs']} · unexpected exits {s['unexpected_exits']} · "
          f"disagreements {s['disagreements']} · secrets shown {s['secrets_shown']} · escape codes shown "
          f"{s['escape_codes_shown']} · not JSON {s['not_json']} · peak memory validate "
          f"{s['peak_rss_mib']['validate']:.0f} MiB, investigate {s['peak_rss_mib']['investigate']:.0f} MiB")
    print(f"exit codes: {s['exit_codes']}")
    print(f"operators: {s['operators']}")
    for p in s["problems"][:20]:
        print(f"  m{p['mutation']} {p['base']} {'+'.join(p['ops'])}: {'; '.join(p['problems'])[:300]}")
    bad = any(s[k] for k in ("tracebacks", "hangs", "unexpected_exits", "disagreements", "secrets_shown",
                             "escape_codes_shown", "not_json"))
    return 1 if bad or max(s["peak_rss_mib"].values()) >= LIMIT_MIB else 0


if __name__ == "__main__":
    sys.exit(main())
