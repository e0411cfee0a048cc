"""Pages in, reports out: runs the investigation for a page and keeps its Slack thread up to date."""
from __future__ import annotations

import dataclasses
import logging
import os
import queue
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tools.domain.evidence import EvidenceLedger
from agent.loop import ToolFinished
from agent.render import report_markdown
from agent.slack.blocks import mrkdwn_escape, report_blocks
from agent.slack.posting import PER_CHANNEL_S, ChannelPace, required, why, with_retries
from agent.slack.queue import TryLater
from agent.slack.resume import PAGE_EVENT, REPORT_EVENT, metadata, posted_thread, report_posted
from agent.slack.store import LEASE_S, RedisQueue, open_queue
from agent.slack.threads import Route, Thread, headline, outcome_line, parse_routes, thread_of
from agent.slack.webhooks import Page
from agent.session import open_investigation
from agent.transcript import Transcript, default_transcript_path
from tools.backends.base import Alert
from tools.backends.config import TelemetryError, open_telemetry

log = logging.getLogger("fivewhys.slack")
STATUS_EVERY_S = 2.0          # chat.update at most this often
KEEP_THREADS = 500            # threads whose evidence stays in memory for "Show evidence"
KEEP_SEEN, SEEN_S = 20_000, 600.0   # Slack request ids remembered, and for how long (its replay window is 5 min)
__all__ = ["Bot", "Investigate", "Route", "Thread", "headline", "outcome_line", "parse_routes"]


# the work behind a page: (page, a sink for progress lines, the transcript's path) → (report, evidence ledger)
Investigate = Callable[[Page, Callable[[str], None], Path | None], tuple[Any, EvidenceLedger]]


class Bot:
    def __init__(self, slack: WebClient, snapshot: Path | None, routes: dict[str, Any] | None = None,
                 channel: str | None = None, model: str | None = None, workers: int = 2, config: Path | None = None,
                 investigate: Investigate | None = None,
                 journal: Path | None = None, keep_transcripts: bool = True, per_channel_s: float = PER_CHANNEL_S,
                 store: str | None = None, lease_s: float = LEASE_S):
        self.slack, self.snapshot, self.config = with_retries(slack), snapshot, config
        self.routes = parse_routes(routes or {})
        self.channel = channel or os.environ.get("FIVEWHYS_SLACK_CHANNEL")
        self.model, self.keep_transcripts = model, keep_transcripts
        self.threads: OrderedDict[str, Thread] = OrderedDict()
        self.lock = threading.Lock()
        self.pace = ChannelPace(per_channel_s)
        self.seen: OrderedDict[str, float] = OrderedDict()           # Slack's ids of requests acted on
        self.stripes = [threading.Lock() for _ in range(64)]           # one page's top-level message at a time
        self.investigate = investigate or self._investigate
        # the journal file (store None), or a Redis shared by replicas (agent/slack/store.py); workers start last
        self.queue = open_queue(store, self._run, self._resolved, workers, self._failed, journal, lease_s,
                                start=False)
        self.shared = isinstance(self.queue, RedisQueue)
        for key, n in self.queue.notes.items():       # threads opened before a restart, from the journal
            if (t := thread_of(key, n)) is not None:
                self.threads[key] = t
        self.announce: queue.Queue[Any] = queue.Queue()   # pages whose top-level message is due, and notes
        self.poster = threading.Thread(target=self._post_announced, daemon=True)
        self.poster.start()
        for key, page in self.queue.active_pages():       # replayed pages without their message yet
            if page.reply_to is None and self.thread(key) is None:
                self.announce.put(page)
        self.queue.start()                                # only now: a replayed page finds its thread

    def page(self, page: Page, delivery_id: str | None = None) -> bool:
        if page.source == "pagerduty":      # the PagerDuty service, named in the routing table, is ours
            ids = {page.service, page.labels.get("pagerduty_service_id")} - {None}
            mapped = next((r.service for r in self.routes.values() if ids & set(r.pagerduty)), None)
            page = dataclasses.replace(page, service=mapped or page.service)
        started = self.queue.submit(page, delivery_id)
        if started and page.reply_to is None:     # its top-level message now, whatever the workers are doing
            self.announce.put(page)
        return started

    def grouped(self, lead: str, pages: list[Page]) -> None:
        """Alerts of a group past its cap of investigations: one note in the thread of the group's first."""
        names = ", ".join(mrkdwn_escape(p.summary or p.key)[:80] for p in pages[:10])
        self.announce.put((lead, f"{len(pages)} more alerts of this group, not investigated separately: {names}"
                                 + (" …" if len(pages) > 10 else "")))

    def once(self, kind: str, slack_id: str | None) -> bool:
        """True the first time Slack's own id of a request (trigger_id, event_id, an action's ts) is seen:
        a replay within Slack's 5-minute signature window is acted on once. Replicas ask the store, so a
        replay that reaches another replica is caught too (in memory here if the store cannot answer)."""
        if not slack_id:
            return True
        key, now = f"{kind}:{slack_id}", time.monotonic()
        if self.shared and (first := self.queue.once(key, SEEN_S)) is not None:
            if not first:
                log.info("slack %s %s: a replay, ignored", kind, slack_id)
            return first
        with self.lock:
            while self.seen and (len(self.seen) > KEEP_SEEN or next(iter(self.seen.values())) < now - SEEN_S):
                self.seen.popitem(last=False)
            if key in self.seen:
                log.info("slack %s %s: a replay, ignored", kind, slack_id)
                return False
            self.seen[key] = now
        return True

    def close(self) -> None:
        """Stop the queue's workers (the investigation in hand finishes first) and the poster."""
        self.queue.close()
        self.announce.put(None)
        self.poster.join(30)

    def channel_for(self, page: Page) -> str:
        route = self.routes.get(page.service or "")
        return (route and route.channel) or self.channel or "#incidents"

    def thread(self, key: str) -> Thread | None:
        """The incident's thread: kept here, or noted in the store (by another replica, or long ago)."""
        with self.lock:
            t = self.threads.get(key)
        return t if t is not None or not self.shared else thread_of(key, self.queue.notes.get(key))

    # ---- Slack: posts paced per channel; a failure that remains after the client's retries is TryLater ----
    def _post(self, what: str, channel: str, **kw: Any) -> Any:
        self.pace.wait(channel)
        return required(self.slack.chat_postMessage, what, channel=channel, **kw)

    def _post_announced(self) -> None:
        """The poster: top-level messages on receipt ("paged, queued (position N)"), independent of the
        workers, and notes for grouped alerts. A failure here costs nothing: the worker posts it later."""
        while (item := self.announce.get()) is not None:
            try:
                if isinstance(item, Page):
                    if self.queue.active_page(item.key) is not None:
                        self._top(item)
                else:
                    lead, text = item
                    t = self.thread(lead) or ((p := self.queue.active_page(lead)) and self._top(p))
                    if t is not None:
                        self._post("grouped note", t.channel, thread_ts=t.ts, text=text)
            except TryLater as e:
                log.warning("slack: not posted yet: %s", e)
            except Exception:  # noqa: BLE001 - the poster never dies
                log.exception("slack: the poster failed")

    def _top(self, page: Page) -> Thread:
        """The page's top-level message: posted once per occurrence (by the poster or the first worker to
        get there, on any replica), its ts journaled the moment it exists. A page taken over from a replica
        that stopped (attempt > 1) reuses the journaled ts, or the message Slack has (resume.py)."""
        with self.stripes[hash(page.key) % len(self.stripes)], self.queue.exclusive(page.key):
            t = self.thread(page.key)
            if t is not None and t.page.at == page.at:
                with self.lock:
                    t = self.threads.setdefault(page.key, t)     # kept here: its outcome survives a retry
                return t
            if page.attempt > 1 and (posted := posted_thread(self.slack, self._channels(page), page)):
                t = Thread(*posted, page, status_ts=posted[1])
                log.info("page %s: its top-level message was posted before its replica stopped", page.key)
            else:
                pos = self.queue.position(page.key)
                t = self._open_thread(page, f"paged, queued (position {pos})" if pos else "investigating…")
                log.info("page %s: top-level message posted in %s", page.key, t.channel)
            self._keep(page.key, t)
            self.queue.note(page.key, channel=t.channel, ts=t.ts, status=t.ts, source=page.source,
                            service=page.service, summary=page.summary, at=page.at.isoformat(), report=False,
                            file=False, outcome=None)
            return t

    def _open_thread(self, page: Page, state: str) -> Thread:
        """In the page's routed channel, or the default channel when Slack refuses that one (the bot is not in
        it); a failure of Slack itself (5xx, 429, a timeout) is not a reason to post elsewhere."""
        channels = self._channels(page)
        for i, channel in enumerate(channels):
            try:
                top = self._post("top-level message", channel, text=headline(page, state),
                                 metadata=metadata(PAGE_EVENT, page))
                return Thread(top["channel"], top["ts"], page, status_ts=top["ts"])
            except TryLater as e:
                refused = isinstance(e.__cause__, SlackApiError) and e.__cause__.response.status_code == 200
                if not refused or i == len(channels) - 1:
                    raise
                log.error("page %s: cannot post in %s: %s", page.key, channel, e)
        raise AssertionError("no channel")

    def _channels(self, page: Page) -> list[str]:
        return list(dict.fromkeys(c for c in (self.channel_for(page), self.channel) if c))

    # ---- the work, in a queue worker -----------------------------------------------------------------
    def _run(self, page: Page) -> None:
        """Top-level message, investigation, report, final status: each step done once, journaled as it is
        done, so a retry (TryLater) or a restart goes on from where it stopped."""
        if page.reply_to:                   # asked in Slack: answer in that thread
            t = self.thread(page.key) or Thread(*page.reply_to, page)
            self._keep(page.key, t)
            self.queue.note(page.key, channel=t.channel, ts=t.ts, source=page.source, service=page.service,
                            summary=page.summary, at=page.at.isoformat())
        else:
            t = self._top(page)
        note = self.queue.notes.get(page.key) or {}
        if not note.get("report") and page.attempt > 1 and report_posted(self.slack, t.channel, t.ts, page):
            log.info("page %s: its report was posted before its replica stopped", page.key)
            self.queue.note(page.key, report=True)
        elif not note.get("report"):
            if t.outcome is None:
                self._investigate_in(page, t)
            self._post_report(page, t)
        self._finish(page, t)
        if isinstance(t.outcome, Exception):
            raise t.outcome                 # the queue logs it as failed; its note is in the thread already

    def _investigate_in(self, page: Page, t: Thread) -> None:
        t.transcript = default_transcript_path(page.key) if self.keep_transcripts else None
        self.queue.note(page.key, transcript=str(t.transcript) if t.transcript else None)
        if t.status_ts is None:             # a question: its status message in the thread
            t.status_ts = self._post("status", t.channel, thread_ts=t.ts, text="starting the investigation…")["ts"]
            self.queue.note(page.key, status=t.status_ts)
        else:
            self._quietly(self.slack.chat_update, channel=t.channel, ts=t.status_ts, text=self._doing(t, "investigating…"))
        last = [time.monotonic()]

        def progress(line: str) -> None:    # best effort: a rate-limited update must not fail the run
            if time.monotonic() - last[0] >= STATUS_EVERY_S:
                last[0] = time.monotonic()
                self._quietly(self.slack.chat_update, channel=t.channel, ts=t.status_ts,
                              text=self._doing(t, f"investigating: {mrkdwn_escape(line)}"))
        try:
            report, ledger = self.investigate(self._with_context(page), progress, t.transcript)
            t.evidence, t.outcome = ledger, (report, ledger)
        except Exception as e:  # noqa: BLE001 - a failed investigation is the page's answer, posted like a report
            t.outcome = e

    def _doing(self, t: Thread, state: str) -> str:
        return headline(t.page, state) if t.status_ts == t.ts else state

    def _post_report(self, page: Page, t: Thread) -> None:
        if isinstance(t.outcome, Exception):
            e = t.outcome
            self._post("failure note", t.channel, thread_ts=t.ts,
                       text=f":warning: the investigation failed: {type(e).__name__}: {mrkdwn_escape(str(e))[:2500]}")
            self.queue.note(page.key, report=True, outcome="the investigation failed")
            return
        report, ledger = t.outcome
        full = report_markdown(report, ledger)
        self._post("report", t.channel, thread_ts=t.ts, text=mrkdwn_escape(full[:2900]),
                   blocks=report_blocks(report, ledger, page.key), metadata=metadata(REPORT_EVENT, page))
        self.queue.note(page.key, report=True, outcome=outcome_line(report, ledger))
        if len(full) > 3000:      # the blocks are a summary; the whole report goes along as a file
            self.pace.wait(t.channel)
            required(self.slack.files_upload_v2, "report file", channel=t.channel, thread_ts=t.ts, content=full,
                     filename=f"fivewhys-{page.key.replace(':', '-')}.md", title="fivewhys report (full)")
            self.queue.note(page.key, file=True)

    def _finish(self, page: Page, t: Thread) -> None:
        """The status message says how it ended (chat.update is idempotent: safe to repeat after a retry)."""
        outcome = (self.queue.notes.get(page.key) or {}).get("outcome") or "done"
        if t.status_ts is not None:
            required(self.slack.chat_update, "final status", channel=t.channel, ts=t.status_ts,
                     text=self._doing(t, f"{outcome} (the report is in the thread)"
                                      if t.status_ts == t.ts else f"done: {outcome}"))

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
        """Best effort (progress updates, the resolve note): logged, never raised."""
        try:
            call(**kw)
        except Exception as e:  # noqa: BLE001 - Slack's answer or the connection's failure alike
            log.warning("slack %s: %s", getattr(call, "__name__", "call"), why(e))

    def _failed(self, page: Page, e: BaseException) -> None:
        t = self.thread(page.key)
        if t is not None and t.outcome is e:       # posted as the page's answer already
            return
        if t is None:
            log.error("page %s failed before its thread existed: %s: %s", page.key, type(e).__name__, e)
            return
        self._quietly(self.slack.chat_postMessage, channel=t.channel, thread_ts=t.ts,
                      text=f":warning: the investigation failed: {type(e).__name__}: {mrkdwn_escape(str(e))[:2500]}")

    def _resolved(self, page: Page) -> None:
        t = self.thread(page.key)
        if t is not None:
            self.pace.wait(t.channel)
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
