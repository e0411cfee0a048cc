"""`fivewhys serve` against hostile HTTP clients, over loopback sockets: lengths that lie, bodies nested
too deeply, and clients that send their headers slowly or hold connections open."""
import hashlib
import hmac
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import pytest
from slack_sdk import WebClient

from agent.slack.server import make_server


def start(bot):
    srv = make_server(bot, "127.0.0.1", 0)
    loop = threading.Thread(target=srv.serve_forever, daemon=True)
    loop.start()
    return srv, loop


def stop(srv, loop):
    srv.shutdown()
    srv.server_close()
    loop.join(10)


@pytest.fixture
def server(monkeypatch):
    """A page server whose bot only records pages; shut down, with its threads, after the test."""
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "pd-secret")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    monkeypatch.delenv("FIVEWHYS_ALERTMANAGER_TOKEN", raising=False)
    monkeypatch.setenv("FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED", "1")
    pages = []
    srv, loop = start(SimpleNamespace(page=lambda page, delivery=None: pages.append(page) or True,
                                      slack=WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/")))
    srv.pages = pages
    yield srv
    stop(srv, loop)


def url(srv, path=""):
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def raw_request(srv, head: bytes, body: bytes = b"", timeout: float = 10) -> bytes:
    """Send a request as written, keep the connection open for writing, and return the server's answer."""
    with socket.create_connection(srv.server_address, timeout=timeout) as s:
        s.sendall(head + body)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            pass                              # no answer: the server is still waiting for a body
        return out


def post_head(length_headers: str, path: str = "/webhooks/alertmanager") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"{length_headers}\r\n").encode()


@pytest.mark.parametrize("headers, status", [
    ("Content-Length: -1\r\n", 400),
    ("Content-Length: -1048577\r\n", 400),
    ("Content-Length: 1e3\r\n", 400),
    ("Content-Length: 10\r\nContent-Length: 20\r\n", 400),
    ("Content-Length: " + "9" * 5000 + "\r\n", 413),
    ("", 411),
    ("Transfer-Encoding: chunked\r\n", 411),
], ids=["negative", "very-negative", "not-a-number", "two-lengths", "5000-digits", "missing", "chunked"])
def test_a_negative_missing_or_ambiguous_length_is_refused_without_reading_the_body(server, headers, status):
    answer = raw_request(server, post_head(headers), b'{"version": "4", "alerts": []}', timeout=5)
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1:2] == [str(status).encode()], answer[:200]
    assert server.pages == []


def test_a_body_shorter_than_its_length_is_refused(server):
    with socket.create_connection(server.server_address, timeout=10) as s:
        s.sendall(post_head("Content-Length: 100\r\n") + b'{"version": "4"}')
        s.shutdown(socket.SHUT_WR)                   # the client stops sending: 16 bytes of 100
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.0 400 ") and b"shorter" in answer


def sign(body: bytes, secret: str) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("path, body, headers", [
    ("/webhooks/alertmanager", DEEP, {}),
    ("/webhooks/alertmanager", b'{"version": "4", "alerts": ' + DEEP + b"}", {}),
    ("/webhooks/pagerduty", DEEP, {"X-PagerDuty-Signature": sign(DEEP, "pd-secret")}),
    ("/slack/events", DEEP, {"X-Slack-Request-Timestamp": "0", "X-Slack-Signature": "v0=0"}),
], ids=["alertmanager", "alertmanager-alerts", "pagerduty", "slack"])
def test_json_nested_too_deeply_is_a_400_not_a_dead_connection(server, path, body, headers):
    r = httpx.post(url(server, path), content=body, headers={"content-type": "application/json", **headers},
                   timeout=30)
    assert r.status_code == 400 and b"nested too deeply" in r.content
    assert httpx.get(url(server, "/healthz")).status_code == 200           # and the server goes on


def test_an_unexpected_error_is_a_500_and_the_server_goes_on(monkeypatch):
    monkeypatch.delenv("FIVEWHYS_ALERTMANAGER_TOKEN", raising=False)
    monkeypatch.setenv("FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED", "1")

    def broken(page, delivery=None):
        raise RuntimeError("journal gone")
    srv, loop = start(SimpleNamespace(page=broken))
    try:
        body = b'{"version": "4", "alerts": [{"fingerprint": "f1", "labels": {"service": "api"}}]}'
        assert httpx.post(url(srv, "/webhooks/alertmanager"), content=body).status_code == 500
        assert httpx.get(url(srv, "/healthz")).status_code == 200
    finally:
        stop(srv, loop)


def closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> bool:
    """Whether the server closes this connection within `seconds`, while the client sends `drip` (one byte
    at a time, every 0.2 s) as a slow client would."""
    end = time.monotonic() + seconds
    sock.settimeout(0.2)
    for byte in drip * 1000:
        if time.monotonic() > end:
            return False
        try:
            if sock.recv(1) == b"":
                return True
        except TimeoutError:
            pass
        except OSError:                                # reset by the server: closed too
            return True
        try:
            sock.send(bytes([byte]))
        except OSError:
            return True
    return False


def test_headers_sent_slowly_are_cut_off_at_the_request_deadline(server):
    server.request_seconds = 1.0                 # the whole request, not each recv (the default is 10 s)
    with socket.create_connection(server.server_address, timeout=5) as s:
        s.sendall(b"POST /webhooks/alertmanager HTTP/1.1\r\n")
        assert closed_within(s, 12, drip=b"X-Slow: a\r\n")       # a byte every 0.2 s would never time out
    assert httpx.get(url(server, "/healthz")).status_code == 200


def test_a_body_sent_slowly_is_cut_off_at_the_request_deadline(server):
    server.request_seconds = 1.0
    with socket.create_connection(server.server_address, timeout=5) as s:
        s.sendall(post_head("Content-Length: 1000\r\n"))
        assert closed_within(s, 12, drip=b"{")
    assert server.pages == []


def test_when_connections_run_out_the_oldest_slow_one_makes_room_for_a_page(server):
    server.max_connections = 4
    slow = [socket.create_connection(server.server_address, timeout=5) for _ in range(4)]
    try:
        for s in slow:
            s.sendall(b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\n")      # and then nothing
            time.sleep(0.05)                                                     # so their age is known
        wait_until(lambda: server.open_connections == 4)
        body = b'{"version": "4", "alerts": [{"fingerprint": "f1", "labels": {"service": "api"}}]}'
        assert httpx.post(url(server, "/webhooks/alertmanager"), content=body, timeout=10).status_code == 202
        assert [p.key for p in server.pages] == ["am:f1"]
        assert closed_within(slow[0], 5, drip=b" ")                     # the oldest was closed to make room
        assert server.open_connections <= 4
    finally:
        for s in slow:
            s.close()
    wait_until(lambda: server.open_connections == 0)


def test_when_every_connection_is_being_answered_a_newcomer_gets_503(monkeypatch):
    monkeypatch.delenv("FIVEWHYS_ALERTMANAGER_TOKEN", raising=False)
    monkeypatch.setenv("FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED", "1")
    release, entered = threading.Event(), threading.Semaphore(0)

    def stuck(page, delivery=None):             # e.g. a journal on a disk that stopped answering
        entered.release()
        release.wait(20)
        return True
    srv, loop = start(SimpleNamespace(page=stuck))
    srv.max_connections = 2
    body = b'{"version": "4", "alerts": [{"fingerprint": "f1", "labels": {"service": "api"}}]}'
    with ThreadPoolExecutor(2) as pool:
        try:
            held = [pool.submit(httpx.post, url(srv, "/webhooks/alertmanager"), content=body, timeout=30)
                    for _ in range(2)]
            assert entered.acquire(timeout=20) and entered.acquire(timeout=20)
            r = httpx.get(url(srv, "/healthz"), timeout=10)
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
        finally:
            release.set()
        assert [f.result().status_code for f in held] == [202, 202]
    stop(srv, loop)


def wait_until(cond, timeout=20):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)
