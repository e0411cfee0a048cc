"""`fivewhys investigate`, `fivewhys demo`, `fivewhys ask`: one investigation, printed as a report."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console

from agent.cli_options import (MAX_STEPS, BaseUrlOption, IncidentArgument, JsonFlag, MaxStepsOption, ModelOption,
                               QuietFlag, SnapshotOption, err, fail, open_or_fail, say_model, warn, why_this_model)
from agent.termtext import escape
from tools.domain.errors import TelemetryError

# The loop, the tools (DuckDB) and the renderers are imported when a command runs, not for `--help`.
AUTO = "auto"                      # agent.session.AUTO: a transcript at the default path

if TYPE_CHECKING:
    from agent.loop import Investigation, RunResult

DEMO_ID = "search-token-peak"
CANNOT_READ = 3      # the exit code of a report reached while a backend or tool failed (docs: README, "Exit codes")


def demo_path() -> Path:
    return Path(str(resources.files("evals") / "incidents" / DEMO_ID))


def investigate(
    incident: IncidentArgument = None,
    json_out: JsonFlag = False,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    question: Annotated[Optional[str], typer.Option(
        "--question", "-q", metavar="TEXT", help="what you want to know (-q is not --quiet)")] = None,
    transcript: Annotated[Optional[Path], typer.Option("--transcript", metavar="FILE",
                                                       help="where to write the JSONL transcript")] = None,
    no_transcript: Annotated[bool, typer.Option("--no-transcript", help="keep no transcript")] = False,
    max_steps: MaxStepsOption = MAX_STEPS,
    quiet: QuietFlag = False,
    config: Annotated[Optional[Path], typer.Option("--config", metavar="FILE",
                                                   help="TOML mapping sources to live backends")] = None,
    service: Annotated[Optional[str], typer.Option(
        "--service", metavar="SERVICE", help="with --config and no snapshot: the paged service")] = None,
    at: Annotated[Optional[datetime], typer.Option(
        "--at", metavar="TIME", help="with --config and no snapshot: when it was paged (UTC)")] = None,
    html_out: Annotated[Optional[Path], typer.Option("--html", metavar="FILE",
                                                     help="also write an HTML report with the timeline")] = None,
) -> None:
    """Investigate an incident (a snapshot, or live backends from --config) and print the cited causal chain."""
    if question and incident is None and Path(question).is_dir():     # `-q DIR` meant --quiet: say so, not "no dir"
        fail(f"-q is --question, not --quiet: it took {question} as the question; write --quiet, or put the "
             f"directory first")
    report_investigation(incident, question=question, json_out=json_out, quiet=quiet, html_out=html_out,
                         model=model, base_url=base_url, config=config, service=service, at=at,
                         budgets=_budgets(max_steps=max_steps),
                         transcript=None if no_transcript else transcript or AUTO)


def demo(json_out: JsonFlag = False, model: ModelOption = None, quiet: QuietFlag = False) -> None:
    """Investigate the built-in incident: SearchService cannot connect to TokenService at Friday peak.

    The model is the heuristic (even where a key is configured) unless --model names another."""
    report_investigation(demo_path(), json_out=json_out, quiet=quiet, model=model or "heuristic", transcript=AUTO,
                         why=why_this_model(model) if model else "the demo runs it unless --model names another")


def ask(question: Annotated[str, typer.Argument(metavar="QUESTION", help="what you want to know")],
        snapshot: SnapshotOption,
        model: ModelOption = None, base_url: BaseUrlOption = None, json_out: JsonFlag = False,
        quiet: QuietFlag = False) -> None:
    """One question, one answer: scriptable (with --json, tool calls are not shown)."""
    report_investigation(snapshot, question=question, json_out=json_out, quiet=quiet, progress=not json_out,
                         model=model, base_url=base_url, transcript=AUTO)


def report_investigation(source: Optional[Path], *, json_out: bool, quiet: bool, question: Optional[str] = None,
                         html_out: Optional[Path] = None, why: Optional[str] = None, progress: bool = True,
                         **options: Any) -> None:
    """Run one investigation and print its report: Markdown, or JSON alone on stdout. Telemetry or a model
    that cannot load is bad input (exit 2); a model that fails during the run exits 1 after the report, and a
    run that could not read some of its data (a backend down, a tool failing) exits 3 after it."""
    from rich.markdown import Markdown

    from agent.loop import StopReason
    from agent.models import ModelError
    from agent.progress import LiveProgress
    from agent.render import report_markdown, result_json
    from agent.session import open_investigation, unknown_paged_service
    why = why or why_this_model(options.get("model"))
    opening = open_investigation(source, on_event=LiveProgress(quiet=quiet or not progress), **options)
    with open_or_fail(opening, TelemetryError, ModelError) as inv:
        if not quiet:
            say_model(inv.model.name, why)
            warn_about_cut_telemetry(inv, source)
        if question and inv.model.name == "heuristic":
            warn("the heuristic does not read questions: it investigates the page, whatever is asked "
                 "(an LLM answers questions: --model, docs/providers.md)")
        if note := unknown_paged_service(inv.ctx):       # even with --quiet: the answer may be about another service
            warn(note)
        result = inv.run(question)
        # A model that could not be reached is a failure of the run, not an "inconclusive" incident.
        failed = result.stop_reason is StopReason.MODEL_ERROR
        tpath = inv.transcript.path
        if json_out:
            sys.stdout.write(json.dumps(result_json(result, incident=inv.ctx.incident.id,
                                                    transcript=str(tpath) if tpath else None), indent=2) + "\n")
        elif not failed or len(result.ledger):
            Console().print(Markdown(report_markdown(result.report, result.ledger, result.usage)))
        if tpath and not json_out:
            err.print(f"[dim]transcript: {escape(tpath)}[/]", highlight=False, emoji=False)
        if html_out:
            write_html(html_out, result, inv)
    if failed:
        fail(f"the model failed after {result.usage.tool_calls} tool call(s): {result.error}", 1)
    if result.ledger.failures:          # an answer without some of its data is not an ordinary one
        fail(f"the investigation could not read all of its data ({len(result.ledger.failures)} failure(s): "
             f"{result.ledger.failures[0].error}); the report lists them", CANNOT_READ)


def warn_about_cut_telemetry(inv: Investigation, source: Optional[Path]) -> None:
    from tools.domain.incident import SOURCES
    for name in SOURCES:
        c = inv.ctx.telemetry.coverage(name)
        for cut in c.cut_short:
            warn(f"{cut} ends early (the file was cut short); records before the break are used")
        for note in c.capped:
            warn(note)
        if c.skipped_lines:
            warn(f"{name}: skipped {c.skipped_lines} malformed records "
                 f"(run `fivewhys snapshot validate {source}` for details)")


def _budgets(**values: Any) -> Any:
    from agent.config import Budgets
    return Budgets(**values)


def write_html(path: Path, result: RunResult, inv: Investigation) -> None:
    from agent.html_report import html_report
    path.write_text(html_report(result.report, result.ledger, inv.ctx.telemetry, result.usage))
    err.print(f"[dim]HTML report: {escape(path)}[/]", highlight=False, emoji=False)
