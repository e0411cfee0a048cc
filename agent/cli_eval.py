"""`fivewhys eval`, `fivewhys eval compare`, `fivewhys simulate`."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.config import Budgets
from agent.termtext import escape, plain

err = Console(stderr=True)


def eval_command(
    target: List[str] = typer.Argument(..., help="a directory of cases (or one case); or: compare BEFORE.json AFTER.json"),
    model: List[str] = typer.Option(["heuristic"], "--model", "-m", help="provider:name; repeat for several"),
    trials: int = typer.Option(1, "--trials", min=1, help="runs per case and model"),
    concurrency: int = typer.Option(2, "--concurrency", "-j", min=1, help="investigations at once"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write the results JSON here"),
    report: Optional[Path] = typer.Option(None, "--report", help="write the Markdown leaderboard here"),
    html_out: Optional[Path] = typer.Option(None, "--html", help="write the HTML leaderboard here"),
    out_dir: Path = typer.Option(Path("eval-out"), "--out-dir", help="cache and transcripts"),
    no_cache: bool = typer.Option(False, "--no-cache", help="rerun every case"),
    max_steps: int = typer.Option(Budgets().max_steps, "--max-steps", min=1),
    timeout: float = typer.Option(600.0, "--timeout", help="wall-clock seconds per investigation"),
    judge: Optional[str] = typer.Option(None, "--judge", help="grade each chain's reasoning with this model "
                                        "(LLM-as-judge; off by default)"),
) -> None:
    """Replay incidents against one or more models and score them (AC@1, AC@3, citations, cost, …)."""
    from agent.models import ModelError
    from evals.compare import check_results, compare, render
    from evals.harness import find_cases, preflight, run_eval
    from evals.leaderboard import html_page, markdown
    from evals.scorers import TruthError
    if target[0] == "compare":
        if len(target) != 3:
            raise typer.BadParameter("usage: fivewhys eval compare BEFORE.json AFTER.json")
        results = []
        for p in target[1:]:
            try:
                results.append(json.loads(Path(p).read_text()))
                check_results(results[-1])
            except (OSError, ValueError) as e:
                err.print(f"[red]error:[/] cannot read results {escape(p)}: {escape(str(e))}", soft_wrap=True,
                          emoji=False)
                raise typer.Exit(2)
        print(render(compare(*results)))
        return
    if timeout <= 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="'--timeout'")
    root = Path(target[0])
    if not root.is_dir():
        err.print(f"[red]error:[/] {escape(root)}: not a directory of cases", soft_wrap=True, emoji=False)
        raise typer.Exit(2)
    cases = find_cases(root)
    if not cases:
        err.print(f"[red]error:[/] {escape(root)}: no cases (directories with incident.yaml and truth.yaml)",
                  soft_wrap=True, emoji=False)
        raise typer.Exit(2)
    try:
        preflight(cases, [*model, *([judge] if judge else [])])
    except (TruthError, ModelError) as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True, emoji=False)
        raise typer.Exit(2)
    with Progress(TextColumn("[bold]eval[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}", markup=False), console=err, transient=False) as bar:
        task = bar.add_task("", total=len(cases) * len(model) * trials)

        def done(row: dict) -> None:
            mark = "✓" if row["ac1"] else ("!" if row["error"] else "✗")
            bar.update(task, advance=1, description=plain(f"{mark} {row['model']} {row['case']}"))
        results = run_eval(cases, model, trials, concurrency, out_dir, not no_cache,
                           Budgets(max_steps=max_steps, max_wall_s=timeout), done, judge_spec=judge)
    md = markdown(results)
    if json_out:
        json_out.write_text(json.dumps(results, indent=1, default=str))
    if report:
        report.write_text(md)
    if html_out:
        html_out.write_text(html_page(results))
    sys.stdout.write(md)


def simulate_command(kind: str = typer.Option(..., "--kind", help="root-cause kind from the taxonomy"),
                     seed: int = typer.Option(1, "--seed"),
                     difficulty: str = typer.Option("medium", "--difficulty", help="easy, medium or hard"),
                     out: Path = typer.Option(..., "--out", help="directory to write the snapshot to")) -> None:
    """Write one synthetic incident (a v1 snapshot with truth.yaml)."""
    from evals.simulator import simulate
    if out.exists() and not out.is_dir():
        err.print(f"[red]error:[/] {escape(out)}: exists and is not a directory", soft_wrap=True, emoji=False)
        raise typer.Exit(2)
    try:
        print(simulate(kind, seed, difficulty, out))
    except (ValueError, OSError) as e:
        err.print(f"[red]error:[/] {escape(e)}", soft_wrap=True, emoji=False)
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("simulate")(simulate_command)
