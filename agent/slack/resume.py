"""Taking over a page from a replica that stopped, without posting twice.

A replica killed between posting a message and recording it leaves no trace in the store, so the one that
takes the page over asks Slack. Each top-level message and each report carries Slack message metadata naming
its page (`fivewhys_page` / `fivewhys_report`, with the incident key and occurrence time); before posting on a
taken-over page (Page.attempt > 1) the bot looks for them in the channel's history and in the thread
(conversations.history / conversations.replies with include_all_metadata; scopes channels:history, and
groups:history for private channels). A lookup that fails is logged and counts as "not found": a page may
then be posted twice, never lost."""
from __future__ import annotations

import logging
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from agent.slack.posting import why
from agent.slack.webhooks import Page

log = logging.getLogger("fivewhys.slack")
PAGE_EVENT, REPORT_EVENT = "fivewhys_page", "fivewhys_report"
SKEW_S = 300              # the page's time may be ahead of Slack's clock by this much
MAX_PAGES = 10            # of 200 messages each, looked through in the channel's history


def metadata(event: str, page: Page) -> dict[str, Any]:
    return {"event_type": event, "event_payload": {"key": page.key, "at": page.at.isoformat()}}


def _ours(message: dict, event: str, page: Page) -> bool:
    m = message.get("metadata") or {}
    return m.get("event_type") == event and m.get("event_payload") == metadata(event, page)["event_payload"]


def posted_thread(slack: WebClient, channels: list[str], page: Page) -> tuple[str, str] | None:
    """(channel, ts) of the page's top-level message if one was posted, in any of `channels`, after the page."""
    for channel in channels:
        cursor = None
        try:
            for _ in range(MAX_PAGES):
                r = slack.conversations_history(channel=channel, oldest=str(page.at.timestamp() - SKEW_S), limit=200,
                                                include_all_metadata=True, cursor=cursor)
                for m in r.get("messages") or []:
                    if _ours(m, PAGE_EVENT, page):
                        return r.get("channel") or channel, m["ts"]
                cursor = (r.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except (SlackApiError, OSError, HTTPException) as e:     # Slack's refusal, 5xx after retries, a timeout
            log.warning("page %s: cannot look for its message in %s: %s", page.key, channel, why(e))
    return None


def report_posted(slack: WebClient, channel: str, ts: str, page: Page) -> bool:
    """True when the page's report is already in its thread."""
    cursor = None
    try:
        for _ in range(MAX_PAGES):
            r = slack.conversations_replies(channel=channel, ts=ts, limit=200, include_all_metadata=True, cursor=cursor)
            if any(_ours(m, REPORT_EVENT, page) for m in r.get("messages") or []):
                return True
            cursor = (r.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except (SlackApiError, OSError, HTTPException) as e:
        log.warning("page %s: cannot look for its report in %s: %s", page.key, channel, why(e))
    return False
