"""`fivewhys eval`, `fivewhys eval compare`, `fivewhys simulate`."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.cli_options import MAX_STEPS, ForceFlag, MaxStepsOption, at_least_one, bad_input, err, fail
from agent.termtext import plain


def eval_command(
    target: Annotated[List[str], typer.Argument(
        metavar="CASES", help="a directory of cases (or one case); or: compare BEFORE.json AFTER.json")],
    model: Annotated[List[str], typer.Option("--model", "-m", metavar="SPEC",
                                             help="provider:name; repeat for several")] = ["heuristic"],
    trials: Annotated[int, typer.Option("--trials", metavar="N", callback=at_least_one,
                                        help="runs per case and model")] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", metavar="N", callback=at_least_one,
                                             help="investigations at once")] = 2,
    json_out: Annotated[Optional[Path], typer.Option("--json", metavar="FILE",
                                                     help="write the results JSON here")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", metavar="FILE",
                                                   help="write the Markdown leaderboard here")] = None,
    html_out: Annotated[Optional[Path], typer.Option("--html", metavar="FILE",
                                                     help="write the HTML leaderboard here")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", metavar="DIR", help="cache and transcripts")] = Path("eval-out"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="rerun every case")] = False,
    max_steps: MaxStepsOption = MAX_STEPS,
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS",
                                           help="wall-clock seconds per investigation")] = 600.0,
    judge: Annotated[Optional[str], typer.Option("--judge", metavar="SPEC", help="grade each chain's reasoning with "
                                                 "this model (LLM-as-judge; off by default)")] = None,
) -> None:
    """Replay incidents against one or more models and score them (AC@1, AC@3, citations, cost, …)."""
    from agent.models import ModelError
    from evals.harness import find_cases, preflight, run_eval
    from evals.leaderboard import html_page, markdown
    from evals.scorers import TruthError
    if target[0] == "compare":
        return compare_results(target[1:])
    if timeout <= 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="'--timeout'")
    root = Path(target[0])
    if not root.is_dir():
        fail(f"{root}: not a directory of cases")
    cases = find_cases(root)
    if not cases:
        fail(f"{root}: no cases (directories with incident.yaml and truth.yaml)")
    with bad_input(TruthError, ModelError):
        preflight(cases, [*model, *([judge] if judge else [])])
    with Progress(TextColumn("[bold]eval[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}", markup=False), console=err, transient=False) as bar:
        task = bar.add_task("", total=len(cases) * len(model) * trials)

        def done(row: dict) -> None:
            mark = "✓" if row["ac1"] else ("!" if row["error"] else "✗")
            bar.update(task, advance=1, description=plain(f"{mark} {row['model']} {row['case']}"))
        results = run_eval(cases, model, trials, concurrency, out_dir, not no_cache,
                           _budgets(max_steps=max_steps, max_wall_s=timeout), done, judge_spec=judge)
    md = markdown(results)
    if json_out:
        json_out.write_text(json.dumps(results, indent=1, default=str))
    if report:
        report.write_text(md)
    if html_out:
        html_out.write_text(html_page(results))
    sys.stdout.write(md)


def compare_results(paths: List[str]) -> None:
    """`fivewhys eval compare BEFORE.json AFTER.json`: what flipped between two runs."""
    from evals.compare import check_results, compare, render
    if len(paths) != 2:
        raise typer.BadParameter("usage: fivewhys eval compare BEFORE.json AFTER.json")
    results = []
    for p in paths:
        try:
            results.append(json.loads(Path(p).read_text()))
            check_results(results[-1])
        except (OSError, ValueError) as e:
            fail(f"cannot read results {p}: {e}")
    print(render(compare(*results)))


def simulate_command(
    kind: Annotated[str, typer.Option("--kind", metavar="KIND", help="root-cause kind from the taxonomy")],
    seed: Annotated[int, typer.Option("--seed", metavar="N")] = 1,
    difficulty: Annotated[str, typer.Option("--difficulty", metavar="LEVEL",
                                            help="easy, medium, hard or harder")] = "medium",
    force: ForceFlag = False,
    *, out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                         help="a new or empty directory to write the snapshot to")],
) -> None:
    """Write one synthetic incident (a v1 snapshot with truth.yaml)."""
    from evals.simulator import simulate
    from tools.domain.errors import SnapshotError
    with bad_input(ValueError, OSError, SnapshotError):
        print(simulate(kind, seed, difficulty, out, force))


def _budgets(**values):
    from agent.config import Budgets
    return Budgets(**values)
