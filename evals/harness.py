"""Replay incidents against models: bounded concurrency, resumable, one transcript per case.

A result row is cached under everything that can change it (case content, model spec and server, trial,
budgets, prompt and code version, judge), so an interrupted run of a paid model continues where it stopped
and a rerun costs nothing. Errored runs are not cached: they are retried next run.
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import statistics
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from agent.config import Budgets
from tools.domain.evidence import EvidenceLedger
from agent.loop import StopReason
from agent.models import base_url_of, load_model
from agent.session import open_investigation
from agent.state import private_dir, write_private
from evals.scorers import ScoreContext, load_truth, score
from prompts import PROMPT_VERSION
from tools.domain.redact import outgoing_value

RESULTS_VERSION = 1


def find_cases(root: Path) -> list[Path]:
    if (root / "truth.yaml").exists():
        return [root]
    return sorted(p for p in root.iterdir() if (p / "truth.yaml").exists() and (p / "incident.yaml").exists())


def case_hash(case: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(case.iterdir()):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


_CODE_VERSION: list[str] = []


def code_version() -> str:
    """The investigator's code (tools, loop, heuristic): a change to it invalidates cached results."""
    if not _CODE_VERSION:
        root = Path(__file__).resolve().parent.parent
        h = hashlib.sha256()
        # The scorers and judge too: a cached row carries its scores.
        for f in sorted([*root.glob("agent/**/*.py"), *root.glob("tools/**/*.py"), *root.glob("prompts/*.j2"),
                         root / "evals" / "scorers.py", root / "evals" / "judge.py"]):
            h.update(f.read_bytes())
        _CODE_VERSION.append(h.hexdigest()[:12])
    return _CODE_VERSION[0]


def preflight(cases: list[Path], specs: list[str], make_model: Callable[[str], Any] = load_model) -> None:
    """Fail before the first run, naming the problem, when the suite or a model is broken. A bad truth.yaml
    is the suite's fault, not a model's: scored as a wrong answer it would lower every model's AC@1. A model
    that cannot load (no key, unknown provider) would only give one identical error row per case."""
    for c in cases:
        load_truth(c)                   # raises TruthError naming the file
    for spec in dict.fromkeys(specs):
        make_model(spec)                # raises ModelError


def run_case(case: Path, model_spec: str, trial: int, budgets: Budgets, transcript: Path | None,
             make_model: Callable[[str], Any] = load_model, judge_model: Any = None) -> dict[str, Any]:
    """One investigation, scored. A crash or timeout is a wrong answer with its error recorded."""
    truth = load_truth(case)
    row: dict[str, Any] = {"case": case.name, "kind": truth.kind, "difficulty": truth.difficulty,
                           "model": model_spec, "trial": trial, "error": None, "stop_reason": None,
                           "steps": 0, "tool_calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                           "wall_s": 0.0, "transcript": str(transcript) if transcript else None}
    ledger, report = EvidenceLedger(), None
    try:
        with open_investigation(case, make_model(model_spec), budgets=budgets, transcript=transcript, ledger=ledger,
                                header={"incident": case.name, "model": model_spec, "trial": trial,
                                        "prompt_version": PROMPT_VERSION}) as inv:
            res = inv.run()
        report = res.report
        row.update(stop_reason=res.stop_reason.value, **{k: getattr(res.usage, k) for k in
                   ("steps", "tool_calls", "input_tokens", "output_tokens", "cost_usd", "wall_s")})
        if res.stop_reason in (StopReason.BUDGET_WALL, StopReason.MODEL_ERROR):   # a timeout or a provider outage
            row["error"] = res.stop_text
    except Exception as e:  # noqa: BLE001 - one broken case must not stop the run
        row["error"] = f"{type(e).__name__}: {e}"[:500]
    row.update(score(ScoreContext(truth, report, ledger)))
    if judge_model is not None:
        from evals.judge import judge
        try:
            row.update(judge(judge_model, truth, report))
        except Exception as e:  # noqa: BLE001 - the judge is optional; its failure is not the case's
            row.update(judge_score=None, judge_rationale=f"judge failed: {e}"[:300])
    if row["error"] and report is None:
        row["ac1"] = row["ac3"] = False
    return outgoing_value(row)      # the eval's one exit: its cache, results JSON and reports are made from rows


def run_eval(cases: list[Path], models: list[str], trials: int = 1, concurrency: int = 2,
             out_dir: Path | None = None, use_cache: bool = True, budgets: Budgets | None = None,
             on_done: Callable[[dict], None] | None = None,
             make_model: Callable[[str], Any] = load_model, judge_spec: str | None = None) -> dict[str, Any]:
    budgets = budgets or Budgets()
    for c in cases:                     # a broken truth.yaml stops the eval before anything runs (see preflight)
        load_truth(c)
    servers = {s: base_url_of(s) for s in [*models, judge_spec] if s}
    out_dir = Path(out_dir or "eval-out")
    cache = out_dir / "cache"
    private_dir(cache)
    jobs = [(c, m, t) for m in models for c in cases for t in range(1, trials + 1)]
    rows: list[dict] = []
    setup = _Setup(out_dir, use_cache, budgets, servers, judge_spec, make_model)
    # Investigations are CPU-bound Python (the heuristic) and DuckDB: threads share one GIL, so -j N runs
    # in N processes. A model factory given by a caller (a test's scripted model) may not pickle: threads.
    if concurrency > 1 and make_model is load_model:
        # DuckDB would give each worker a thread per core: N workers on N cores then fight over them.
        threads = max(1, (os.cpu_count() or 1) // concurrency)
        pool: Executor = ProcessPoolExecutor(max_workers=concurrency, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_init, initargs=(threads,))
    else:
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    with pool:
        futures = [pool.submit(_job, setup, *j) for j in jobs]
        for f in as_completed(futures):
            row = f.result()
            rows.append(row)
            if on_done:
                on_done(row)
    rows.sort(key=lambda r: (r["model"], r["case"], r["trial"]))
    return {"version": RESULTS_VERSION, "created": datetime.now(timezone.utc).isoformat(),
            "prompt_version": PROMPT_VERSION, "cases": len(cases), "trials": trials,
            "summary": {m: summarise([r for r in rows if r["model"] == m]) for m in models}, "rows": rows}


@dataclass(frozen=True)
class _Setup:
    out_dir: Path
    use_cache: bool
    budgets: Budgets
    servers: dict[str, str | None]
    judge_spec: str | None
    make_model: Callable[[str], Any]


def _worker_init(duckdb_threads: int) -> None:
    from tools.backends import snapshot
    snapshot.DUCKDB_THREADS = duckdb_threads


def _job(s: _Setup, c: Path, m: str, t: int) -> dict:
    """One case (in a worker process or thread): from the cache, or run and cached."""
    setup = json.dumps([m, s.servers[m], t, s.budgets.model_dump(), PROMPT_VERSION, code_version(), s.judge_spec,
                        s.servers.get(s.judge_spec)], sort_keys=True)
    key = hashlib.sha256(f"{case_hash(c)}|{setup}".encode()).hexdigest()[:24]
    hit = s.out_dir / "cache" / f"{key}.json"
    if s.use_cache and hit.exists():
        return {**json.loads(hit.read_text()), "cached": True}
    safe = m.replace(":", "_").replace("/", "_")
    row = run_case(c, m, t, s.budgets, s.out_dir / "transcripts" / safe / f"{c.name}-t{t}.jsonl", s.make_model,
                   s.make_model(s.judge_spec) if s.judge_spec else None)
    # Crashes, timeouts, provider outages and a failed judge are retried next run, not cached.
    if not row["error"] and not str(row.get("judge_rationale") or "").startswith("judge failed"):
        write_private(hit, json.dumps(row, default=str))
    return {**row, "cached": False}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def _mean(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(statistics.fmean(xs), 4) if xs else None


def summarise(rows: list[dict]) -> dict[str, Any]:
    n = len(rows)
    k = sum(bool(r["ac1"]) for r in rows)
    lo, hi = wilson(k, n)
    out = {"n": n, "ac1": round(k / n, 4) if n else None, "ac1_ci95": [round(lo, 4), round(hi, 4)],
           "ac3": _mean([float(r["ac3"]) for r in rows]),
           "service_accuracy": _mean([float(r["service_ok"]) for r in rows]),
           "kind_accuracy": _mean([float(r["kind_ok"]) for r in rows]),
           "abstention_rate": _mean([float(r["abstained"]) for r in rows]),
           "citation_validity": _mean([r["citation_validity"] for r in rows]),
           "key_evidence_recall": _mean([r["key_evidence_recall"] for r in rows]),
           "red_herring_blame_rate": _mean([float(r["red_herring_blamed"]) for r in rows]),
           "errors": sum(1 for r in rows if r["error"]),
           "steps": _mean([r["steps"] for r in rows]), "tool_calls": _mean([r["tool_calls"] for r in rows]),
           "input_tokens": _mean([r["input_tokens"] for r in rows]),
           "output_tokens": _mean([r["output_tokens"] for r in rows]),
           "cost_per_investigation_usd": _mean([r["cost_usd"] for r in rows]),
           "wall_s_p50": round(statistics.median([r["wall_s"] for r in rows]), 3) if rows else None,
           "judge_score": _mean([r.get("judge_score") for r in rows])}
    for group in ("kind", "difficulty"):
        out[f"by_{group}"] = {g: {"n": len(rs), "ac1": _mean([float(r["ac1"]) for r in rs]),
                                  "ac3": _mean([float(r["ac3"]) for r in rs])}
                              for g in sorted({r[group] for r in rows})
                              for rs in [[r for r in rows if r[group] == g]]}
    return out
