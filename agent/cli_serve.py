"""`fivewhys serve`: the Slack bot and page webhooks."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from agent.termtext import escape

err = Console(stderr=True)


def serve_command(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8080, "--port"),
                  snapshot: Optional[Path] = typer.Option(None, "--snapshot", help="answer pages from this snapshot"),
                  config: Optional[Path] = typer.Option(None, "--config", help="TOML: \\[slack.routes], \\[sources.*]"),
                  model: Optional[str] = typer.Option(None, "--model", "-m"),
                  workers: int = typer.Option(2, "--workers", help="investigations at once"),
                  socket_mode: bool = typer.Option(False, "--socket-mode", help="Slack Socket Mode (SLACK_APP_TOKEN)")) -> None:
    """Serve /webhooks/pagerduty, /webhooks/alertmanager, /slack/events and /healthz."""
    from slack_sdk import WebClient
    from agent.slack.bot import Bot, parse_routes
    from agent.slack.server import make_server, slack_app
    from agent.transcript import state_dir
    cfg: dict = {}
    if config:
        try:
            cfg = tomllib.loads(config.read_text())
            routes = parse_routes(cfg.get("slack", {}).get("routes", {}))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, AttributeError) as e:
            err.print(f"[red]error:[/] {escape(config)}: {escape(e)}", soft_wrap=True, highlight=False, emoji=False)
            raise typer.Exit(2)
    else:
        routes = {}
    if snapshot is None and "sources" not in cfg:
        err.print("[red]error:[/] no telemetry: give --snapshot DIR, or --config with \\[sources.*] backends")
        raise typer.Exit(2)
    if snapshot is not None:
        from tools.domain.errors import SnapshotError
        from tools.domain.incident import load_incident
        try:
            load_incident(snapshot)
        except SnapshotError as e:
            err.print(f"[red]error:[/] {escape(e)}", soft_wrap=True, highlight=False, emoji=False)
            raise typer.Exit(2)
    if not os.environ.get("SLACK_BOT_TOKEN"):
        err.print("[red]error:[/] SLACK_BOT_TOKEN is not set: the bot could not post anything")
        raise typer.Exit(2)
    if socket_mode and not os.environ.get("SLACK_APP_TOKEN"):
        err.print("[red]error:[/] Socket Mode needs SLACK_APP_TOKEN (xapp-…)")
        raise typer.Exit(2)
    if not os.environ.get("FIVEWHYS_PAGERDUTY_SECRET"):
        err.print("[yellow]warning:[/] FIVEWHYS_PAGERDUTY_SECRET is not set: /webhooks/pagerduty answers 403")
    if not socket_mode and not os.environ.get("SLACK_SIGNING_SECRET"):
        err.print("[yellow]warning:[/] SLACK_SIGNING_SECRET is not set: /slack/events (mentions, /fivewhys, "
                  "buttons) answers 404")
    slack = WebClient(token=os.environ.get("SLACK_BOT_TOKEN"),
                      base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"))
    bot = Bot(slack, snapshot, routes, model=model, workers=workers, config=config if "sources" in cfg else None,
              journal=state_dir() / "serve" / "pages.jsonl")
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler
        SocketModeHandler(slack_app(bot, None), os.environ["SLACK_APP_TOKEN"]).connect()
    server = make_server(bot, host, port, slack_events=not socket_mode)
    err.print(f"fivewhys serving on http://{escape(host)}:{port} (workers {workers})", emoji=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
