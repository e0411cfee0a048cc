"""`fivewhys chat`, `fivewhys timeline`, `fivewhys mcp`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from agent.cli_options import (BaseUrlOption, IncidentArgument, ModelOption, SnapshotDir, SnapshotOption, bad_input,
                               fail, open_or_fail, say_model, warn, why_this_model)
from agent.termtext import escape


def chat(incident: IncidentArgument = None, model: ModelOption = None, base_url: BaseUrlOption = None,
         resume: Annotated[bool, typer.Option("--continue", help="resume the last conversation")] = False) -> None:
    """Interactive investigation: ask, follow up, look at evidence, draw the timeline."""
    from agent.chat import ChatSession, SavedChat, latest_chat, repl
    from agent.models import ModelError
    from agent.progress import LiveProgress
    from agent.session import open_investigation, unknown_paged_service
    from tools.domain.errors import TelemetryError
    console, saved = Console(), None
    if resume:
        last = latest_chat()
        if last is None:
            fail("no conversation to continue")
        with bad_input(OSError, ValueError):
            saved = SavedChat.read(last)
        base_url = base_url or (saved.base_url if not model else None)    # its server, unless --model is another
        why = why_this_model(model) if model else f"the model of {saved.path.name}, resumed"
        incident, model = saved.snapshot, model or saved.model
    elif incident is None:
        fail("give an incident snapshot directory (or --continue)")
    else:
        why = why_this_model(model)
    opening = open_investigation(incident, model, base_url=base_url, ledger=saved.ledger if saved else None,
                                 on_event=LiveProgress(console))
    with open_or_fail(opening, TelemetryError, ModelError, OSError, ValueError) as inv:
        say_model(inv.model.name, why)
        if note := unknown_paged_service(inv.ctx):
            warn(note)
        session = ChatSession(inv, console, incident, base_url, saved)
        if saved:
            console.print(f"resumed {escape(saved.path.name)}: {len(saved.ledger)} evidence items", emoji=False)
        code = repl(session)
    raise typer.Exit(code)


def timeline(incident: SnapshotDir,
             out: Annotated[Path, typer.Option("--out", metavar="FILE",
                                               help="picture to write (.png, .svg, …)")] = Path("timeline.png"),
             root_service: Annotated[Optional[str], typer.Option(
                 "--root-service", metavar="SERVICE", help="highlight this service (default: investigate)")] = None,
             ) -> None:
    """Draw the incident's timeline: errors per service, onset, deploys, scaling, certificates, registry."""
    from agent.models.heuristic import HeuristicModel
    from agent.session import closest_first, known_services, open_investigation
    from agent.timeline import check_format, draw_timeline
    from tools.domain.errors import TelemetryError
    with bad_input(ValueError):
        check_format(out)                   # before the investigation, not after it
    with open_or_fail(open_investigation(incident, HeuristicModel()), TelemetryError, ValueError) as inv:
        known = known_services(inv.ctx.telemetry)
        if root_service is not None and root_service not in known:
            fail(f"--root-service {root_service!r}: no such service with telemetry; closest first: "
                 f"{closest_first(root_service, known)}")
        onset = None
        if root_service is None:
            rc = inv.run().report.root_cause
            root_service, onset = (rc.service, rc.onset) if rc else (None, None)
        try:
            draw_timeline(inv.ctx.telemetry, out, root_service=root_service, onset=onset)
        except OSError as e:
            fail(f"cannot write {out}: {e.strerror or e}")
    print(out)


def mcp(snapshot: SnapshotOption) -> None:
    """Serve the read-only tools over the Model Context Protocol on stdio."""
    from agent.mcp_server import serve_stdio
    from agent.session import open_tools
    from tools.domain.errors import TelemetryError
    with open_or_fail(open_tools(snapshot), TelemetryError) as ctx:
        serve_stdio(ctx)
