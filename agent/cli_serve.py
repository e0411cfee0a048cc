"""`fivewhys serve`: the Slack bot and page webhooks."""
from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Annotated, Optional

import typer

from agent.cli_options import ModelOption, bad_input, err, fail, warn
from agent.termtext import escape


def slack_api_url() -> str:
    """Slack's Web API, or a stand-in (SLACK_API_URL) for tests and proxies."""
    return os.environ.get("SLACK_API_URL", "https://slack.com/api/")


def log_pages() -> None:
    """The bot's log (each page received, queued, investigated, finished or failed) on stderr, with the time."""
    log = logging.getLogger("fivewhys")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False          # not twice through a root handler another library set up


def serve_command(
    host: Annotated[str, typer.Option("--host", metavar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT")] = 8080,
    snapshot: Annotated[Optional[Path], typer.Option("--snapshot", metavar="DIR",
                                                     help="answer pages from this snapshot")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", metavar="FILE",
                                                   help="TOML: \\[slack.routes], \\[sources.*]")] = None,
    model: ModelOption = None,
    workers: Annotated[int, typer.Option("--workers", metavar="N", help="investigations at once")] = 2,
    socket_mode: Annotated[bool, typer.Option("--socket-mode", help="Slack Socket Mode (SLACK_APP_TOKEN)")] = False,
) -> None:
    """Serve /webhooks/pagerduty, /webhooks/alertmanager, /slack/events and /healthz."""
    from slack_sdk import WebClient
    from agent.slack.bot import Bot, parse_routes
    from agent.slack.server import make_server, slack_app
    from agent.state import private_dir, state_dir
    cfg: dict = {}
    if config:
        try:
            cfg = tomllib.loads(config.read_text())
            routes = parse_routes(cfg.get("slack", {}).get("routes", {}))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, AttributeError) as e:
            fail(f"{config}: {e}")
    else:
        routes = {}
    if snapshot is None and "sources" not in cfg:
        fail("no telemetry: give --snapshot DIR, or --config with [sources.*] backends")
    if snapshot is not None:
        from tools.domain.errors import SnapshotError
        from tools.domain.incident import load_incident
        with bad_input(SnapshotError):
            load_incident(snapshot)
    if not os.environ.get("SLACK_BOT_TOKEN"):
        fail("SLACK_BOT_TOKEN is not set: the bot could not post anything")
    if socket_mode and not os.environ.get("SLACK_APP_TOKEN"):
        fail("Socket Mode needs SLACK_APP_TOKEN (xapp-…)")
    if not os.environ.get("FIVEWHYS_PAGERDUTY_SECRET"):
        warn("FIVEWHYS_PAGERDUTY_SECRET is not set: /webhooks/pagerduty answers 403")
    if not socket_mode and not os.environ.get("SLACK_SIGNING_SECRET"):
        warn("SLACK_SIGNING_SECRET is not set: /slack/events (mentions, /fivewhys, buttons) answers 404")
    slack = WebClient(token=os.environ.get("SLACK_BOT_TOKEN"), base_url=slack_api_url())
    bot = Bot(slack, snapshot, routes, model=model, workers=workers, config=config if "sources" in cfg else None,
              journal=private_dir(state_dir() / "serve") / "pages.jsonl")
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler
        SocketModeHandler(slack_app(bot, None), os.environ["SLACK_APP_TOKEN"]).connect()
    log_pages()
    server = make_server(bot, host, port, slack_events=not socket_mode)
    err.print(f"fivewhys serving on http://{escape(host)}:{port} (workers {workers})", emoji=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()
