"""`fivewhys chat`, `fivewhys ask`, `fivewhys timeline`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from agent.termtext import escape

err = Console(stderr=True)


def _fail(msg: str) -> None:
    err.print(f"[red]error:[/] {escape(msg)}", soft_wrap=True, highlight=False, emoji=False)
    raise typer.Exit(2)


def chat_command(incident: Optional[Path] = typer.Argument(None, help="incident snapshot directory"),
                 model: Optional[str] = typer.Option(None, "--model", "-m", help="provider:name"),
                 base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL"),
                 resume: bool = typer.Option(False, "--continue", help="resume the last conversation")) -> None:
    """Interactive investigation: ask, follow up, look at evidence, draw the timeline."""
    from agent.chat import ChatSession, latest_chat, repl
    from agent.models import ModelError
    from tools.backends.base import TelemetryError
    from tools.backends.snapshot import SnapshotTelemetry
    console = Console()
    try:
        if resume:
            last = latest_chat()
            if last is None:
                _fail("no conversation to continue")
            session = ChatSession.resume(last, console, model, base_url)
            console.print(f"resumed {escape(last.name)}: {len(session.inv.ctx.ledger)} evidence items", emoji=False)
        else:
            if incident is None:
                _fail("give an incident snapshot directory (or --continue)")
            session = ChatSession(SnapshotTelemetry(incident), incident, model, console, base_url=base_url)
    except (TelemetryError, ModelError, OSError, ValueError) as e:
        _fail(str(e))
    raise typer.Exit(repl(session))


def ask_command(question: str = typer.Argument(..., help="what you want to know"),
                snapshot: Path = typer.Option(..., "--snapshot", help="incident snapshot directory"),
                model: Optional[str] = typer.Option(None, "--model", "-m", help="provider:name"),
                base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL"),
                json_out: bool = typer.Option(False, "--json", help="the report as JSON on stdout")) -> None:
    """One question, one answer: scriptable."""
    from agent.cli import investigate
    investigate(snapshot, json_out=json_out, model=model, base_url=base_url, question=question, transcript=None,
                no_transcript=False, max_steps=30, quiet=json_out, config=None, service=None, at=None, html_out=None)


def timeline_command(incident: Path = typer.Argument(..., help="incident snapshot directory"),
                     out: Path = typer.Option(Path("timeline.png"), "--out", help="picture to write (.png, .svg, …)"),
                     root_service: Optional[str] = typer.Option(None, "--root-service",
                                                                help="highlight this service (default: investigate)")) -> None:
    """Draw the incident's timeline: errors per service, onset, deploys, scaling, certificates, registry."""
    from tools.domain.evidence import EvidenceLedger
    from agent.loop import Investigation
    from agent.models.heuristic import HeuristicModel
    from agent.timeline import check_format, draw_timeline
    from tools import ToolContext
    from tools.backends.base import TelemetryError
    from tools.backends.snapshot import SnapshotTelemetry
    try:
        check_format(out)               # before the investigation, not after it
        tel = SnapshotTelemetry(incident)
    except (TelemetryError, ValueError) as e:
        _fail(str(e))
    onset = None
    if root_service is None:
        rc = Investigation(HeuristicModel(), ToolContext(tel, EvidenceLedger())).run().report.root_cause
        root_service, onset = (rc.service, rc.onset) if rc else (None, None)
    try:
        draw_timeline(tel, out, root_service=root_service, onset=onset)
    except OSError as e:
        _fail(f"cannot write {out}: {e.strerror or e}")
    print(out)


def mcp_command(snapshot: Path = typer.Option(..., "--snapshot", help="incident snapshot directory")) -> None:
    """Serve the read-only tools over the Model Context Protocol on stdio."""
    from agent.mcp_server import serve_stdio
    from tools.backends.base import TelemetryError
    from tools.backends.snapshot import SnapshotTelemetry
    try:
        tel = SnapshotTelemetry(snapshot)
    except TelemetryError as e:
        _fail(str(e))
    serve_stdio(tel)


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp_command)
    app.command("chat")(chat_command)
    app.command("ask")(ask_command)
    app.command("timeline")(timeline_command)
