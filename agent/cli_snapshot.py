"""`fivewhys snapshot validate | capture | import`: check a snapshot, or write one from live backends or files."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.console import Console

from agent.cli_options import Command, ForceFlag, Group, SnapshotDir, bad_input, err, fail
from agent.termtext import plain

app = typer.Typer(help="Incident snapshots: validate (and, with live backends, capture and import).",
                  no_args_is_help=True, cls=Group, rich_markup_mode=None)
OutOption = Annotated[Path, typer.Option("--out", metavar="DIR", help="a new or empty directory to write")]


@app.command("validate", cls=Command)
def validate(path: SnapshotDir,
             strict: Annotated[bool, typer.Option("--strict", help="exit non-zero on any problem")] = False) -> None:
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


@app.command("capture", cls=Command)
def capture(config: Annotated[Path, typer.Option("--config", metavar="FILE", help="TOML mapping sources to backends")],
            window: Annotated[str, typer.Option("--window", metavar="START/END", help="in RFC 3339 (UTC)")],
            service: Annotated[Optional[List[str]], typer.Option("--service", metavar="SERVICE",
                                                                 help="only these services")] = None,
            alert_service: Annotated[Optional[str], typer.Option("--alert-service", metavar="SERVICE",
                                                                 help="the paged service")] = None,
            at: Annotated[Optional[datetime], typer.Option(
                "--at", metavar="TIME", help="when it was paged (UTC); default the window's end")] = None,
            force: ForceFlag = False, *, out: OutOption) -> None:
    """Write a v1 snapshot from live backends (bounded; keeps every error and event)."""
    from tools.backends.base import TelemetryError, as_utc
    from tools.backends.capture import capture as write_capture
    from tools.backends.config import incident_for
    from tools.domain.incident import claim_out_dir
    from agent.session import open_tools
    try:
        a, b = (datetime.fromisoformat(x.strip().replace("Z", "+00:00")) for x in window.split("/"))
    except ValueError:
        fail("--window must be START/END, e.g. 2026-03-06T15:00Z/2026-03-06T18:00Z")
    a, b = as_utc(a), as_utc(b)
    page = as_utc(at) if at else b
    if not (a < b and a <= page <= b):
        fail("--window must run forwards and hold --at")
    svc = alert_service or (service[0] if service else "unknown")
    inc = incident_for(svc, page, before=page - a, after=b - page)
    with bad_input(TelemetryError), open_tools(None, config=config, service=svc, at=page) as ctx:
        claim_out_dir(out, force)             # before the first query: a non-empty --out is refused at once
        ctx.telemetry.incident = inc
        counts = write_capture(ctx.telemetry, inc, out, tuple(service) if service else None)
    print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("import", cls=Command)
def import_files(
    logs: Annotated[Optional[List[Path]], typer.Option(
        "--logs", metavar="FILE", help="a log file (repeatable): JSON lines, logfmt or text lines with a timestamp; "
                                       "the file name is the service")] = None,
    k8s_events: Annotated[Optional[List[Path]], typer.Option("--k8s-events", metavar="FILE",
                                                             help="kubectl get events -o json")] = None,
    otlp: Annotated[Optional[List[Path]], typer.Option("--otlp", metavar="FILE",
                                                       help="OTLP JSON trace export (spans)")] = None,
    force: ForceFlag = False, *, out: OutOption,
) -> None:
    """Convert plain log files and Kubernetes event dumps into a v1 snapshot."""
    from tools.backends.importers import write_import
    from tools.domain.errors import SnapshotError
    from tools.domain.incident import claim_out_dir
    missing = [p for p in (logs or []) + (k8s_events or []) + (otlp or []) if not p.is_file()]
    if missing or not (logs or k8s_events or otlp):
        fail(f"no such file: {missing[0]}" if missing else "give --logs, --k8s-events or --otlp")
    with bad_input(SnapshotError):
        claim_out_dir(out, force)
    with bad_input(ValueError, OSError, KeyError, TypeError):
        counts = write_import(out, logs or [], k8s_events or [], otlp=otlp or [])
    print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
