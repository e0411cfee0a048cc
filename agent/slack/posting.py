"""Posting to Slack without losing a page: slack_sdk's retry handlers on the client (429 with Retry-After,
500/503, dropped connections), Slack's pace of one message a second per channel kept before each post, and
every failure that remains after those retries turned into TryLater, so the queue keeps the page and tries
it again later instead of marking it finished."""
from __future__ import annotations

import threading
import time
from http.client import HTTPException
from typing import Any, Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

from agent.slack.queue import TryLater

RATE_LIMIT_RETRIES = 3     # 429: each waits Retry-After (slack_sdk's handler)
SERVER_ERROR_RETRIES = 2   # 500/503: backoff 0.5 s, 1 s (slack_sdk's default interval calculator)
PER_CHANNEL_S = 1.1        # Slack's chat.postMessage limit is about one a second per channel; a margin for the network


def with_retries(client: WebClient) -> WebClient:
    """Add the rate-limit and server-error handlers to the client's own (it has the connection-error one)."""
    have = {type(h) for h in client.retry_handlers}
    for handler in (RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
                    ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES)):
        if type(handler) not in have:
            client.retry_handlers.append(handler)
    return client


class ChannelPace:
    """Spaces posts to one channel PER_CHANNEL_S apart, whichever thread posts them (the poster of
    top-level messages and the investigation workers share a channel)."""

    def __init__(self, interval_s: float = PER_CHANNEL_S):
        self.interval_s, self.next_at, self.lock = interval_s, {}, threading.Lock()

    def wait(self, channel: str) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_at.get(channel, 0.0))
            self.next_at[channel] = slot + self.interval_s
        if slot > now:
            time.sleep(slot - now)


def why(e: BaseException) -> str:
    """One line for the log: Slack's error code, or the connection's failure."""
    if isinstance(e, SlackApiError):
        status = getattr(e.response, "status_code", None)
        return f"{e.response.get('error') or 'error'} (HTTP {status})"
    return f"{type(e).__name__}: {e}"


def required(call: Callable[..., Any], what: str, **kw: Any) -> Any:
    """A Slack call the page cannot do without (its top-level message, its report, the final status): any
    failure left after the client's retries, Slack's answer or the connection's (a timeout included), is
    TryLater. The page is kept; nothing is lost by trying again, since what was posted is journaled."""
    try:
        return call(**kw)
    except (SlackApiError, OSError, HTTPException) as e:     # URLError and TimeoutError are OSErrors
        raise TryLater(f"{what}: {why(e)}") from e
