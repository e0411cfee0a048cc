"""A bounded pool of investigations with a queue: a page storm waits its turn instead of exhausting
the LLM quota or the machine; one investigation per incident; a failure stays in its own thread.

Each incident key moves queued → running → finished, and to resolved from any of them. The state lives
in memory and, when a journal path is given, in an append-only JSONL journal (compacted as it grows), so
a restart neither loses queued pages nor investigates an incident twice. The owner may attach a small
JSON note to a key (the bot keeps its Slack thread there), which the journal carries across restarts.

The journal is one place: `_write` appends a record, `_replay` reads them back, `_compact` rewrites them. Its
records are a key's status (with its page while queued or running) and the owner's note, merged field by
field (`note(key, channel=…, ts=…)` the moment a top-level message exists, `report=True` once the report
is posted), so a restart knows what already exists in Slack.

A run that raises TryLater (Slack unavailable, rate limits past the client's own retries) is not finished:
the page stays queued, in memory and in the journal, and is run again after a backoff (RETRY_FIRST_S,
doubling up to RETRY_MAX_S) or after a restart."""
from __future__ import annotations

import contextlib
import heapq
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from agent.slack.webhooks import Page
from agent.state import open_private, private_dir, write_private

log = logging.getLogger("fivewhys.slack")
REMEMBER = 20_000          # incident keys and delivery ids kept for dedupe (oldest finished ones forgotten first)
ACTIVE = ("queued", "running")
RETRY_FIRST_S, RETRY_MAX_S = 5.0, 300.0     # a page whose run raised TryLater: run again after this, doubling


class TryLater(Exception):
    """Raised by a run that could not finish for a reason outside it (Slack down or rate-limiting): the page
    is kept and run again later, not counted as finished or failed."""


def run_page(page: Page, run: Callable[[Page], None],
             on_error: Callable[[Page, BaseException], None] | None) -> TryLater | None:
    """Run one page as both stores do (this file's queue and the replicas' RedisQueue): a failure is logged and
    given to on_error, not raised, so one failed investigation harms no other; a TryLater is returned for the
    store to keep the page and run it again its own way. What on_error raises goes up to the worker."""
    began = time.monotonic()
    try:
        run(page)
    except TryLater as e:
        return e
    except BaseException as e:  # noqa: BLE001 - one failed investigation harms no other
        log.warning("page %s failed: %s: %s", page.key, type(e).__name__, e)
        if on_error:
            on_error(page, e)
        return None
    if not page.resolved:
        log.info("page %s: finished in %.1f s", page.key, time.monotonic() - began)
    return None


class InvestigationQueue:
    def __init__(self, run: Callable[[Page], None], on_resolved: Callable[[Page], None], workers: int = 2,
                 on_error: Callable[[Page, BaseException], None] | None = None, journal: Path | None = None,
                 start: bool = True):
        self.run, self.on_resolved, self.on_error = run, on_resolved, on_error
        self.q: queue.Queue[Page | None] = queue.Queue()   # unbounded: a burst is queued, never dropped
        self.state: OrderedDict[str, tuple[str, datetime | None]] = OrderedDict()   # key → (status, page time)
        self.pages: dict[str, Page] = {}                   # the page of every queued or running key
        self.notes: dict[str, dict[str, Any]] = {}         # the owner's note per key
        self.resolve_after: set[tuple[str, datetime | None]] = set()   # resolved while running: note at its end
        self.deliveries: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()
        self.active = self.max_active = self.done = 0
        self.journal, self._journal_lines = journal, 0
        self.closed = threading.Event()
        self.attempts: dict[str, int] = {}                 # key → runs that raised TryLater in a row
        self.later: list[tuple[float, int, Page]] = []     # (when, seq, page): heap of pages to run again
        self.later_wake = threading.Condition(self.lock)
        if journal is not None:
            self._replay(journal)
        self.workers = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        self.retrier = threading.Thread(target=self._requeue_due, daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Start the workers (separately from __init__, so an owner can restore what it keeps per page first:
        a page replayed from the journal must find its Slack thread)."""
        for t in [*self.workers, self.retrier]:
            if not t.is_alive():
                t.start()

    def submit(self, page: Page, delivery_id: str | None = None) -> bool:
        """True when the page starts a new investigation; repeats, re-fires and re-deliveries add nothing.
        A trigger after a resolve with a new start time is a new occurrence and is investigated."""
        started, what = self._admit(page, delivery_id)
        log.info("page %s received from %s (service %s): %s", page.key, page.source, page.service or "-", what)
        return started

    def _admit(self, page: Page, delivery_id: str | None) -> tuple[bool, str]:
        with self.lock:
            if delivery_id:
                if delivery_id in self.deliveries:
                    return False, "a delivery seen before, ignored"
                _remember(self.deliveries, delivery_id, None)
            status, at = self.state.get(page.key, (None, None))
            if page.resolved:
                if status in (None, "resolved"):
                    return False, "resolved, nothing open"
                if status == "running":        # noted when its report is out
                    self.resolve_after.add((page.key, at))
                self._set(page.key, "resolved", at)
                if status == "finished":       # queued: skipped when its turn comes
                    self.q.put(page)
                return False, f"resolved while {status}"
            if status is not None and (status != "resolved" or at == page.at):
                return False, f"already {status}, not investigated again"
            self._set(page.key, "queued", page.at, page)
            waiting = self.q.qsize()
        self.q.put(page)
        return True, f"queued ({waiting} before it)"

    def note(self, key: str, **fields: Any) -> None:
        """Merge fields into the owner's note on a key, and journal them at once (the journal keeps only
        what changed; a restart merges them back)."""
        with self.lock:
            self.notes[key] = {**self.notes.get(key, {}), **fields}
            self._write({"key": key, "note": fields})

    def active_page(self, key: str) -> Page | None:
        """The page of a key while it is queued or running (its latest occurrence); None once it is not."""
        with self.lock:
            return self.pages.get(key) if self.state.get(key, ("",))[0] in ACTIVE else None

    def active_pages(self) -> list[tuple[str, Page]]:
        """The pages queued or running (after a restart: the ones replayed from the journal)."""
        with self.lock:
            return list(self.pages.items())

    def exclusive(self, key: str) -> contextlib.AbstractContextManager:
        """Held while the owner posts a key's top-level message. One process: the owner's own lock suffices;
        the store of replicas (RedisQueue) holds a lock in Redis."""
        return contextlib.nullcontext()

    def position(self, key: str) -> int | None:
        """1 for the next page to be investigated; None when the key is not queued."""
        with self.lock:
            if self.state.get(key, ("",))[0] != "queued":
                return None
            queued = [k for k, (st, _) in self.state.items() if st == "queued"]
        return queued.index(key) + 1

    def close(self, timeout_s: float = 30) -> None:
        """Stop the workers: each finishes the page in hand; pages still queued stay in the journal (and are
        investigated on the next start)."""
        self.closed.set()
        for _ in self.workers:
            self.q.put(None)          # wakes a worker waiting for a page
        with self.lock:
            self.later_wake.notify_all()
        for t in [*self.workers, self.retrier]:
            if t.is_alive():
                t.join(timeout_s)

    def _work(self) -> None:
        while True:
            page = self.q.get()
            try:
                if page is None or self.closed.is_set():
                    return
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
                self._set(page.key, "running", page.at, page)
                log.info("page %s: investigating", page.key)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        slack_down = None
        try:
            slack_down = run_page(page, self.on_resolved if page.resolved else self.run, self.on_error)
            if slack_down is not None and page.resolved:
                log.warning("page %s: resolve not noted: %s", page.key, slack_down)
        finally:
            again = slack_down is not None and not page.resolved
            with self.lock:
                self.active -= 1
                self.done += 1
                resolved_meanwhile = (page.key, page.at) in self.resolve_after
                self.resolve_after.discard((page.key, page.at))
                if not page.resolved and self.state.get(page.key) == ("running", page.at):
                    if again:                                     # kept: run again after a backoff
                        self._set(page.key, "queued", page.at, page)
                        self._run_later(page)
                    else:
                        self.attempts.pop(page.key, None)
                        self._set(page.key, "finished", page.at)  # not if resolved or re-fired meanwhile
            if resolved_meanwhile:
                self.on_resolved(page)

    def _run_later(self, page: Page) -> None:
        """Queue the page again after a backoff that doubles with each attempt (under the lock)."""
        n = self.attempts[page.key] = self.attempts.get(page.key, 0) + 1
        delay = min(RETRY_FIRST_S * 2 ** (n - 1), RETRY_MAX_S)
        log.warning("page %s: Slack is unavailable; kept, tried again in %.0f s (attempt %d)", page.key, delay, n)
        heapq.heappush(self.later, (time.monotonic() + delay, id(page), page))
        self.later_wake.notify()

    def _requeue_due(self) -> None:
        """One thread for every page waiting to be run again: each goes back to the queue when its time comes."""
        with self.lock:
            while not self.closed.is_set():
                now = time.monotonic()
                while self.later and self.later[0][0] <= now:
                    self.q.put(heapq.heappop(self.later)[2])
                self.later_wake.wait(min(self.later[0][0] - now, 60) if self.later else 60)

    def _set(self, key: str, status: str, at: datetime | None, page: Page | None = None) -> None:
        _remember(self.state, key, (status, at))
        if status in ACTIVE and page is not None:
            self.pages[key] = page
        elif status not in ACTIVE:
            self.pages.pop(key, None)
        self._write(_record(key, status, at, self.pages.get(key) if status in ACTIVE else None))

    def _write(self, rec: dict) -> None:
        """Best effort: a full disk must not cost a page; the page is kept in memory and still investigated."""
        if self.journal is None:
            return
        try:
            with open_private(self.journal) as f:      # pages are state: 0600, as transcripts are
                f.write(json.dumps(rec, default=str) + "\n")
            self._journal_lines += 1
            if self._journal_lines > 4 * max(len(self.state), 1000):
                self._compact()
        except OSError as e:
            log.error("journal %s: %s (state kept in memory only)", self.journal, e)

    def _compact(self) -> None:
        """Rewrite the journal as one line per remembered key (and its note)."""
        tmp = self.journal.with_name(self.journal.name + ".tmp")
        lines = [_record(k, st, at, self.pages.get(k) if st in ACTIVE else None) for k, (st, at) in self.state.items()]
        lines += [{"key": k, "note": n} for k, n in self.notes.items() if k in self.state]
        write_private(tmp, "".join(json.dumps(r, default=str) + "\n" for r in lines))
        tmp.replace(self.journal)
        self._journal_lines = len(lines)
        self.notes = {k: n for k, n in self.notes.items() if k in self.state}

    def _replay(self, path: Path) -> None:
        """Restore the state after a restart; pages queued or running when it stopped are queued again."""
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                rec = json.loads(line)
                if "note" in rec:
                    self.notes[rec["key"]] = {**self.notes.get(rec["key"], {}), **rec["note"]}
                    continue
                at = datetime.fromisoformat(rec["at"]) if rec.get("at") else None
                if rec.get("page"):
                    self.pages[rec["key"]] = Page(**{**rec["page"], "at": at,
                                                     "reply_to": tuple(rec["page"].get("reply_to") or ()) or None})
                _remember(self.state, rec["key"], (rec["status"], at))
            except (ValueError, KeyError, TypeError) as e:     # a torn last line after a crash
                log.warning("journal %s: skipped a record: %s", path, e)
        for key, (status, at) in self.state.items():
            if status in ACTIVE and key in self.pages:
                self.state[key] = ("queued", at)
                self.q.put(self.pages[key])
        self.pages = {k: p for k, p in self.pages.items() if self.state.get(k, ("",))[0] in ACTIVE}
        private_dir(path.parent)
        self._compact()

    def join(self) -> None:
        self.q.join()


def _record(key: str, status: str, at: datetime | None, page: Page | None) -> dict:
    rec: dict[str, Any] = {"key": key, "status": status, "at": at.isoformat() if at else None}
    if page is not None:
        rec["page"] = {k: v for k, v in asdict(page).items() if k != "at"}
    return rec


def _remember(d: OrderedDict, key: str, value) -> None:
    """Keep the newest REMEMBER entries; a key still queued or running is never forgotten (its page would be)."""
    d[key] = value
    d.move_to_end(key)
    if len(d) > REMEMBER:
        for old in [k for k, v in d.items() if not (isinstance(v, tuple) and v[0] in ACTIVE)][:len(d) - REMEMBER]:
            del d[old]
