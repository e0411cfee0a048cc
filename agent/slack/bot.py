"""Pages in, reports out: runs the investigation for a page and keeps its Slack thread up to date."""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tools.domain.evidence import EvidenceLedger
from agent.loop import ToolFinished
from agent.render import report_markdown
from agent.slack.blocks import mrkdwn_escape, report_blocks
from agent.slack.resume import PAGE_EVENT, REPORT_EVENT, metadata, posted_thread, report_posted
from agent.slack.store import LEASE_S, open_queue
from agent.slack.webhooks import Page
from agent.session import open_investigation
from agent.transcript import Transcript, default_transcript_path
from tools.backends.base import Alert
from tools.backends.config import TelemetryError, open_telemetry

log = logging.getLogger("fivewhys.slack")
STATUS_EVERY_S = 2.0          # chat.update at most this often
KEEP_THREADS = 500            # threads whose evidence stays in memory for "Show evidence"


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


# the work behind a page: (page, a sink for progress lines, the transcript's path) → (report, evidence ledger)
Investigate = Callable[[Page, Callable[[str], None], Path | None], tuple[Any, EvidenceLedger]]


class Bot:
    def __init__(self, slack: WebClient, snapshot: Path | None, routes: dict[str, Any] | None = None,
                 channel: str | None = None, model: str | None = None, workers: int = 2, config: Path | None = None,
                 investigate: Investigate | None = None,
                 journal: Path | None = None, keep_transcripts: bool = True, store: str | None = None,
                 lease_s: float = LEASE_S):
        self.slack, self.snapshot, self.config = slack, snapshot, config
        self.routes = parse_routes(routes or {})
        self.channel = channel or os.environ.get("FIVEWHYS_SLACK_CHANNEL")
        self.model, self.keep_transcripts = model, keep_transcripts
        self.threads: OrderedDict[str, Thread] = OrderedDict()
        self.lock = threading.Lock()
        self.investigate = investigate or self._investigate
        # the journal file (store None), or a Redis shared by replicas (agent/slack/store.py)
        self.queue = open_queue(store, self._run, self._resolved, workers, self._failed, journal, lease_s)
        for key, n in self.queue.notes.items():       # threads opened before a restart, from the journal
            self.threads[key] = _thread_of(key, n)

    def page(self, page: Page, delivery_id: str | None = None) -> bool:
        if page.source == "pagerduty":      # the PagerDuty service, named in the routing table, is ours
            ids = {page.service, page.labels.get("pagerduty_service_id")} - {None}
            mapped = next((r.service for r in self.routes.values() if ids & set(r.pagerduty)), None)
            page = dataclasses.replace(page, service=mapped or page.service)
        return self.queue.submit(page, delivery_id)

    def close(self) -> None:
        """Stop the queue's workers (the investigation in hand finishes first)."""
        self.queue.close()

    def channel_for(self, page: Page) -> str:
        route = self.routes.get(page.service or "")
        return (route and route.channel) or self.channel or "#incidents"

    def thread(self, key: str) -> Thread | None:
        """The incident's thread: kept here, or noted in the store (by another replica, or long ago)."""
        with self.lock:
            t = self.threads.get(key)
        if t is None and (n := self.queue.notes.get(key)) is not None:
            t = _thread_of(key, n)
        return t

    # ---- the work, in a queue worker -----------------------------------------------------------------
    def _run(self, page: Page) -> None:
        restored = self.thread(page.key)
        if page.reply_to:                   # asked in Slack: answer in that thread
            t = Thread(*page.reply_to, page)
        elif restored is not None and restored.page.at == page.at:    # resumed after a restart: same thread
            t = restored
        elif page.attempt > 1 and (posted := posted_thread(self.slack, self._channels(page), page)):
            t = Thread(*posted, page)       # its replica stopped after posting, before noting it
        else:
            t = self._open_thread(page)
        t.transcript = default_transcript_path(page.key) if self.keep_transcripts else None
        self._keep(page.key, t)
        self.queue.note(page.key, {"channel": t.channel, "ts": t.ts, "source": page.source, "service": page.service,
                                   "summary": page.summary, "at": page.at.isoformat(),
                                   "transcript": str(t.transcript) if t.transcript else None})
        if page.attempt > 1 and report_posted(self.slack, t.channel, t.ts, page):
            log.info("page %s: its report was posted before its replica stopped", page.key)
            return
        status = self.slack.chat_postMessage(channel=t.channel, thread_ts=t.ts, text="starting the investigation…")
        last = [0.0]

        def progress(line: str) -> None:    # best effort: a rate-limited update must not fail the run
            if time.monotonic() - last[0] >= STATUS_EVERY_S:
                last[0] = time.monotonic()
                self._quietly(self.slack.chat_update, channel=t.channel, ts=status["ts"],
                              text=f"investigating: {mrkdwn_escape(line)}")
        report, ledger = self.investigate(self._with_context(page), progress, t.transcript)
        t.evidence = ledger
        self._quietly(self.slack.chat_update, channel=t.channel, ts=status["ts"],
                      text=f"done: {len(ledger)} evidence items")
        full = report_markdown(report, ledger)
        self.slack.chat_postMessage(channel=t.channel, thread_ts=t.ts, text=mrkdwn_escape(full[:2900]),
                                    blocks=report_blocks(report, ledger, page.key), metadata=metadata(REPORT_EVENT, page))
        if len(full) > 3000:      # the blocks are a summary; the whole report goes along as a file
            self.slack.files_upload_v2(channel=t.channel, thread_ts=t.ts, content=full,
                                       filename=f"fivewhys-{page.key.replace(':', '-')}.md",
                                       title="fivewhys report (full)")

    def _open_thread(self, page: Page) -> Thread:
        """The incident's top-level message, in its routed channel (the default channel if that fails)."""
        text = (f":rotating_light: {mrkdwn_escape(page.summary)} ({mrkdwn_escape(page.service or 'unknown service')})"
                " — investigating…")
        channels = self._channels(page)
        for i, channel in enumerate(channels):
            try:
                top = self.slack.chat_postMessage(channel=channel, text=text, metadata=metadata(PAGE_EVENT, page))
                return Thread(top["channel"], top["ts"], page)
            except SlackApiError as e:
                log.error("page %s: cannot post in %s: %s", page.key, channel, e.response.get("error"))
                if i == len(channels) - 1:
                    raise

    def _channels(self, page: Page) -> list[str]:
        return list(dict.fromkeys(c for c in (self.channel_for(page), self.channel) if c))

    def _investigate(self, page: Page, progress: Callable[[str], None], transcript: Path | None):
        if self.snapshot is None and self.config is None:
            raise RuntimeError("no telemetry configured (use --snapshot or --config)")
        try:
            tel = open_telemetry(self.snapshot, self.config, page.service or None, page.at)
        except TelemetryError as e:
            known = ", ".join(sorted(self.routes)) or "none in the routing table"
            raise RuntimeError(f"{e}. Name the service in the question (known: {known}).") from None
        inc = tel.incident
        if self.snapshot is not None and page.service:   # the page's service and time replace the snapshot's
            at = page.at if inc.window.start <= page.at <= inc.window.end else inc.alert.at
            tel.incident = inc.model_copy(update={"alert": Alert(at=at, service=page.service, summary=page.summary,
                                                                 labels=page.labels)})
        on_event = lambda e: progress(e.call.name) if isinstance(e, ToolFinished) else None  # noqa: E731
        with open_investigation(tel, self.model, transcript=transcript, on_event=on_event,
                                header={"incident": page.key, "page": dataclasses.asdict(page)}) as inv:
            res = inv.run(page.summary if page.source == "slack" else None)
        return res.report, res.ledger

    def _with_context(self, page: Page) -> Page:
        """A question asked in Slack takes its service and time from the incident thread it was asked in,
        or from a routed service it names."""
        if page.source != "slack" or page.service:
            return page
        with self.lock:
            origin = next((t.page for t in self.threads.values()
                           if page.reply_to and (t.channel, t.ts) == page.reply_to and t.page.source != "slack"), None)
        if origin is not None:
            return dataclasses.replace(page, service=origin.service, at=origin.at)
        named = [s for s in self.routes if re.search(rf"\b{re.escape(s)}\b", page.summary, re.IGNORECASE)]
        return dataclasses.replace(page, service=named[0]) if named else page

    def _keep(self, key: str, t: Thread) -> None:
        with self.lock:
            self.threads[key] = t
            self.threads.move_to_end(key)
            while len(self.threads) > KEEP_THREADS:
                self.threads.popitem(last=False)

    def _quietly(self, call: Callable[..., Any], **kw: Any) -> None:
        try:
            call(**kw)
        except SlackApiError as e:
            log.warning("slack %s: %s", getattr(call, "__name__", "call"), e.response.get("error"))

    def _failed(self, page: Page, e: BaseException) -> None:
        t = self.thread(page.key)
        if t is None:
            log.error("page %s failed before its thread existed: %s: %s", page.key, type(e).__name__, e)
            return
        self._quietly(self.slack.chat_postMessage, channel=t.channel, thread_ts=t.ts,
                      text=f":warning: the investigation failed: {type(e).__name__}: {mrkdwn_escape(str(e))[:2500]}")

    def _resolved(self, page: Page) -> None:
        t = self.thread(page.key)
        if t is not None:
            self._quietly(self.slack.chat_postMessage, channel=t.channel, thread_ts=t.ts,
                          text=":white_check_mark: resolved")

    def feedback(self, key: str, vote: str, user: str | None) -> bool:
        """👍/👎 on a report, appended to the investigation's transcript."""
        t = self.thread(key)
        if t is None or t.transcript is None:
            return False
        tr = Transcript.append(t.transcript)
        tr.write("feedback", vote=vote, user=user, at=time.time())
        tr.close()
        return True


def _thread_of(key: str, n: dict[str, Any]) -> Thread:
    """A thread from the note the bot keeps in the store."""
    page = Page(key=key, source=n["source"], service=n.get("service"), summary=n.get("summary", ""),
                at=datetime.fromisoformat(n["at"]))
    return Thread(n["channel"], n["ts"], page, transcript=Path(n["transcript"]) if n.get("transcript") else None)
