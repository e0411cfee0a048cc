"""The `fivewhys` command line."""
from __future__ import annotations

import json
import os
import sys
from importlib import resources
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markdown import Markdown

from agent.config import Budgets
from tools.domain.evidence import EvidenceLedger
from agent.loop import Investigation, RunResult
from agent.models import ModelError, load_model
from agent.progress import LiveProgress
from agent.render import report_markdown, result_json
from agent.termtext import escape, plain
from agent.transcript import Transcript, default_transcript_path
from tools import ToolContext
from tools.backends.base import TelemetryError
from tools.backends.config import open_telemetry
from tools.backends.snapshot import SnapshotTelemetry

app = typer.Typer(help="fivewhys: find the root cause of a production incident, with cited evidence.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
snapshot_app = typer.Typer(help="Incident snapshots: validate (and, with live backends, capture and import).",
                           no_args_is_help=True)
app.add_typer(snapshot_app, name="snapshot")
err = Console(stderr=True)
DEMO_ID = "search-token-peak"


def demo_path() -> Path:
    return Path(str(resources.files("evals") / "incidents" / DEMO_ID))


def fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
    raise typer.Exit(code)


def run_investigation(path: Optional[Path], model_spec: Optional[str], base_url: Optional[str],
                      question: Optional[str], transcript: Optional[Path], keep_transcript: bool, quiet: bool,
                      budgets: Budgets, config: Optional[Path] = None, service: Optional[str] = None,
                      at: Optional[datetime] = None) -> tuple[RunResult, SnapshotTelemetry, Optional[Path]]:
    try:
        telemetry = open_telemetry(path, config, service, at)
        model = load_model(model_spec, base_url=base_url)
    except (TelemetryError, ModelError) as e:
        fail(str(e))
    for source in ("logs", "metrics", "spans", "deployments", "scaling", "certificates", "registry"):
        c = telemetry.coverage(source)
        for name in c.cut_short if not quiet else []:
            err.print(f"[yellow]warning:[/] {escape(name)} ends early (the file was cut short); "
                      f"records before the break are used", highlight=False, soft_wrap=True, emoji=False)
        for note in c.capped if not quiet else []:
            err.print(f"[yellow]warning:[/] {escape(note)}", highlight=False, soft_wrap=True, emoji=False)
        if c.skipped_lines and not quiet:
            err.print(f"[yellow]warning:[/] {source}: skipped {c.skipped_lines} malformed records "
                      f"(run `fivewhys snapshot validate {escape(str(path))}` for details)", highlight=False,
                      soft_wrap=True, emoji=False)
    tpath = (transcript or default_transcript_path(telemetry.incident.id)) if keep_transcript else None
    header = {"incident": telemetry.incident.id, "snapshot": str(path), "model": model.name,
              "budgets": budgets.model_dump()}
    progress = LiveProgress(quiet=quiet)
    tr = Transcript(tpath, header)
    try:
        inv = Investigation(model, ToolContext(telemetry, EvidenceLedger()), budgets, tr, progress)
        result = inv.run(question)
    except ModelError as e:
        fail(str(e), 1)
    finally:
        progress.close()
        tr.close()
    return result, telemetry, tpath


@app.command()
def investigate(
    incident: Optional[Path] = typer.Argument(None, help="incident snapshot directory"),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON on stdout, nothing else"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="provider:name, e.g. heuristic, "
                                        "anthropic:claude-sonnet-4-6, openai:gpt-5.1"),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL"),
    question: Optional[str] = typer.Option(None, "--question", "-q", help="what you want to know"),
    transcript: Optional[Path] = typer.Option(None, "--transcript", help="where to write the JSONL transcript"),
    no_transcript: bool = typer.Option(False, "--no-transcript", help="keep no transcript"),
    max_steps: int = typer.Option(Budgets().max_steps, "--max-steps", help="model turns before giving up"),
    quiet: bool = typer.Option(False, "--quiet", help="do not show tool calls as they run"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML mapping sources to live backends"),
    service: Optional[str] = typer.Option(None, "--service", help="with --config and no snapshot: the paged service"),
    at: Optional[datetime] = typer.Option(None, "--at", help="with --config and no snapshot: when it was paged (UTC)"),
    html_out: Optional[Path] = typer.Option(None, "--html", help="also write an HTML report with the timeline"),
) -> None:
    """Investigate an incident (a snapshot, or live backends from --config) and print the cited causal chain."""
    result, telemetry, tpath = run_investigation(incident, model, base_url, question, transcript, not no_transcript,
                                                 quiet, Budgets(max_steps=max_steps), config, service, at)
    # A model that could not be reached is a failure of the run, not an "inconclusive" incident.
    failed = result.stop_reason.startswith("model_error")
    if json_out:
        sys.stdout.write(json.dumps(result_json(result, incident=telemetry.incident.id,
                                                transcript=str(tpath) if tpath else None), indent=2) + "\n")
    elif not failed or len(result.ledger):
        Console().print(Markdown(report_markdown(result.report, result.ledger, result.usage)))
    if tpath and not json_out:
        err.print(f"[dim]transcript: {escape(str(tpath))}[/]", highlight=False, emoji=False)
    if html_out:
        from agent.html_report import html_report
        html_out.write_text(html_report(result.report, result.ledger, telemetry, result.usage))
        err.print(f"[dim]HTML report: {escape(str(html_out))}[/]", highlight=False, emoji=False)
    telemetry.close()
    if failed:
        fail(f"the model failed after {result.usage.tool_calls} tool call(s): "
             f"{result.stop_reason.removeprefix('model_error: ')}", 1)


@app.command()
def demo(json_out: bool = typer.Option(False, "--json", help="print the report as JSON on stdout"),
         model: Optional[str] = typer.Option(None, "--model", "-m", help="provider:name (default: heuristic)"),
         quiet: bool = typer.Option(False, "--quiet", help="do not show tool calls as they run")) -> None:
    """Investigate the built-in incident: SearchService cannot connect to TokenService at Friday peak."""
    investigate(demo_path(), json_out=json_out, model=model or "heuristic", base_url=None, question=None, transcript=None,
                no_transcript=False, max_steps=Budgets().max_steps, quiet=quiet, config=None, service=None, at=None,
                html_out=None)


@snapshot_app.command("validate")
def snapshot_validate(path: Path = typer.Argument(..., help="incident snapshot directory"),
                      strict: bool = typer.Option(False, "--strict", help="exit non-zero on any problem")) -> None:
    """Check a snapshot against the format: every problem with file and line; non-zero exit if unusable."""
    from tools.backends.validate import validate_snapshot
    rep = validate_snapshot(path)
    for p in rep.problems:                # file names and values in the messages come from the snapshot
        err.print(plain(p), highlight=False, markup=False, emoji=False, soft_wrap=True)
    counts = ", ".join(f"{k} {v}" for k, v in rep.records.items()) or "no telemetry"
    verdict = "usable" if rep.usable else "NOT usable"
    Console().print(plain(f"{path}: {verdict}; records: {counts}; {len(rep.problems)} problem(s)"), highlight=False,
                    markup=False, emoji=False, soft_wrap=True)
    if not rep.usable or (strict and rep.problems):
        raise typer.Exit(1)


from agent.cli_eval import register as _register_eval  # noqa: E402

_register_eval(app)
from agent.cli_snapshot import register as _register_snapshot  # noqa: E402

_register_snapshot(snapshot_app)
from agent.cli_chat import register as _register_chat  # noqa: E402

_register_chat(app)
from agent.cli_serve import register as _register_serve  # noqa: E402

_register_serve(app)


def main() -> None:
    """Entry point: no traceback reaches the user unless FIVEWHYS_DEBUG is set."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence for bad input
        if os.environ.get("FIVEWHYS_DEBUG"):
            raise
        err.print(f"[red]error:[/] {type(e).__name__}: {escape(e)} (set FIVEWHYS_DEBUG=1 for the traceback)",
                  highlight=False, emoji=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
