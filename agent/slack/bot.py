"""Pages in, reports out: runs the investigation for a page and keeps its Slack thread up to date."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from slack_sdk import WebClient

from agent.evidence import EvidenceLedger
from agent.loop import Investigation
from agent.models import load_model
from agent.render import report_markdown
from agent.slack.blocks import report_blocks
from agent.slack.queue import InvestigationQueue
from agent.slack.webhooks import Page
from tools import ToolContext
from tools.backends.base import Alert
from tools.backends.config import open_telemetry

STATUS_EVERY_S = 2.0          # chat.update at most this often


@dataclass
class Thread:
    channel: str
    ts: str
    page: Page
    feedback: list[str] = field(default_factory=list)
    evidence: Any = None


class Bot:
    def __init__(self, slack: WebClient, snapshot: Path | None, routes: dict[str, str] | None = None,
                 channel: str | None = None, model: str | None = None, workers: int = 2, config: Path | None = None,
                 investigate: Callable[[Page, Callable[[str], None]], tuple[Any, EvidenceLedger]] | None = None):
        self.slack, self.snapshot, self.config, self.routes = slack, snapshot, config, routes or {}
        self.channel = channel or os.environ.get("FIVEWHYS_SLACK_CHANNEL")
        self.model = model
        self.threads: dict[str, Thread] = {}
        self.lock = threading.Lock()
        self.investigate = investigate or self._investigate
        self.queue = InvestigationQueue(self._run, self._resolved, workers, self._failed)

    def page(self, page: Page, delivery_id: str | None = None) -> bool:
        return self.queue.submit(page, delivery_id)

    def channel_for(self, page: Page) -> str:
        return self.routes.get(page.service or "", self.channel) or "#incidents"

    # ---- the work, in a queue worker -----------------------------------------------------------------
    def _run(self, page: Page) -> None:
        if page.labels.get("thread_ts"):       # asked in Slack: answer in that thread
            t = Thread(page.labels["channel"], page.labels["thread_ts"], page)
        else:
            top = self.slack.chat_postMessage(channel=self.channel_for(page), text=(
                f":rotating_light: {page.summary} ({page.service or 'unknown service'}) — investigating…"))
            t = Thread(top["channel"], top["ts"], page)
        with self.lock:
            self.threads[page.key] = t
        status = self.slack.chat_postMessage(channel=t.channel, thread_ts=t.ts, text="starting the investigation…")
        last = [0.0]

        def progress(line: str) -> None:
            if time.monotonic() - last[0] >= STATUS_EVERY_S:
                last[0] = time.monotonic()
                self.slack.chat_update(channel=t.channel, ts=status["ts"], text=f"investigating: {line}")
        report, ledger = self.investigate(page, progress)
        t.evidence = ledger
        self.slack.chat_update(channel=t.channel, ts=status["ts"], text=f"done: {len(ledger)} evidence items")
        full = report_markdown(report, ledger)
        self.slack.chat_postMessage(channel=t.channel, thread_ts=t.ts, text=full[:3000],
                                    blocks=report_blocks(report, ledger, page.key))
        if len(full) > 3000:      # the blocks are a summary; the whole report goes along as a file
            self.slack.files_upload_v2(channel=t.channel, thread_ts=t.ts, content=full,
                                       filename=f"fivewhys-{page.key.replace(':', '-')}.md",
                                       title="fivewhys report (full)")

    def _investigate(self, page: Page, progress: Callable[[str], None]):
        if self.snapshot is None and self.config is None:
            raise RuntimeError("no telemetry configured (use --snapshot or --config)")
        tel = open_telemetry(self.snapshot, self.config, page.service or None, page.at)
        inc = tel.incident
        if self.snapshot is not None and page.service:   # the page's service and time replace the snapshot's
            at = page.at if inc.window.start <= page.at <= inc.window.end else inc.alert.at
            tel.incident = inc.model_copy(update={"alert": Alert(at=at, service=page.service, summary=page.summary,
                                                                 labels=page.labels)})
        on_event = lambda kind, p: progress(p["call"].name) if kind == "tool_end" else None  # noqa: E731
        res = Investigation(load_model(self.model), ToolContext(tel, EvidenceLedger()), on_event=on_event).run()
        tel.close()
        return res.report, res.ledger

    def _failed(self, page: Page, e: BaseException) -> None:
        t = self.threads.get(page.key)
        if t is not None:
            self.slack.chat_postMessage(channel=t.channel, thread_ts=t.ts,
                                        text=f":warning: the investigation failed: {type(e).__name__}: {e}")

    def _resolved(self, page: Page) -> None:
        t = self.threads.get(page.key)
        if t is not None:
            self.slack.chat_postMessage(channel=t.channel, thread_ts=t.ts, text=":white_check_mark: resolved")
