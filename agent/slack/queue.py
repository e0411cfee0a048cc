"""A bounded pool of investigations with a queue: a page storm waits its turn instead of exhausting
the LLM quota or the machine; one investigation per incident; a failure stays in its own thread."""
from __future__ import annotations

import queue
import threading
from typing import Callable

from agent.slack.webhooks import Page


class InvestigationQueue:
    def __init__(self, run: Callable[[Page], None], on_resolved: Callable[[Page], None], workers: int = 2,
                 on_error: Callable[[Page, BaseException], None] | None = None):
        self.run, self.on_resolved, self.on_error = run, on_resolved, on_error
        self.q: queue.Queue[Page] = queue.Queue()          # unbounded: a burst is queued, never dropped
        self.seen: set[str] = set()
        self.deliveries: set[str] = set()
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.done = 0
        for _ in range(workers):
            threading.Thread(target=self._work, daemon=True).start()

    def submit(self, page: Page, delivery_id: str | None = None) -> bool:
        """True when the page starts a new investigation; repeats, re-fires and re-deliveries add nothing."""
        with self.lock:
            if delivery_id:
                if delivery_id in self.deliveries:
                    return False
                self.deliveries.add(delivery_id)
            if page.resolved:
                if page.key in self.seen:
                    self.q.put(page)
                return False
            if page.key in self.seen:
                return False
            self.seen.add(page.key)
        self.q.put(page)
        return True

    def _work(self) -> None:
        while True:
            page = self.q.get()
            with self.lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            try:
                (self.on_resolved if page.resolved else self.run)(page)
            except BaseException as e:  # noqa: BLE001 - one failed investigation harms no other
                if self.on_error:
                    self.on_error(page, e)
            finally:
                with self.lock:
                    self.active -= 1
                    self.done += 1
                self.q.task_done()

    def join(self) -> None:
        self.q.join()
