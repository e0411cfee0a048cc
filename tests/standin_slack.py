"""A stand-in for the Slack Web API on loopback, and bolt's listener pool as the tests make it."""
import json
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class Server(ThreadingHTTPServer):
    request_queue_size = 128    # a burst connects at once; past the default backlog of 5 a connect waits 1 s to retry
    daemon_threads = True


class StandInSlack:
    """Records chat.postMessage / chat.update like the Slack Web API and answers in its shape; reads messages
    back (conversations.history / conversations.replies, with their metadata when asked)."""

    def __init__(self):
        self.calls, self.lock, n = [], threading.Lock(), [0]
        self.extra: dict = {}                      # method → extra fields of its answer
        self.missing_channels: set = set()         # posting there fails like Slack does (channel_not_found)
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                body = json.loads(raw) if raw.startswith("{") else {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                if method.startswith("conversations."):
                    return self.answer(outer.read(method, body))
                with outer.lock:
                    n[0] += 1
                    ts = body.get("ts") or f"1772816{n[0]:03d}.000100"
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
                self.answer(reply)

            def answer(self, reply):
                out = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass
        self.server = Server(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"

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
