"""The Slack bot and page webhooks, against a stand-in Slack Web API on loopback."""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk import WebClient

from agent.slack.bot import Bot
from agent.slack.server import make_server
from conftest import DEMO


class StandInSlack:
    """Records chat.postMessage / chat.update like the Slack Web API and answers in its shape."""

    def __init__(self):
        self.calls, self.lock, n = [], threading.Lock(), [0]
        self.extra: dict = {}                      # method → extra fields of its answer
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                body = json.loads(raw) if raw.startswith("{") else {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                with outer.lock:
                    n[0] += 1
                    ts = body.get("ts") or f"1772816{n[0]:03d}.000100"
                    outer.calls.append((method, body if method != "upload" else {"bytes": raw}))
                reply = {"ok": True, "channel": body.get("channel", "C1"), "ts": ts}
                if method == "files.getUploadURLExternal":
                    reply.update(upload_url=f"{outer.url}upload", file_id="F0001")
                elif method == "files.completeUploadExternal":
                    reply.update(files=[{"id": "F0001", "title": "report"}])
                reply.update(outer.extra.get(method, {}))
                out = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def of(self, method):
        return [b for m, b in self.calls if m == method]


@pytest.fixture
def slack():
    s = StandInSlack()
    yield s
    s.server.shutdown()


def serve(bot):
    srv = make_server(bot, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def pd_body(incident_id="PABC123", kind="incident.triggered"):
    return json.dumps({"event": {"id": "01E", "event_type": kind, "resource_type": "incident",
                                 "occurred_at": "2026-03-06T17:05:00.000Z", "agent": None, "client": None,
                                 "data": {"id": incident_id, "type": "incident", "title": "search connection errors",
                                          "service": {"id": "PSVC", "summary": "search", "type": "service_reference"},
                                          "urgency": "high", "status": "triggered"}}}).encode()


def sign(body, secret):
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wait_for(cond, timeout=60):
    t = time.monotonic()
    while not cond():
        assert time.monotonic() - t < timeout, "timed out"
        time.sleep(0.05)


def test_pagerduty_page_lands_as_one_thread_with_the_report(slack, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "old-secret,new-secret")
    bot = Bot(WebClient(base_url=slack.url, token="xoxb-test"), DEMO, {"search": "C-SEARCH"})
    srv, url = serve(bot)
    body = pd_body()
    bad = httpx.post(f"{url}/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, "nope")})
    assert bad.status_code == 403
    rotated = f"{sign(body, 'nope')},{sign(body, 'new-secret')}"
    ok = httpx.post(f"{url}/webhooks/pagerduty", content=body,
                    headers={"X-PagerDuty-Signature": rotated, "X-Webhook-Id": "w1"})
    assert ok.status_code == 202
    again = httpx.post(f"{url}/webhooks/pagerduty", content=body,
                       headers={"X-PagerDuty-Signature": rotated, "X-Webhook-Id": "w1"})
    assert again.status_code == 202
    assert httpx.post(f"{url}/webhooks/pagerduty", content=b"{not json",
                      headers={"X-PagerDuty-Signature": sign(b"{not json", "new-secret")}).status_code == 400
    wait_for(lambda: any(b.get("blocks") for b in slack.of("chat.postMessage")))
    posts = slack.of("chat.postMessage")
    top = [p for p in posts if not p.get("thread_ts")]
    assert len(top) == 1 and top[0]["channel"] == "C-SEARCH"
    report = [p for p in posts if p.get("blocks")][0]
    assert report["thread_ts"] == "1772816001.000100"
    blocks = json.loads(report["blocks"]) if isinstance(report["blocks"], str) else report["blocks"]
    assert "Root cause: search — failed_scale_up" in blocks[0]["text"]["text"] and len(blocks) <= 50
    assert slack.of("chat.update")
    done = slack.of("files.completeUploadExternal")           # the full report is longer than a section
    assert done and done[0]["thread_ts"] == "1772816001.000100"
    assert "Root cause: search" in slack.of("upload")[0]["bytes"]
    resolved = pd_body(kind="incident.resolved")
    httpx.post(f"{url}/webhooks/pagerduty", content=resolved, headers={"X-PagerDuty-Signature": sign(resolved, "old-secret")})
    wait_for(lambda: any("resolved" in p.get("text", "") for p in slack.of("chat.postMessage")))
    srv.shutdown()


def test_alertmanager_bearer_and_one_investigation_per_fingerprint(slack, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_ALERTMANAGER_TOKEN", "am-token")
    seen = []
    bot = Bot(WebClient(base_url=slack.url, token="x"), None, channel="C-DEFAULT",
              investigate=lambda page, progress: (seen.append(page) or _report(), _ledger()))
    srv, url = serve(bot)
    body = json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "fivewhys",
                       "groupLabels": {}, "commonLabels": {"alertname": "HighErrorRate"}, "commonAnnotations": {},
                       "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
                       "alerts": [{"status": "firing", "labels": {"service": "checkout", "severity": "page"},
                                   "annotations": {"summary": "checkout 5xx"}, "startsAt": "2026-03-06T17:05:00Z",
                                   "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "abc123"}]})
    assert httpx.post(f"{url}/webhooks/alertmanager", content=body).status_code == 403
    h = {"Authorization": "Bearer am-token"}
    for _ in range(3):                                      # re-fires add nothing
        assert httpx.post(f"{url}/webhooks/alertmanager", content=body, headers=h).status_code == 202
    assert httpx.post(f"{url}/webhooks/alertmanager", content=b'{"version": "3"}', headers=h).status_code == 400
    wait_for(lambda: bot.queue.done >= 1)
    time.sleep(0.3)
    assert len(seen) == 1 and seen[0].service == "checkout"
    assert [p["channel"] for p in slack.of("chat.postMessage") if not p.get("thread_ts")] == ["C-DEFAULT"]
    srv.shutdown()


def _report():
    from agent.report import Report
    return Report(inconclusive=True, next_checks=["x"])


def _ledger():
    from agent.evidence import EvidenceLedger
    return EvidenceLedger()


def test_a_burst_of_200_pages_is_queued_not_lost_and_bounded(slack, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "s")

    def slow(page, progress):
        time.sleep(0.02)
        if page.key.endswith("13"):
            raise RuntimeError("backend down")
        return _report(), _ledger()
    bot = Bot(WebClient(base_url=slack.url, token="x"), None, channel="C1", workers=3, investigate=slow)
    srv, url = serve(bot)
    with httpx.Client() as c:
        for i in range(200):
            body = pd_body(f"P{i:03d}")
            t = time.monotonic()
            r = c.post(f"{url}/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, "s")})
            assert r.status_code == 202 and time.monotonic() - t < 5
    wait_for(lambda: bot.queue.done == 200)
    assert bot.queue.max_active <= 3
    assert len([p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]) == 200
    failed = [p for p in slack.of("chat.postMessage") if "investigation failed" in p.get("text", "")]
    assert len(failed) == 2                                 # P013 and P113, each in its own thread
    srv.shutdown()


def test_slack_slash_command_signed_and_badly_signed(slack, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    seen = []
    bot = Bot(WebClient(base_url=slack.url, token="xoxb-x"), None,
              investigate=lambda page, progress: (seen.append(page) or _report(), _ledger()))
    srv, url = serve(bot)
    body = "command=%2Ffivewhys&text=why+is+checkout+failing%3F&channel_id=C9&user_id=U1&team_id=T1&trigger_id=1.2"
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(b"slack-secret", f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    h = {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded"}
    bad = httpx.post(f"{url}/slack/events", content=body, headers={**h, "X-Slack-Signature": "v0=00"})
    assert bad.status_code == 401
    old = str(int(time.time()) - 600)
    stale = "v0=" + hmac.new(b"slack-secret", f"v0:{old}:{body}".encode(), hashlib.sha256).hexdigest()
    assert httpx.post(f"{url}/slack/events", content=body,
                      headers={**h, "X-Slack-Request-Timestamp": old, "X-Slack-Signature": stale}).status_code == 401
    t = time.monotonic()
    ok = httpx.post(f"{url}/slack/events", content=body, headers={**h, "X-Slack-Signature": sig})
    assert ok.status_code == 200 and time.monotonic() - t < 3 and "Investigating" in ok.text
    wait_for(lambda: bool(seen))
    assert seen[0].summary == "why is checkout failing?" and seen[0].labels["channel"] == "C9"
    srv.shutdown()


def test_app_mention_replies_in_its_thread(slack, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    seen = []
    bot = Bot(WebClient(base_url=slack.url, token="xoxb-x"), None,
              investigate=lambda page, progress: (seen.append(page) or _report(), _ledger()))
    srv, url = serve(bot)
    body = json.dumps({"token": "v", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "Ev1",
                       "event_time": int(time.time()), "authorizations": [{"user_id": "UBOT", "is_bot": True}],
                       "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> why is search failing?",
                                 "ts": "1772816500.000200", "channel": "C9", "event_ts": "1772816500.000200"}})
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(b"slack-secret", f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    r = httpx.post(f"{url}/slack/events", content=body, headers={"X-Slack-Request-Timestamp": ts,
                                                                 "X-Slack-Signature": sig, "Content-Type": "application/json"})
    assert r.status_code == 200
    wait_for(lambda: bot.queue.done >= 1)
    assert seen[0].labels == {"channel": "C9", "thread_ts": "1772816500.000200"}
    replies = [p for p in slack.of("chat.postMessage") if p.get("thread_ts") == "1772816500.000200"]
    assert any("investigating" in p["text"].lower() for p in replies) and any(p.get("blocks") for p in replies)
    assert not [p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]     # nothing top-level
    srv.shutdown()
