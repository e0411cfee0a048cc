"""What the bot keeps per incident: the routing table (service → channel), the Slack thread of a page and the
text of its top-level message. A thread is rebuilt from the note the queue keeps (the journal file, or the
store shared by replicas) after a restart or on another replica."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tools.domain.evidence import EvidenceLedger
from agent.slack.blocks import mrkdwn_escape
from agent.slack.webhooks import Page


def headline(page: Page, state: str) -> str:
    """The page's top-level message: what was paged, then where its investigation is."""
    return (f":rotating_light: {mrkdwn_escape(page.summary)} ({mrkdwn_escape(page.service or 'unknown service')})"
            f" — {state}")


def outcome_line(report: Any, ledger: EvidenceLedger) -> str:
    rc = report.root_cause
    if report.inconclusive or rc is None:
        return "inconclusive"
    return (f"root cause: {mrkdwn_escape(rc.service)} — {mrkdwn_escape(rc.kind)} (confidence {rc.confidence:.2f},"
            f" {len(ledger)} evidence items)")


@dataclass
class Route:
    """One row of the routing table: a service, its channel, and the PagerDuty services that mean it."""
    service: str
    channel: str | None = None
    pagerduty: tuple[str, ...] = ()


def parse_routes(table: dict[str, Any]) -> dict[str, Route]:
    """`[slack.routes]`: `service = "channel"`, or `[slack.routes.service]` with `channel` and `pagerduty`
    (PagerDuty service ids or names that mean this service)."""
    routes = {}
    for service, v in (table or {}).items():
        if isinstance(v, Route):
            routes[service] = v
        elif isinstance(v, str):
            routes[service] = Route(service, v)
        elif isinstance(v, dict):
            pd = v.get("pagerduty") or []
            routes[service] = Route(service, v.get("channel"), tuple([pd] if isinstance(pd, str) else pd))
        else:
            raise ValueError(f"slack.routes.{service}: a channel name or a table with channel and pagerduty")
    return routes


@dataclass
class Thread:
    channel: str
    ts: str
    page: Page
    evidence: EvidenceLedger | None = None
    transcript: Path | None = None
    outcome: Any = None           # (report, ledger), or the exception the investigation raised; kept for a retry
    status_ts: str | None = None  # the message updated as the investigation runs (the top-level one for a page)


def thread_of(key: str, n: dict[str, Any] | None) -> Thread | None:
    """The thread a note describes, or None when the note names no message (yet). A page's status message is its
    top-level message; a question's is its own message in the thread (`status`)."""
    if not n or not (n.get("channel") and n.get("ts") and n.get("at")):
        return None
    page = Page(key=key, source=n.get("source", ""), service=n.get("service"), summary=n.get("summary", ""),
                at=datetime.fromisoformat(n["at"]))
    status = n.get("status") or (n["ts"] if n.get("source") != "slack" else None)
    return Thread(n["channel"], n["ts"], page, status_ts=status,
                  transcript=Path(n["transcript"]) if n.get("transcript") else None)
