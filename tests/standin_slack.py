"""A stand-in for the Slack Web API on loopback, and bolt's listener pool as the tests make it."""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class Server(ThreadingHTTPServer):
    request_queue_size = 128    # a burst connects at once; past the default backlog of 5 a connect waits 1 s to retry
    daemon_threads = True


class StandInSlack:
    """Records chat.postMessage / chat.update like the Slack Web API and answers in its shape; reads messages
    back (conversations.history / conversations.replies, with their metadata when asked). Faults as
    Slack has them, each for a test or the benchmark to turn on:

    - outage(seconds, status): every call answered 500 (or 503) for a while;
    - rate_limit(calls, retry_after): the next calls answered 429 with Retry-After;
    - per_channel(interval_s): Slack's pace, one chat.postMessage a second per channel (429 past it);
    - hang(method, seconds, times): the next calls of a method answered only after a delay, not acted on (a
      client that gives up first has posted nothing);
    - tokens: when set, auth.test (and every call) with another token is `invalid_auth`.
    Calls refused by a fault are counted in `refused`, not recorded in `calls`."""

    def __init__(self):
        self.calls, self.lock, n = [], threading.Lock(), [0]
        self.epoch = 1772816000                    # message times: this many seconds, plus one per call (2026-03-06 16:53)
        self.extra: dict = {}                      # method → extra fields of its answer
        self.missing_channels: set = set()         # posting there fails like Slack does (channel_not_found)
        self.tokens: set | None = None
        self.refused: list = []                    # (method, status) of calls a fault answered
        self._down_until, self._down_status, self._limited = 0.0, 500, [0, 1]
        self._pace, self._last_post, self._hangs = 0.0, {}, {}
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                body = json.loads(raw) if raw.startswith("{") else {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                if method != "upload" and outer._fault(self, method, body):
                    return
                if method.startswith("conversations."):
                    return self.answer(200, outer.read(method, body))
                with outer.lock:
                    n[0] += 1
                    ts = body.get("ts") or f"{outer.epoch + n[0]}.000100"
                    if method == "chat.postMessage":     # recorded as Slack keeps it: with its ts
                        body = {**body, "ts": ts}
                    outer.calls.append((method, body if method != "upload" else {"bytes": raw}))
                reply = {"ok": True, "channel": body.get("channel", "C1"), "ts": ts}
                if body.get("channel") in outer.missing_channels:
                    reply = {"ok": False, "error": "channel_not_found"}
                if method == "files.getUploadURLExternal":
                    reply.update(upload_url=f"{outer.url}upload", file_id="F0001")
                elif method == "files.completeUploadExternal":
                    reply.update(files=[{"id": "F0001", "title": "report"}])
                reply.update(outer.extra.get(method, {}))
                self.answer(200, reply)

            def log_message(self, *a):
                pass

            def answer(self, status: int, reply: dict, headers: dict | None = None) -> None:
                out = json.dumps(reply).encode()
                self.send_response(status)
                for k, v in {"content-type": "application/json", "content-length": str(len(out)),
                             **(headers or {})}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)
        self.server = Server(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def outage(self, seconds: float, status: int = 500) -> None:
        self._down_until, self._down_status = time.monotonic() + seconds, status

    def rate_limit(self, calls: int, retry_after: int = 1) -> None:
        self._limited = [calls, retry_after]

    def per_channel(self, interval_s: float = 1.0) -> None:
        self._pace = interval_s

    def hang(self, method: str, seconds: float, times: int = 1) -> None:
        self._hangs[method] = [times, seconds]

    def _fault(self, h, method: str, body: dict) -> bool:
        """Answer the call as a fault would, or return False to answer it normally."""
        token = (h.headers.get("authorization") or "").removeprefix("Bearer ")
        with self.lock:
            hang = self._hangs.get(method)
            if hang and hang[0] > 0:
                hang[0] -= 1
                delay = hang[1]
            else:
                delay = 0
            fault = None
            if self.tokens is not None and token not in self.tokens:
                fault = (200, {"ok": False, "error": "invalid_auth"}, {})
            elif time.monotonic() < self._down_until:
                fault = (self._down_status, {"ok": False, "error": "internal_error"}, {})
            elif self._limited[0] > 0:
                self._limited[0] -= 1
                fault = (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self._limited[1])})
            elif self._pace and method == "chat.postMessage" and not delay:
                ch, now = body.get("channel"), time.monotonic()
                if now - self._last_post.get(ch, -1e9) < self._pace:
                    fault = (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
                else:
                    self._last_post[ch] = now
            if fault or delay:
                self.refused.append((method, fault[0] if fault else "hang"))
        if delay:
            time.sleep(delay)
            fault = fault or (200, {"ok": False, "error": "request_timeout"}, {})
        if fault:
            try:
                h.answer(*fault)
            except OSError:
                pass                  # the client gave up waiting
            return True
        return False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def of(self, method):
        return [b for m, b in self.calls if m == method]

    def read(self, method: str, q: dict) -> dict:
        """conversations.history (top-level messages after `oldest`) and conversations.replies (a thread), newest
        first as Slack gives them, all on one page."""
        def shown(b):
            meta = b.get("metadata")
            meta = json.loads(meta) if isinstance(meta, str) else meta
            return {"ts": b["ts"], "text": b.get("text", ""), **({"thread_ts": b["thread_ts"]} if b.get("thread_ts") else {}),
                    **({"metadata": meta} if meta and q.get("include_all_metadata") in ("1", "true") else {})}
        with self.lock:
            self.calls.append((method, q))
            posts = [b for b in self.of("chat.postMessage") if b.get("channel") == q.get("channel")]
        if method == "conversations.history":
            rows = [b for b in posts if not b.get("thread_ts") and float(b["ts"]) > float(q.get("oldest") or 0)]
        elif method == "conversations.replies":
            rows = [b for b in posts if q.get("ts") in (b["ts"], b.get("thread_ts"))]
        else:
            return {"ok": False, "error": "unknown_method"}
        return {"ok": True, "channel": q.get("channel"), "messages": [shown(b) for b in reversed(rows)],
                "has_more": False, "response_metadata": {"next_cursor": ""}}


class ListenerPool(ThreadPoolExecutor):
    """bolt's pool for listeners, made here: bolt acks Slack first and runs the listener afterwards, so a test
    waits for these futures before it counts what a listener did, and shuts the pool down when it ends."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.futures = []

    def submit(self, fn, /, *args, **kwargs):
        f = super().submit(fn, *args, **kwargs)
        self.futures.append(f)
        return f

    def settle(self, timeout_s: float = 60) -> None:
        running = wait(self.futures, timeout=timeout_s).not_done
        assert not running, f"{len(running)} bolt listeners still running after {timeout_s:.0f} s"
