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


def serve_settings(config: Path | None, cfg: dict):
    """`[serve]` of the config file, with FIVEWHYS_STORE in place of its `store` when set."""
    from pydantic import ValidationError
    from agent.slack.store import ServeSettings
    table = cfg.get("serve", {})
    if not isinstance(table, dict):
        fail(f"{config}: [serve] must be a table")
    try:
        settings = ServeSettings.model_validate(table)
    except ValidationError as e:
        first = e.errors()[0]
        fail(f"{config}: serve.{'.'.join(map(str, first['loc']))}: {first['msg']}")
    if os.environ.get("FIVEWHYS_STORE"):
        settings.store = os.environ["FIVEWHYS_STORE"]
    return settings


def warn_closed_or_open(socket_mode: bool) -> None:
    """One warning per endpoint that refuses everything for want of a secret, or accepts anyone."""
    if not os.environ.get("FIVEWHYS_PAGERDUTY_SECRET"):
        warn("FIVEWHYS_PAGERDUTY_SECRET is not set: /webhooks/pagerduty answers 403")
    if not socket_mode and not os.environ.get("SLACK_SIGNING_SECRET"):
        warn("SLACK_SIGNING_SECRET is not set: /slack/events (mentions, /fivewhys, buttons) answers 404")
    if not os.environ.get("FIVEWHYS_ALERTMANAGER_TOKEN"):
        if os.environ.get("FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED") == "1":
            warn("FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED=1: /webhooks/alertmanager accepts pages from anyone "
                 "who can reach it")
        else:
            warn("FIVEWHYS_ALERTMANAGER_TOKEN is not set: /webhooks/alertmanager answers 403")


def check_token(slack) -> str | None:
    """auth.test before the first page: a token Slack refuses ends `serve` at once (exit 2). Slack out of
    reach is only a warning: pages are kept and posted when it answers."""
    from slack_sdk.errors import SlackApiError
    try:
        me = slack.auth_test()
    except SlackApiError as e:
        fail(f"Slack refuses SLACK_BOT_TOKEN ({e.response.get('error')}, from auth.test at {slack_api_url()})")
    except Exception as e:  # noqa: BLE001 - unreachable, timed out, a proxy's HTML page: all one warning
        warn(f"cannot check SLACK_BOT_TOKEN at {slack_api_url()} ({type(e).__name__}: {e}); pages are kept "
             "until Slack answers")
        return None
    return f"{me.get('user')} in {me.get('team')}"


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
    from agent.slack.store import StoreError, shown
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
    settings = serve_settings(config, cfg)
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
    warn_closed_or_open(socket_mode)
    slack = WebClient(token=os.environ.get("SLACK_BOT_TOKEN"), base_url=slack_api_url())
    me = check_token(slack)
    log_pages()
    if me:
        logging.getLogger("fivewhys.slack").info("slack: posting as %s", me)
    try:
        bot = Bot(slack, snapshot, routes, model=model, workers=workers, config=config if "sources" in cfg else None,
                  journal=private_dir(state_dir() / "serve") / "pages.jsonl", store=settings.store, lease_s=settings.lease_s)
    except StoreError as e:
        fail(str(e))
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler
        SocketModeHandler(slack_app(bot, None), os.environ["SLACK_APP_TOKEN"]).connect()
    server = make_server(bot, host, port, slack_events=not socket_mode)
    where = f"store {shown(settings.store)}" if settings.store else "journal file"
    err.print(f"fivewhys serving on http://{escape(host)}:{port} (workers {workers}, {escape(where)})", emoji=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()
