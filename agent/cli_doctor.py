"""`fivewhys doctor`: is the set-up ready for a page? The settings file, the model that would run and its key,
each configured backend (one small bounded query each, with a short timeout) and Slack (auth.test). One line
per check; exit 1 when anything is wrong."""
from __future__ import annotations

import os
import threading
import time
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from agent.cli_options import ModelOption, key_env, why_this_model
from agent.termtext import plain

Line = tuple[bool, str]            # (fine, what was found)
PROBE_WINDOW = timedelta(minutes=5)


def doctor(config: Annotated[Optional[Path], typer.Option(
               "--config", metavar="FILE", help="TOML with [sources.*] and [slack.routes] (default: ./fivewhys.toml, "
                                                "when there is one)")] = None,
           model: ModelOption = None,
           timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS",
                                                  help="how long each backend and Slack may take")] = 5.0) -> None:
    """Check the set-up: the settings, the model that would run and its key, each backend, Slack."""
    if config is None and Path("fivewhys.toml").is_file():
        config = Path("fivewhys.toml")
    lines = [check_settings(), check_model(model)]
    routes = False
    if config is None:
        lines.append((True, "config: none (no --config, no ./fivewhys.toml): investigations read snapshots"))
    else:
        found, routes = check_config(config, timeout)
        lines += found
    lines.append(check_slack(routes, timeout))
    if (store := check_store(config, timeout)) is not None:
        lines.append(store)
    for fine, text in lines:
        print(f"{'ok     ' if fine else 'PROBLEM'} {plain(text)}")
    problems = sum(not fine for fine, _ in lines)
    print(f"{problems} problem(s)" if problems else "ready")
    raise typer.Exit(1 if problems else 0)


def check_settings() -> Line:
    from agent.models import ModelError
    from agent.settings import config_path, load_settings
    try:
        load_settings()
    except ModelError as e:
        return False, f"settings: {e}"
    path = config_path()
    return True, f"settings: {path}" + ("" if path.exists() else " (none: the defaults)")


def check_model(spec: str | None) -> Line:
    """The model that would run, why, and whether its key is set (nothing is sent to it)."""
    from agent.models import ModelError
    from agent.session import load_configured_model
    from agent.settings import load_settings
    why = why_this_model(spec)
    try:
        name = load_configured_model(spec).name
    except ModelError as e:
        return False, f"model: {spec or 'the default'} ({why}) cannot load: {e}"
    provider = name.partition(":")[0]
    if provider in ("openai", "anthropic"):
        env = key_env(load_settings(), provider)
        key = f"its key {env} is set" if os.environ.get(env) else f"{env} is not set (a server that needs no key)"
    else:
        key = "it needs no key"
    return True, f"model: {name} ({why}); {key}"


def check_config(config: Path, timeout: float) -> tuple[list[Line], bool]:
    """The file's sources and routing table, then one bounded query per source, all at once."""
    from agent.slack.bot import parse_routes
    from tools.backends.config import load_backends, open_telemetry
    from tools.domain.errors import TelemetryError
    try:
        cfg = load_backends(config)
        routes = parse_routes(tomllib.loads(config.read_text()).get("slack", {}).get("routes", {}))
    except (TelemetryError, ValueError, AttributeError, OSError) as e:
        return [(False, f"config: {config}: {e}" if str(config) not in str(e) else f"config: {e}")], False
    lines: list[Line] = [(True, f"config: {config}: sources {', '.join(cfg.sources) or 'none'}; "
                                f"routes {', '.join(routes) or 'none'}")]
    now = datetime.now(timezone.utc)
    try:
        telemetry = open_telemetry(None, config, "doctor", now)
    except TelemetryError as e:
        return lines + [(False, f"sources: {e}")], bool(routes)
    try:
        running = _all_at_once(telemetry, {s: _probe(telemetry, s, now) for s in cfg.sources}, timeout)
        lines += [_answer(running[s], f"{s}: {_where(cfg.sources[s])}", timeout) for s in cfg.sources]
    finally:
        telemetry.close()
    return lines, bool(routes)


def _where(c: Any) -> str:
    at = getattr(c, "url", None) or getattr(c, "path", None)
    return f"{c.backend} at {at}" if at else c.backend


def _probe(telemetry: Any, source: str, now: datetime) -> Callable[[], Any]:
    """The cheapest query the tools would make of this source: the last few minutes, one row."""
    from tools.backends.base import Filter
    w = Filter(start=now - PROBE_WINDOW, end=now)
    if source == "metrics":
        return lambda: telemetry.metric_names(w)
    if source in ("logs", "spans"):
        return lambda: telemetry.count(source, w, limit=1)
    return lambda: telemetry.events(source, w if source != "certificates" else Filter(), limit=1)


def _all_at_once(telemetry: Any, probes: dict[str, Callable[[], Any]], timeout: float) -> dict[str, dict]:
    """One thread per backend, its sources' probes in turn (a backend answers one query at a time: a snapshot's
    database does), each with `timeout` of its own. Daemon threads: one that hangs is left behind."""
    routes = getattr(telemetry, "routes", {})
    chains: dict[int, list[str]] = {}
    for source in probes:
        chains.setdefault(id(routes.get(source)), []).append(source)
    began, results = time.monotonic(), {}
    for sources in chains.values():
        for i, source in enumerate(sources):
            results[source] = {"done": threading.Event(), "deadline": began + timeout * (i + 1)}
        threading.Thread(target=_run, args=([(probes[s], results[s]) for s in sources],), daemon=True).start()
    return results


def _run(chain: list[tuple[Callable[[], Any], dict]]) -> None:
    for call, result in chain:
        began = time.monotonic()
        try:
            call()
        except Exception as e:  # noqa: BLE001 - whatever a backend raises is what the doctor reports
            result["error"] = e
        result["took"] = time.monotonic() - began
        result["done"].set()


def _answer(result: dict, what: str, timeout: float) -> Line:
    from tools.domain.errors import TelemetryError
    if not result["done"].wait(max(0.0, result["deadline"] - time.monotonic())):
        return False, f"{what}: no answer within {timeout:g} s"
    e = result.get("error")
    if e is not None:           # a backend's own error names the store and what it said; anything else, its type
        return False, f"{what}: {e}" if isinstance(e, TelemetryError) else f"{what}: {type(e).__name__}: {e}"
    return True, f"{what}: answered in {result['took']:.1f} s"


def check_slack(routes: bool, timeout: float) -> Line:
    """auth.test with SLACK_BOT_TOKEN: a bad token is found now, not at the first page."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError
    from agent.cli_serve import slack_api_url
    token = os.environ.get("SLACK_BOT_TOKEN")
    if not token:
        why = "serve cannot post the routed pages" if routes else "needed by serve only"
        return not routes, f"slack: SLACK_BOT_TOKEN is not set ({why})"
    try:
        me = WebClient(token=token, base_url=slack_api_url(), timeout=max(1, round(timeout))).auth_test()
    except SlackApiError as e:
        return False, f"slack: SLACK_BOT_TOKEN is refused by {slack_api_url()}: {e.response.get('error')}"
    except Exception as e:  # noqa: BLE001 - unreachable, timed out, a proxy's HTML: all one problem
        return False, f"slack: cannot reach {slack_api_url()}: {type(e).__name__}: {e}"
    return True, f"slack: SLACK_BOT_TOKEN is {me.get('user')} in {me.get('team')}"


def check_store(config: Path | None, timeout: float) -> Line | None:
    """The Redis that serve replicas share ([serve] store, or FIVEWHYS_STORE), when one is configured."""
    from agent.slack.store import StoreError, ping, shown
    url = os.environ.get("FIVEWHYS_STORE")
    if not url and config is not None:
        try:
            url = (tomllib.loads(config.read_text()).get("serve") or {}).get("store")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
            return None                 # check_config says what is wrong with the file
    if not url:
        return None
    try:
        return True, f"store: {shown(str(url))}: {ping(str(url), timeout)}"
    except StoreError as e:
        return False, f"store: {e}"
