"""Where the page queue keeps its state: a journal file for one process (the default), or a shared Redis for
replicas behind a load balancer.

`open_queue` picks one. Both are the same small interface, the one the bot uses: `submit(page, delivery_id)`
(True when the page starts a new investigation), `note(key, note)` and `notes.get(key)` (the bot's Slack thread
of an incident), `close()` and `join()`. The file store is `InvestigationQueue` with its journal, as it was.

The Redis store (`RedisQueue`) makes every transition one Lua script, so replicas agree without locks of their
own: a page is admitted once (delivery ids and incident keys are checked and set in the same step), claimed
by one worker of one replica with a lease (a visibility timeout) that the replica renews while the work
runs, and finished only by the holder. A replica that dies stops renewing; when its lease runs out the next
claim, on any replica, puts the page back at the head of the queue. Times are Redis's own (TIME), so the
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

from agent.slack.queue import InvestigationQueue
from agent.slack.webhooks import Page

log = logging.getLogger("fivewhys.slack")
LEASE_S = 30.0            # a claimed page returns to the queue this long after its replica last renewed it
DEDUPE_S = 24 * 3600      # delivery ids (PagerDuty X-Webhook-Id, Slack's ids) are remembered this long
KEEP_S = 7 * 24 * 3600    # finished and resolved incidents (and their Slack thread) are remembered this long
POLL_S = 0.1              # an idle worker asks for a page this often


class ServeSettings(BaseModel):
    """`[serve]` in the config file (FIVEWHYS_STORE, when set, replaces `store`)."""
    model_config = ConfigDict(extra="forbid")
    store: str | None = Field(None, description="redis://HOST:PORT/DB shared by replicas; unset: a journal file, one process")
    lease_s: float = Field(LEASE_S, ge=2, le=3600, description="seconds before a stopped replica's page is taken over")


class StoreError(RuntimeError):
    """The shared store cannot be reached or used: the page is not accepted (503), so its sender retries."""


def open_queue(store: str | None, run: Callable[[Page], None], on_resolved: Callable[[Page], None], workers: int,
               on_error: Callable[[Page, BaseException], None] | None, journal: Path | None,
               lease_s: float = LEASE_S):
    """The queue for `store`: None or "" for the journal file (one process), `redis://…` or `rediss://…` (or
    `unix://…`) for a Redis shared by replicas."""
    if not store:
        return InvestigationQueue(run, on_resolved, workers, on_error, journal)
    if urlsplit(store).scheme not in ("redis", "rediss", "unix"):
        raise StoreError(f"store {shown(store)}: a redis://, rediss:// or unix:// URL, or nothing for the journal file")
    return RedisQueue(store, run, on_resolved, workers, on_error, lease_s=lease_s)


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


# ---- the transitions, each atomic in Redis ------------------------------------------------------------------
# A page's record is the hash P..'page:'..key: status (queued | running | finished | resolved), at (the
# occurrence), page (its JSON while active), holder (the replica's worker that runs it), attempts, and
# resolve_after/resolve_page (resolved while running: noted when the run ends). The queue is the list
# P..'queue' of page JSONs; leases are the sorted set P..'leases' of key → deadline (ms, Redis time).
_NOW = """local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

ADMIT = """local P, key, at, page = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local resolved, did = ARGV[5] == '1', ARGV[6]
if did ~= '' and not redis.call('SET', P .. 'delivery:' .. did, '1', 'NX', 'EX', tonumber(ARGV[7])) then
  return {0, 'a delivery seen before, ignored'}
end
local h = P .. 'page:' .. key
local status, was = redis.call('HGET', h, 'status'), redis.call('HGET', h, 'at')
if resolved then
  if (not status) or status == 'resolved' then return {0, 'resolved, nothing open'} end
  redis.call('HSET', h, 'status', 'resolved')
  redis.call('HDEL', h, 'page')
  if status == 'running' then
    redis.call('HSET', h, 'resolve_after', was, 'resolve_page', page)
  else
    redis.call('EXPIRE', h, tonumber(ARGV[8]))
  end
  if status == 'finished' then redis.call('RPUSH', P .. 'queue', page) end
  return {0, 'resolved while ' .. status}
end
if status and (status ~= 'resolved' or was == at) then
  return {0, 'already ' .. status .. ', not investigated again'}
end
local waiting = redis.call('LLEN', P .. 'queue')
redis.call('HSET', h, 'status', 'queued', 'at', at, 'page', page, 'attempts', 0)
redis.call('PERSIST', h)
redis.call('RPUSH', P .. 'queue', page)
return {1, 'queued (' .. waiting .. ' before it)'}
"""

CLAIM = _NOW + """local P, holder, lease_ms, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local q, leases = P .. 'queue', P .. 'leases'
for _, key in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', leases, key)           -- its replica stopped renewing: back to the head of the queue
  local h = P .. 'page:' .. key
  local status = redis.call('HGET', h, 'status')
  redis.call('HDEL', h, 'holder')
  if status == 'running' then
    redis.call('HSET', h, 'status', 'queued')
    redis.call('LPUSH', q, redis.call('HGET', h, 'page'))
  elseif status == 'resolved' and redis.call('HGET', h, 'resolve_after') then
    redis.call('LPUSH', q, redis.call('HGET', h, 'resolve_page'))
    redis.call('HDEL', h, 'resolve_after', 'resolve_page')
    redis.call('EXPIRE', h, keep)
  end
end
while true do
  local item = redis.call('LPOP', q)
  if not item then return false end
  local e = cjson.decode(item)
  if e.resolved then return {item, 0} end     -- a resolve to note in a finished incident's thread
  local h = P .. 'page:' .. e.key
  if redis.call('HGET', h, 'status') == 'queued' and redis.call('HGET', h, 'at') == e.at then
    local n = redis.call('HINCRBY', h, 'attempts', 1)
    redis.call('HSET', h, 'status', 'running', 'holder', holder)
    redis.call('ZADD', leases, now + lease_ms, e.key)
    return {item, n}
  end                                        -- resolved before its turn, or superseded by a re-fire: skipped
end
"""

RENEW = _NOW + """local P, holder, lease_ms, lost = ARGV[1], ARGV[2], tonumber(ARGV[3]), 0
for i = 4, #ARGV do
  if redis.call('HGET', P .. 'page:' .. ARGV[i], 'holder') == holder then
    redis.call('ZADD', P .. 'leases', 'XX', now + lease_ms, ARGV[i])
  else
    lost = lost + 1
  end
end
return lost
"""

FINISH = """local P, key, at, holder, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local h = P .. 'page:' .. key
local notify = 0
if redis.call('HGET', h, 'holder') == holder then
  redis.call('ZREM', P .. 'leases', key)
  redis.call('HDEL', h, 'holder')
  if redis.call('HGET', h, 'resolve_after') == at then
    redis.call('HDEL', h, 'resolve_after', 'resolve_page')
    notify = 1
  end
  if redis.call('HGET', h, 'status') == 'running' and redis.call('HGET', h, 'at') == at then
    redis.call('HSET', h, 'status', 'finished')
    redis.call('HDEL', h, 'page')
  end
end
local status = redis.call('HGET', h, 'status')
if status == 'finished' or status == 'resolved' then
  redis.call('EXPIRE', h, keep)
  redis.call('EXPIRE', P .. 'note:' .. key, keep)
end
return notify
"""


class RemoteNotes:
    """The bot's notes (its Slack thread per incident) in Redis. Nothing is loaded at start: a replica reads
    the note of an incident when it needs it (a page taken over, a resolve, a vote)."""

    def __init__(self, owner: "RedisQueue"):
        self.owner = owner

    def items(self):
        return ()

    def get(self, key: str, default=None):
        try:
            raw = self.owner.r.get(self.owner.prefix + "note:" + key)
        except Exception as e:  # noqa: BLE001 - redis.RedisError and socket errors: a missing note, logged
            log.error("store: cannot read the note of %s: %s", key, e)
            return default
        return json.loads(raw) if raw else default


class RedisQueue:
    """InvestigationQueue's interface over a Redis shared by replicas (see the module's docstring)."""

    def __init__(self, url: str, run: Callable[[Page], None], on_resolved: Callable[[Page], None], workers: int = 2,
                 on_error: Callable[[Page, BaseException], None] | None = None, *, lease_s: float = LEASE_S,
                 prefix: str = "fivewhys:"):
        import redis
        self.run, self.on_resolved, self.on_error = run, on_resolved, on_error
        self.url, self.prefix, self.lease_ms = url, prefix, int(lease_s * 1000)
        self.r = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
        try:
            self.r.ping()
        except (redis.RedisError, OSError) as e:
            raise StoreError(f"cannot reach the store {shown(url)}: {e}") from None
        self.scripts = {name: self.r.register_script(src) for name, src in
                        (("admit", ADMIT), ("claim", CLAIM), ("renew", RENEW), ("finish", FINISH))}
        self.replica = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.notes = RemoteNotes(self)
        self.in_hand: dict[str, tuple[str, str]] = {}        # key → (page time, holder) of the pages running here
        self.lock = threading.Lock()
        self.active = self.max_active = self.done = 0
        self.closed = threading.Event()
        self.workers = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(workers)]
        self.keeper = threading.Thread(target=self._renew, daemon=True)
        for t in [*self.workers, self.keeper]:
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

    def note(self, key: str, note: dict[str, Any]) -> None:
        """Attach the owner's note to a key; best effort, as the journal's is."""
        try:
            self.r.set(self.prefix + "note:" + key, json.dumps(note, default=str), ex=KEEP_S)
        except Exception as e:  # noqa: BLE001 - a store that is down must not fail the investigation
            log.error("store: cannot keep the note of %s: %s", key, e)

    def close(self, timeout_s: float = 30) -> None:
        """Stop claiming; each worker finishes the page in hand. Queued pages stay in Redis for the others."""
        self.closed.set()
        for t in [*self.workers, self.keeper]:
            t.join(timeout_s)
        self.r.close()

    def join(self, timeout_s: float = 600) -> None:
        """Wait until no page is queued or running on any replica (tests and benchmarks)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.r.llen(self.prefix + "queue") and not self.r.zcard(self.prefix + "leases") and not self.active:
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
        taken = f" (attempt {page.attempt}: its replica stopped)" if page.attempt > 1 else ""
        log.info("page %s: investigating%s", page.key, taken)
        began = time.monotonic()
        try:
            self.run(page)
            log.info("page %s: finished in %.1f s", page.key, time.monotonic() - began)
        except BaseException as e:  # noqa: BLE001 - one failed investigation harms no other
            log.warning("page %s failed: %s: %s", page.key, type(e).__name__, e)
            if self.on_error:
                self.on_error(page, e)
        finally:
            with self.lock:
                self.in_hand.pop(page.key, None)
            notify = self._finish(page.key, at, holder)
            with self.lock:
                self.active -= 1
                self.done += 1
            if notify:
                self.on_resolved(page)

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
