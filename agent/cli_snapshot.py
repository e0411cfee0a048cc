"""`fivewhys snapshot capture`: a live incident from the configured backends, written as a snapshot."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from agent.termtext import escape

err = Console(stderr=True)


def capture_command(config: Path = typer.Option(..., "--config", help="TOML mapping sources to backends"),
                    window: str = typer.Option(..., "--window", help="START/END in RFC 3339 (UTC)"),
                    service: Optional[List[str]] = typer.Option(None, "--service", help="only these services"),
                    alert_service: Optional[str] = typer.Option(None, "--alert-service", help="the paged service"),
                    at: Optional[datetime] = typer.Option(None, "--at", help="when it was paged (UTC); default the "
                                                          "window's end"),
                    out: Path = typer.Option(..., "--out", help="directory to write")) -> None:
    """Write a v1 snapshot from live backends (bounded; keeps every error and event)."""
    from tools.backends.base import TelemetryError, as_utc
    from tools.backends.capture import capture
    from tools.backends.config import incident_for, open_telemetry
    try:
        a, b = (datetime.fromisoformat(x.strip().replace("Z", "+00:00")) for x in window.split("/"))
    except ValueError:
        err.print("[red]error:[/] --window must be START/END, e.g. 2026-03-06T15:00Z/2026-03-06T18:00Z", soft_wrap=True)
        raise typer.Exit(2)
    a, b = as_utc(a), as_utc(b)
    page = as_utc(at) if at else b
    if not (a < b and a <= page <= b):
        err.print("[red]error:[/] --window must run forwards and hold --at", soft_wrap=True)
        raise typer.Exit(2)
    svc = alert_service or (service[0] if service else "unknown")
    inc = incident_for(svc, page, before=page - a, after=b - page)
    try:
        tel = open_telemetry(None, config, svc, page)
        tel.incident = inc
        counts = capture(tel, inc, out, tuple(service) if service else None)
    except TelemetryError as e:
        err.print(f"[red]error:[/] {escape(e)}", soft_wrap=True, emoji=False)
        raise typer.Exit(2)
    print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def import_command(logs: Optional[List[Path]] = typer.Option(None, "--logs", help="a log file (repeatable): JSON lines, "
                                                               "logfmt or text lines with a timestamp; the file name is the service"),
                   k8s_events: Optional[List[Path]] = typer.Option(None, "--k8s-events", help="kubectl get events -o json"),
                   otlp: Optional[List[Path]] = typer.Option(None, "--otlp", help="OTLP JSON trace export (spans)"),
                   out: Path = typer.Option(..., "--out", help="directory to write")) -> None:
    """Convert plain log files and Kubernetes event dumps into a v1 snapshot."""
    from tools.backends.importers import write_import
    missing = [p for p in (logs or []) + (k8s_events or []) + (otlp or []) if not p.is_file()]
    if missing or not (logs or k8s_events or otlp):
        what = f"no such file: {escape(missing[0])}" if missing else "give --logs, --k8s-events or --otlp"
        err.print(f"[red]error:[/] {what}", soft_wrap=True, emoji=False)
        raise typer.Exit(2)
    try:
        counts = write_import(out, logs or [], k8s_events or [], otlp=otlp or [])
    except (ValueError, OSError, KeyError, TypeError) as e:
        err.print(f"[red]error:[/] {escape(e)}", soft_wrap=True, emoji=False)
        raise typer.Exit(2)
    print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def register(snapshot_app: typer.Typer) -> None:
    snapshot_app.command("capture")(capture_command)
    snapshot_app.command("import")(import_command)
