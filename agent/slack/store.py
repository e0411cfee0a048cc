"""Where the page queue keeps its state: a journal file for one process (the default), or a shared Redis for
replicas behind a load balancer.

`open_queue` picks one. Both are the same small interface, the one the bot uses: `submit(page, delivery_id)`
(True when the page starts a new investigation), `note(key, **fields)` (merged field by field) and
`notes.get(key)` (the bot's Slack thread of an incident: its top-level ts, whether the report is posted),
`position(key)`, `active_page(key)`, `active_pages()`, `exclusive(key)` (held while a top-level message is
posted), `start()` (workers start after the bot restored its threads), `close()` and `join()`. A run that
raises TryLater (Slack unavailable) is kept and run again after a backoff by both. The file store is
`InvestigationQueue` with its journal.

The Redis store (`RedisQueue`) makes every transition one Lua script, so replicas agree without locks of their
own: a page is admitted once (delivery ids and incident keys are checked and set in the same step), claimed
by one worker of one replica with a lease (a visibility timeout) that the replica renews while the work
runs, and finished only by the holder. A replica that dies stops renewing; when its lease runs out the next
claim, on any replica, puts the page back at the head of the queue. A run that raises TryLater gives its
page back as queued with a visible-after time (the sorted set `later`, RETRY_FIRST_S doubling up to
RETRY_MAX_S): the first claim after that time, on any replica, runs it again. Slack's request ids are
remembered with SET NX and a TTL (`once`), so a replay reaching another replica is caught. Times are Redis's own (TIME), so the
replicas' clocks do not matter. Delivery ids expire after DEDUPE_S, finished incidents after KEEP_S.
Standalone Redis (or Sentinel); not Redis Cluster, whose scripts may only touch keys named in advance."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from agent.slack import queue as file_queue
from agent.slack.queue import InvestigationQueue, TryLater, run_page
from agent.slack.store_lua import ADMIT, CLAIM, FINISH, POSITION, RENEW, RETRY
from agent.slack.webhooks import Page

log = logging.getLogger("fivewhys.slack")
LEASE_S = 30.0            # a claimed page returns to the queue this long after its replica last renewed it
DEDUPE_S = 24 * 3600      # delivery ids (PagerDuty X-Webhook-Id, Slack's ids) are remembered this long
KEEP_S = 7 * 24 * 3600    # finished and resolved incidents (and their Slack thread) are remembered this long
POLL_S = 0.1              # an idle worker asks for a page this often
TOP_LOCK_S, TOP_WAIT_S = 120.0, 60.0   # a top-level message's lock: held at most, waited for at most


class ServeSettings(BaseModel):
    """`[serve]` in the config file (FIVEWHYS_STORE, when set, replaces `store`)."""
    model_config = ConfigDict(extra="forbid")
    store: str | None = Field(None, description="redis://HOST:PORT/DB shared by replicas; unset: a journal file, one process")
    lease_s: float = Field(LEASE_S, ge=2, le=3600, description="seconds before a stopped replica's page is taken over")


class StoreError(RuntimeError):
    """The shared store cannot be reached or used: the page is not accepted (503), so its sender retries."""


def open_queue(store: str | None, run: Callable[[Page], None], on_resolved: Callable[[Page], None], workers: int,
               on_error: Callable[[Page, BaseException], None] | None, journal: Path | None,
               lease_s: float = LEASE_S, start: bool = True):
    """The queue for `store`: None or "" for the journal file (one process), `redis://…` or `rediss://…` (or
    `unix://…`) for a Redis shared by replicas."""
    if not store:
        return InvestigationQueue(run, on_resolved, workers, on_error, journal, start=start)
    if urlsplit(store).scheme not in ("redis", "rediss", "unix"):
        raise StoreError(f"store {shown(store)}: a redis://, rediss:// or unix:// URL, or nothing for the journal file")
    return RedisQueue(store, run, on_resolved, workers, on_error, lease_s=lease_s, start=start)


def ping(url: str, timeout_s: float = 5) -> str:
    """The store's version, or StoreError saying why it cannot be used (`fivewhys doctor`)."""
    import redis
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise StoreError(f"store {shown(url)}: a redis://, rediss:// or unix:// URL, or nothing for the journal file")
    r = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return f"Redis {r.info('server').get('redis_version', '?')}"
    except (redis.RedisError, OSError) as e:
        raise StoreError(f"cannot reach the store {shown(url)}: {e}") from None
    finally:
        r.close()


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    u = urlsplit(url)
    if u.password is None:
        return url
    host = u.hostname or ""
    netloc = f"{u.username or ''}:***@{host}" + (f":{u.port}" if u.port else "")
    return urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


def page_json(page: Page) -> str:
    return json.dumps({**dataclasses.asdict(page), "at": page.at.isoformat()}, default=str)


def page_of(raw: str | bytes) -> Page:
    d = json.loads(raw)
    return Page(**{**d, "at": datetime.fromisoformat(d["at"]), "reply_to": tuple(d.get("reply_to") or ()) or None})


class RemoteNotes:
    """The bot's notes (its Slack thread per incident) in Redis, the hash P..'note:'..key of JSON values. Nothing
    is loaded at start: a replica reads the note of an incident when it needs it (a page taken over, a resolve,
    a vote)."""

    def __init__(self, owner: "RedisQueue"):
        self.owner = owner

    def items(self):
        return ()

    def get(self, key: str, default=None):
        try:
            raw = self.owner.r.hgetall(self.owner.prefix + "note:" + key)
        except Exception as e:  # noqa: BLE001 - redis.RedisError and socket errors: a missing note, logged
            log.error("store: cannot read the note of %s: %s", key, e)
            return default
        return {k.decode(): json.loads(v) for k, v in raw.items()} if raw else default


class _StoreLock:
    """RedisQueue.exclusive: redis-py's lock (a token under SET NX PX, released only by its holder), expiring
    by itself if its replica stops. Not had in time, or the store unreachable: TryLater."""

    def __init__(self, owner: "RedisQueue", key: str):
        self.key = key
        self.lock = owner.r.lock(owner.prefix + "top:" + key, timeout=TOP_LOCK_S, blocking_timeout=TOP_WAIT_S,
                                 thread_local=False)

    def __enter__(self) -> None:
        try:
            got = self.lock.acquire()
        except Exception as e:  # noqa: BLE001 - redis.RedisError and socket errors alike
            raise TryLater(f"the store's lock on the top-level message of {self.key}: {e}") from e
        if not got:
            raise TryLater(f"another replica is still posting the top-level message of {self.key}")

    def __exit__(self, *exc: Any) -> None:
        try:
            self.lock.release()
        except Exception as e:  # noqa: BLE001 - expired meanwhile, or the store went away: it expires alone
            log.warning("store: the lock on the top-level message of %s: %s", self.key, e)


class RedisQueue:
    """InvestigationQueue's interface over a Redis shared by replicas (see the module's docstring)."""

    def __init__(self, url: str, run: Callable[[Page], None], on_resolved: Callable[[Page], None], workers: int = 2,
                 on_error: Callable[[Page, BaseException], None] | None = None, *, lease_s: float = LEASE_S,
                 prefix: str = "fivewhys:", start: bool = True):
        import redis
        self.run, self.on_resolved, self.on_error = run, on_resolved, on_error
        self.url, self.prefix, self.lease_ms = url, prefix, int(lease_s * 1000)
        self.r = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
        try:
            self.r.ping()
        except (redis.RedisError, OSError) as e:
            raise StoreError(f"cannot reach the store {shown(url)}: {e}") from None
        self.scripts = {name: self.r.register_script(src) for name, src in
                        (("admit", ADMIT), ("claim", CLAIM), ("renew", RENEW), ("finish", FINISH),
                         ("retry", RETRY), ("position", POSITION))}
        self.replica = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.notes = RemoteNotes(self)
        self.in_hand: dict[str, tuple[str, str]] = {}        # key → (page time, holder) of the pages running here
        self.lock = threading.Lock()
        self.active = self.max_active = self.done = 0
        self.closed = threading.Event()
        self.workers = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(workers)]
        self.keeper = threading.Thread(target=self._renew, daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Start claiming pages (the bot calls it once it is ready to run them)."""
        for t in [*self.workers, self.keeper]:
            if not t.is_alive():
                t.start()

    def _call(self, name: str, *args: Any):
        return self.scripts[name](args=[self.prefix, *args])

    def submit(self, page: Page, delivery_id: str | None = None) -> bool:
        """True when the page starts a new investigation, on whichever replica a worker claims it."""
        import redis
        try:
            started, what = self._call("admit", page.key, page.at.isoformat(), page_json(page),
                                       "1" if page.resolved else "", delivery_id or "", DEDUPE_S, KEEP_S)
        except (redis.RedisError, OSError) as e:
            log.error("page %s: the store %s cannot take it: %s", page.key, shown(self.url), e)
            raise StoreError(f"store unavailable: {e}") from None
        what = what.decode() if isinstance(what, bytes) else what
        log.info("page %s received from %s (service %s): %s", page.key, page.source, page.service or "-", what)
        return bool(started)

    def note(self, key: str, **fields: Any) -> None:
        """Merge fields into the owner's note on a key; best effort, as the journal's is."""
        try:
            pipe = self.r.pipeline()
            pipe.hset(self.prefix + "note:" + key, mapping={k: json.dumps(v, default=str) for k, v in fields.items()})
            pipe.expire(self.prefix + "note:" + key, KEEP_S)
            pipe.execute()
        except Exception as e:  # noqa: BLE001 - a store that is down must not fail the investigation
            log.error("store: cannot keep the note of %s: %s", key, e)

    def position(self, key: str) -> int | None:
        """1 for the next page any replica claims; None when the key is not waiting in the queue."""
        try:
            return self._call("position", key)
        except Exception as e:  # noqa: BLE001 - only the top-level message's wording depends on it
            log.warning("store: no queue position for %s: %s", key, e)
            return None

    def active_page(self, key: str) -> Page | None:
        """The page of a key while it is queued or running on any replica."""
        try:
            status, raw = self.r.hmget(self.prefix + "page:" + key, "status", "page")
        except Exception as e:  # noqa: BLE001 - the worker that claims it posts what is due
            log.warning("store: cannot read the page %s: %s", key, e)
            return None
        return page_of(raw) if raw and status in (b"queued", b"running") else None

    def active_pages(self) -> list[tuple[str, Page]]:
        """None to announce at start: a page queued in the store gets its top-level message from the replica
        that received it, or else from the worker that claims it."""
        return []

    def exclusive(self, key: str):
        """A lock in Redis around a page's top-level message, so two replicas (the poster of the one that took the
        page and a worker of the other) post it once. Not had within TOP_WAIT_S: TryLater (tried again later)."""
        return _StoreLock(self, key)

    def once(self, key: str, ttl_s: float) -> bool | None:
        """True the first time any replica asks about this key within ttl_s; None when the store cannot say."""
        try:
            return bool(self.r.set(self.prefix + "seen:" + key, 1, nx=True, ex=max(1, int(ttl_s))))
        except Exception as e:  # noqa: BLE001 - the caller remembers it in memory instead
            log.warning("store: cannot check the Slack request %s: %s", key, e)
            return None

    def close(self, timeout_s: float = 30) -> None:
        """Stop claiming; each worker finishes the page in hand. Queued pages stay in Redis for the others."""
        self.closed.set()
        for t in [*self.workers, self.keeper]:
            if t.is_alive():
                t.join(timeout_s)
        self.r.close()

    def join(self, timeout_s: float = 600) -> None:
        """Wait until no page is queued or running on any replica (tests and benchmarks)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not (self.r.llen(self.prefix + "queue") or self.r.zcard(self.prefix + "leases")
                    or self.r.zcard(self.prefix + "later") or self.active):
                return
            time.sleep(POLL_S)

    def _work(self, n: int) -> None:
        holder = f"{self.replica}/{n}"
        while not self.closed.is_set():
            try:
                got = self._call("claim", holder, self.lease_ms, KEEP_S)
            except Exception as e:  # noqa: BLE001 - the store is down: wait and ask again, never die
                log.error("store %s: cannot claim a page: %s", shown(self.url), e)
                self.closed.wait(1.0)
                continue
            if not got:
                self.closed.wait(POLL_S)
                continue
            raw, attempt = got
            page = page_of(raw)
            try:
                if page.resolved:
                    self.on_resolved(page)
                else:
                    self._one(dataclasses.replace(page, attempt=int(attempt)), holder)
            except BaseException:  # noqa: BLE001 - a worker never dies; the queue must keep moving
                log.exception("page %s: unhandled failure", page.key)

    def _one(self, page: Page, holder: str) -> None:
        at = page.at.isoformat()
        with self.lock:
            self.in_hand[page.key] = (at, holder)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        log.info("page %s: investigating%s", page.key, f" (attempt {page.attempt})" if page.attempt > 1 else "")
        slack_down = None
        try:
            slack_down = run_page(page, self.run, self.on_error)
            if slack_down is not None:
                log.warning("page %s: not finished, Slack is unavailable: %s", page.key, slack_down)
        finally:
            with self.lock:
                self.in_hand.pop(page.key, None)
            kept = slack_down is not None and self._retry(page.key, at, holder)
            notify = False if kept else self._finish(page.key, at, holder)
            with self.lock:
                self.active -= 1
                self.done += 1
            if notify:
                self.on_resolved(page)

    def _retry(self, key: str, at: str, holder: str) -> bool:
        """Give the page back as queued, visible again after a backoff that doubles with each retry; True when
        it is kept (requeued, or left to its lease when the store cannot be reached: another claim takes it
        over), False when it is to be finished (resolved or re-fired meanwhile)."""
        first_ms, max_ms = int(file_queue.RETRY_FIRST_S * 1000), int(file_queue.RETRY_MAX_S * 1000)
        for wait in (0.5, 1, 2, None):
            try:
                got = self._call("retry", key, at, holder, first_ms, max_ms)
            except Exception as e:  # noqa: BLE001
                log.error("store %s: cannot keep %s for a retry: %s", shown(self.url), key, e)
                if wait is None:
                    return True       # not renewed any more: its lease runs out and a claim takes it over
                time.sleep(wait)
                continue
            if not got:
                return False
            log.warning("page %s: kept in the store, tried again in %.0f s by any replica (retry %d)", key,
                        got[1] / 1000, got[0])
            return True
        return True

    def _finish(self, key: str, at: str, holder: str) -> bool:
        for wait in (0.5, 1, 2, 4, None):     # the store down for a moment must not re-run a finished page
            try:
                return bool(self._call("finish", key, at, holder, KEEP_S))
            except Exception as e:  # noqa: BLE001
                log.error("store %s: cannot mark %s finished: %s", shown(self.url), key, e)
                if wait is None:
                    return False
                time.sleep(wait)
        return False

    def _renew(self) -> None:
        """Renew the leases of the pages running here, three times per lease."""
        while not self.closed.wait(self.lease_ms / 3000):
            with self.lock:
                held = list(self.in_hand.items())
            for key, (_, holder) in held:
                try:
                    if self._call("renew", holder, self.lease_ms, key):
                        log.warning("page %s: its lease ran out and another replica took it over", key)
                except Exception as e:  # noqa: BLE001
                    log.error("store %s: cannot renew the lease of %s: %s", shown(self.url), key, e)
