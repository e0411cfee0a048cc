"""`fivewhys serve`: the Slack bot and page webhooks."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

err = Console(stderr=True)


def serve_command(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8080, "--port"),
                  snapshot: Optional[Path] = typer.Option(None, "--snapshot", help="answer pages from this snapshot"),
                  config: Optional[Path] = typer.Option(None, "--config", help="TOML: [slack.routes], [sources.*]"),
                  model: Optional[str] = typer.Option(None, "--model", "-m"),
                  workers: int = typer.Option(2, "--workers", help="investigations at once"),
                  socket_mode: bool = typer.Option(False, "--socket-mode", help="Slack Socket Mode (SLACK_APP_TOKEN)")) -> None:
    """Serve /webhooks/pagerduty, /webhooks/alertmanager, /slack/events and /healthz."""
    from slack_sdk import WebClient
    from agent.slack.bot import Bot
    from agent.slack.server import make_server, slack_app
    routes = {}
    if config:
        try:
            routes = tomllib.loads(config.read_text()).get("slack", {}).get("routes", {})
        except (OSError, tomllib.TOMLDecodeError) as e:
            err.print(f"[red]error:[/] {config}: {e}", soft_wrap=True)
            raise typer.Exit(2)
    slack = WebClient(token=os.environ.get("SLACK_BOT_TOKEN"),
                      base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"))
    bot = Bot(slack, snapshot, routes, model=model, workers=workers,
              config=config if config and "sources" in tomllib.loads(config.read_text()) else None)
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler
        if not os.environ.get("SLACK_APP_TOKEN") or not os.environ.get("SLACK_SIGNING_SECRET"):
            err.print("[red]error:[/] Socket Mode needs SLACK_APP_TOKEN, SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
            raise typer.Exit(2)
        app = slack_app(bot, os.environ["SLACK_SIGNING_SECRET"], os.environ.get("SLACK_BOT_TOKEN"))
        SocketModeHandler(app, os.environ["SLACK_APP_TOKEN"]).connect()
    server = make_server(bot, host, port)
    err.print(f"fivewhys serving on http://{host}:{port} (workers {workers})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
