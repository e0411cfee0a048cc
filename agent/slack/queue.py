"""A bounded pool of investigations with a queue: a page storm waits its turn instead of exhausting
the LLM quota or the machine; one investigation per incident; a failure stays in its own thread.

Each incident key moves queued → running → finished, and to resolved from any of them. The state lives
in memory and, when a journal path is given, in an append-only JSONL journal, so a restart neither
loses queued pages nor investigates an incident twice."""
from __future__ import annotations

import json
import logging
import queue
import threading
from collections import OrderedDict
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Callable

from agent.slack.webhooks import Page

log = logging.getLogger("fivewhys.slack")
REMEMBER = 20_000          # incident keys and delivery ids kept for dedupe (oldest forgotten first)


class InvestigationQueue:
    def __init__(self, run: Callable[[Page], None], on_resolved: Callable[[Page], None], workers: int = 2,
                 on_error: Callable[[Page, BaseException], None] | None = None, journal: Path | None = None):
        self.run, self.on_resolved, self.on_error = run, on_resolved, on_error
        self.q: queue.Queue[Page] = queue.Queue()          # unbounded: a burst is queued, never dropped
        self.state: OrderedDict[str, tuple[str, datetime]] = OrderedDict()   # key → (status, page time)
        self.deliveries: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()
        self.active = self.max_active = self.done = 0
        self.journal = journal
        if journal is not None:
            self._replay(journal)
        for _ in range(workers):
            threading.Thread(target=self._work, daemon=True).start()

    def submit(self, page: Page, delivery_id: str | None = None) -> bool:
        """True when the page starts a new investigation; repeats, re-fires and re-deliveries add nothing.
        A trigger after a resolve with a new start time is a new occurrence and is investigated."""
        with self.lock:
            if delivery_id:
                if delivery_id in self.deliveries:
                    return False
                _remember(self.deliveries, delivery_id, None)
            status, at = self.state.get(page.key, (None, None))
            if page.resolved:
                if status in (None, "resolved"):
                    return False
                self._set(page.key, "resolved", at, page)
                if status == "finished":       # queued: skipped when its turn comes; running: noted at its end
                    self.q.put(page)
                return False
            if status is not None and (status != "resolved" or at == page.at):
                return False
            self._set(page.key, "queued", page.at, page)
        self.q.put(page)
        return True

    def _work(self) -> None:
        while True:
            page = self.q.get()
            try:
                self._one(page)
            except BaseException:  # noqa: BLE001 - a worker never dies; the queue must keep moving
                log.exception("page %s: unhandled failure", page.key)
            finally:
                self.q.task_done()

    def _one(self, page: Page) -> None:
        with self.lock:
            if not page.resolved:
                if self.state.get(page.key) != ("queued", page.at):    # resolved, or superseded by a re-fire
                    log.info("page %s resolved before its investigation started: skipped", page.key)
                    return
                self._set(page.key, "running", page.at)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            (self.on_resolved if page.resolved else self.run)(page)
        except BaseException as e:  # noqa: BLE001 - one failed investigation harms no other
            log.warning("page %s failed: %s: %s", page.key, type(e).__name__, e)
            if self.on_error:
                self.on_error(page, e)
        finally:
            with self.lock:
                self.active -= 1
                self.done += 1
                resolved_meanwhile = not page.resolved and self.state.get(page.key, ("",))[0] == "resolved"
                if not page.resolved and not resolved_meanwhile:
                    self._set(page.key, "finished", page.at)
            if resolved_meanwhile:
                self.on_resolved(page)

    def _set(self, key: str, status: str, at: datetime | None, page: Page | None = None) -> None:
        _remember(self.state, key, (status, at))
        if self.journal is not None:
            with open(self.journal, "a", encoding="utf-8") as f:
                f.write(_record(key, status, at, page if status == "queued" else None))

    def _replay(self, path: Path) -> None:
        """Restore the state after a restart; pages queued or running when it stopped are queued again."""
        pages: dict[str, Page] = {}
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                rec = json.loads(line)
                at = datetime.fromisoformat(rec["at"]) if rec.get("at") else None
                if rec.get("page"):
                    pages[rec["key"]] = Page(**{**rec["page"], "at": at})
                _remember(self.state, rec["key"], (rec["status"], at))
            except (ValueError, KeyError, TypeError) as e:     # a torn last line after a crash
                log.warning("journal %s: skipped a record: %s", path, e)
        for key, (status, at) in self.state.items():
            if status in ("queued", "running") and key in pages:
                self.state[key] = ("queued", at)
                self.q.put(pages[key])
        # Compact: one line per key, so the journal stays the size of what is remembered.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(_record(k, st, at, pages.get(k) if st == "queued" else None)
                               for k, (st, at) in self.state.items()), encoding="utf-8")
        tmp.replace(path)

    def join(self) -> None:
        self.q.join()


def _record(key: str, status: str, at: datetime | None, page: Page | None) -> str:
    rec = {"key": key, "status": status, "at": at.isoformat() if at else None}
    if page is not None:
        rec["page"] = {k: v for k, v in asdict(page).items() if k != "at"}
    return json.dumps(rec, default=str) + "\n"


def _remember(d: OrderedDict, key: str, value) -> None:
    d[key] = value
    d.move_to_end(key)
    while len(d) > REMEMBER:
        d.popitem(last=False)
