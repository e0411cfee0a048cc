"""The Slack bot and page webhooks, against a stand-in Slack Web API on loopback (tests/standin_slack.py; the
fixtures slack, new_bot, serve and settle are in conftest.py)."""
import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from urllib.parse import quote

import httpx

from agent.slack.webhooks import Page
from conftest import DEMO


def pd_body(incident_id="PABC123", kind="incident.triggered", occurred_at=None, title="search connection errors",
            service="search"):
    occurred_at = occurred_at or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return json.dumps({"event": {"id": "01E", "event_type": kind, "resource_type": "incident",
                                 "occurred_at": occurred_at, "agent": None, "client": None,
                                 "data": {"id": incident_id, "type": "incident", "title": title,
                                          "service": {"id": "PSVC", "summary": service, "type": "service_reference"},
                                          "urgency": "high", "status": "triggered"}}}).encode()


def sign(body, secret):
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wait_for(cond, timeout=60):
    t = time.monotonic()
    while not cond():
        assert time.monotonic() - t < timeout, "timed out"
        time.sleep(0.05)


def test_pagerduty_page_lands_as_one_thread_with_the_report(slack, new_bot, serve, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "old-secret,new-secret")
    bot = new_bot(DEMO, {"search": "C-SEARCH"})
    srv, url = serve(bot)
    body = pd_body()
    bad = httpx.post(f"{url}/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, "nope")})
    assert bad.status_code == 403
    rotated = f"{sign(body, 'nope')},{sign(body, 'new-secret')}"
    ok = httpx.post(f"{url}/webhooks/pagerduty", content=body,
                    headers={"X-PagerDuty-Signature": rotated, "X-Webhook-Id": "w1"})
    assert ok.status_code == 202
    other = pd_body("PREDELIVERED")              # a re-delivery is known by its webhook id alone
    again = httpx.post(f"{url}/webhooks/pagerduty", content=other,
                       headers={"X-PagerDuty-Signature": sign(other, "new-secret"), "X-Webhook-Id": "w1"})
    assert again.status_code == 202
    same = httpx.post(f"{url}/webhooks/pagerduty", content=body,   # the same incident again, new delivery
                      headers={"X-PagerDuty-Signature": sign(body, "new-secret"), "X-Webhook-Id": "w2"})
    assert same.status_code == 202
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
    wait_for(lambda: slack.of("files.completeUploadExternal"))   # the full report is longer than a section
    done = slack.of("files.completeUploadExternal")
    assert done[0]["thread_ts"] == "1772816001.000100"
    assert "Root cause: search" in slack.of("upload")[0]["bytes"]
    resolved = pd_body(kind="incident.resolved")
    signed = {"X-PagerDuty-Signature": sign(resolved, "old-secret")}
    for _ in range(3):                                        # a repeated resolve is noted once
        httpx.post(f"{url}/webhooks/pagerduty", content=resolved, headers=signed)
    wait_for(lambda: any("resolved" in p.get("text", "") for p in slack.of("chat.postMessage")))
    bot.queue.join()
    assert len([p for p in slack.of("chat.postMessage") if ":white_check_mark:" in p.get("text", "")]) == 1
    assert len([p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]) == 1   # PREDELIVERED: never


def test_pagerduty_refused_without_a_secret_and_with_a_garbled_signature(slack, new_bot, serve, monkeypatch):
    bot = new_bot(None, investigate=_never)
    srv, url = serve(bot)
    body = pd_body()
    monkeypatch.delenv("FIVEWHYS_PAGERDUTY_SECRET", raising=False)
    assert httpx.post(f"{url}/webhooks/pagerduty", content=body).status_code == 403      # fails closed
    srv.shutdown()       # the secret is read when the server is made
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "s")
    srv, url = serve(bot)
    garbled = {"X-PagerDuty-Signature": "v1=é".encode() + b"0" * 62}        # non-ASCII: 403, not a crash
    assert httpx.post(f"{url}/webhooks/pagerduty", content=body, headers=garbled).status_code == 403
    huge = b"{" + b" " * (2 << 20) + b"}"
    assert httpx.post(f"{url}/webhooks/pagerduty", content=huge).status_code == 413
    assert not bot.queue.state


def _never(page, progress, transcript):
    raise AssertionError("nothing should be investigated")


def am_alert(fingerprint, service, status="firing", starts="2026-03-06T17:05:00Z"):
    return {"status": status, "labels": {"service": service, "severity": "page", "channel": "C-HIJACK"},
            "annotations": {"summary": f"{service} 5xx <!channel>"}, "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fingerprint}


def am_body(*alerts):
    return json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "fivewhys",
                       "groupLabels": {}, "commonLabels": {"alertname": "HighErrorRate"}, "commonAnnotations": {},
                       "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0, "alerts": list(alerts)})


def test_alertmanager_bearer_and_one_investigation_per_fingerprint(slack, new_bot, serve, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_ALERTMANAGER_TOKEN", "am-token")
    seen = []
    bot = new_bot(None, channel="C-DEFAULT",
                  investigate=lambda page, progress, tr: (seen.append(page) or _report(), _ledger()))
    srv, url = serve(bot)
    body = am_body(am_alert("abc123", "checkout"), am_alert("def456", "payments"))
    assert httpx.post(f"{url}/webhooks/alertmanager", content=body).status_code == 403
    h = {"Authorization": "Bearer am-token"}
    for _ in range(3):                                      # re-fires add nothing
        assert httpx.post(f"{url}/webhooks/alertmanager", content=body, headers=h).status_code == 202
    assert httpx.post(f"{url}/webhooks/alertmanager", content=b'{"version": "3"}', headers=h).status_code == 400
    bot.queue.join()
    assert sorted(p.service for p in seen) == ["checkout", "payments"]       # one per fingerprint
    tops = [p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]
    assert [p["channel"] for p in tops] == ["C-DEFAULT"] * 2                 # a label cannot pick the channel
    assert all("<!channel>" not in p["text"] and "&lt;!channel&gt;" in p["text"] for p in tops)
    resolved = am_body(am_alert("abc123", "checkout", status="resolved"))
    for _ in range(2):
        httpx.post(f"{url}/webhooks/alertmanager", content=resolved, headers=h)
    bot.queue.join()
    notes = [p for p in slack.of("chat.postMessage") if ":white_check_mark:" in p.get("text", "")]
    assert len(notes) == 1 and notes[0]["thread_ts"] == bot.thread("am:abc123").ts
    # the same alert firing again later (a new startsAt) is a new occurrence; a stale copy is not
    httpx.post(f"{url}/webhooks/alertmanager", content=am_body(am_alert("abc123", "checkout")), headers=h)
    httpx.post(f"{url}/webhooks/alertmanager", headers=h,
               content=am_body(am_alert("abc123", "checkout", starts="2026-03-07T09:00:00Z")))
    bot.queue.join()
    assert [p.at.day for p in seen if p.service == "checkout"] == [6, 7]


def _report():
    from agent.report import Report
    return Report(inconclusive=True, next_checks=["x"])


def _ledger():
    from tools.domain.evidence import EvidenceLedger
    return EvidenceLedger()


def test_a_burst_of_200_pages_is_queued_not_lost_and_bounded(slack, new_bot, serve, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "s")
    lock, running, peak = threading.Lock(), [0], [0]

    def slow(page, progress, tr):                           # concurrency measured where the work happens
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.02)
            if page.key.endswith("13"):
                raise RuntimeError("backend down")
            return _report(), _ledger()
        finally:
            with lock:
                running[0] -= 1
    bot = new_bot(None, channel="C1", workers=3, investigate=slow)
    srv, url = serve(bot)

    def deliver(i):
        body = pd_body(f"P{i:03d}")
        return httpx.post(f"{url}/webhooks/pagerduty", content=body, timeout=60,
                          headers={"X-PagerDuty-Signature": sign(body, "s"), "X-Webhook-Id": f"w{i}"}).status_code
    with ThreadPoolExecutor(32) as pool:                    # the storm arrives at once, not one by one
        answers = list(pool.map(deliver, range(200)))
    assert answers == [202] * 200                           # how fast: benchmarks/page_burst.py
    wait_for(lambda: bot.queue.done == 200)
    assert 1 <= peak[0] <= 3
    assert len([p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]) == 200
    failed = [p for p in slack.of("chat.postMessage") if "investigation failed" in p.get("text", "")]
    assert len(failed) == 2                                 # P013 and P113, each in its own thread


def test_slack_slash_command_signed_and_badly_signed(slack, new_bot, serve, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    seen = []
    bot = new_bot(None, investigate=lambda page, progress, tr: (seen.append(page) or _report(), _ledger()))
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
    ok = httpx.post(f"{url}/slack/events", content=body, headers={**h, "X-Slack-Signature": sig})
    assert ok.status_code == 200 and "Investigating" in ok.text      # within Slack's 3 s: benchmarks/page_burst.py
    wait_for(lambda: bool(seen))
    assert seen[0].summary == "why is checkout failing?" and seen[0].reply_to[0] == "C9"


def signed_slack(url, body, ctype="application/json", secret="slack-secret", client=httpx):
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return client.post(f"{url}/slack/events", content=body, timeout=10,
                       headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, "Content-Type": ctype})


def mention(text, ts, thread_ts=None, channel="C9", event_id="Ev1"):
    event = {"type": "app_mention", "user": "U1", "text": text, "ts": ts, "channel": channel, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return json.dumps({"token": "v", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()),
                       "authorizations": [{"user_id": "UBOT", "is_bot": True}], "event": event})


def test_app_mention_replies_in_its_thread_and_follow_ups_are_new_questions(slack, serve, new_bot, settle,
                                                                             monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    seen = []
    bot = new_bot(None, investigate=lambda page, progress, tr: (seen.append(page) or _report(), _ledger()))
    srv, url = serve(bot)
    first = mention("<@UBOT> why is search failing?", "1772816500.000200")
    assert signed_slack(url, first).status_code == 200
    assert signed_slack(url, first).status_code == 200          # Slack's retry of the same event: nothing new
    settle(bot)                                                 # bolt acks first and runs the listener after
    assert len(seen) == 1 and seen[0].reply_to == ("C9", "1772816500.000200")
    assert seen[0].summary == "why is search failing?"
    follow = mention("<@UBOT> and what changed in token?", "1772816600.000300", thread_ts="1772816500.000200",
                     event_id="Ev2")
    assert signed_slack(url, follow).status_code == 200
    settle(bot)
    assert len(seen) == 2 and seen[1].reply_to == ("C9", "1772816500.000200")
    replies = [p for p in slack.of("chat.postMessage") if p.get("thread_ts") == "1772816500.000200"]
    assert len([p for p in replies if "On it" in p["text"]]) == 2 and len([p for p in replies if p.get("blocks")]) == 2
    assert not [p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]     # nothing top-level


def test_a_question_in_a_page_thread_investigates_that_page(slack, serve, new_bot, settle, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "s")
    seen = []
    routes = {"search": {"channel": "C-SEARCH", "pagerduty": ["PSVC"]}}
    bot = new_bot(None, routes, investigate=lambda page, progress, tr: (seen.append(page) or _report(), _ledger()))
    srv, url = serve(bot)
    body = pd_body().replace(b'"summary": "search"', b'"summary": "Search API (prod)"')   # a PagerDuty name
    httpx.post(f"{url}/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, "s")})
    bot.queue.join()
    assert seen[0].service == "search"                          # routed by the PagerDuty service id
    t = bot.thread("pd:PABC123")
    assert t.channel == "C-SEARCH"
    signed_slack(url, mention("<@UBOT> why did it start?", "1772816700.000400", thread_ts=t.ts, channel=t.channel))
    settle(bot)
    assert (seen[1].service, seen[1].at) == ("search", seen[0].at)   # the thread's incident, not "now"


def test_report_buttons_record_feedback_and_show_evidence(slack, new_bot, serve, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "s")
    bot = new_bot(DEMO, {"search": "C-SEARCH"})
    srv, url = serve(bot)
    body = pd_body()
    httpx.post(f"{url}/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, "s")})
    bot.queue.join()
    t = bot.thread("pd:PABC123")

    def press(action_id):
        payload = {"type": "block_actions", "user": {"id": "U42"}, "api_app_id": "A1", "token": "v",
                   "team": {"id": "T1"}, "channel": {"id": t.channel}, "trigger_id": "1.2",
                   "container": {"type": "message", "message_ts": "1", "channel_id": t.channel},
                   "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": "pd:PABC123",
                                "action_ts": str(time.time())}]}
        return signed_slack(url, "payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded")
    assert press("feedback_down").status_code == 200
    wait_for(lambda: slack.of("chat.postEphemeral"))
    lines = [json.loads(x) for x in t.transcript.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["incident"] == "pd:PABC123"
    assert any(x["type"] == "tool_call" or x["type"] == "message" for x in lines)   # the run itself is there
    assert [(x["vote"], x["user"]) for x in lines if x["type"] == "feedback"] == [("down", "U42")]
    assert press("show_evidence").status_code == 200
    wait_for(lambda: any(p.get("text", "").startswith("`E1`") for p in slack.of("chat.postMessage")))
    shown = [p for p in slack.of("chat.postMessage") if p.get("text", "").startswith("`E1`")][0]
    assert shown["thread_ts"] == t.ts and "scaling search" in shown["text"] and len(shown["text"]) <= 3000


def test_an_unpostable_channel_falls_back_to_the_default(slack, new_bot):
    seen = []
    bot = new_bot(None, {"search": "C-GONE"}, channel="C-DEFAULT",
                  investigate=lambda page, progress, tr: (seen.append(page) or _report(), _ledger()))
    slack.missing_channels = {"C-GONE"}
    bot.page(Page(key="am:1", source="alertmanager", service="search", at=datetime.now(timezone.utc), summary="x"))
    bot.queue.join()
    assert [p["channel"] for p in slack.of("chat.postMessage") if not p.get("thread_ts")] == ["C-GONE", "C-DEFAULT"]
    assert seen and any(p.get("blocks") for p in slack.of("chat.postMessage"))


def test_report_blocks_stay_within_block_kit_limits_and_escape_telemetry():
    from agent.report import Hypothesis, Report, RootCause, Why
    from agent.slack.blocks import report_blocks
    hostile = "<!channel> see <https://evil.example|the runbook> & <@U0ADMIN>"
    report = Report(root_cause=RootCause(service="search", kind="failed_scale_up", summary=hostile, confidence=0.9),
                    chain=[Why(claim=f"link {i}: {hostile} " + "x" * 200, evidence=["E1"]) for i in range(300)],
                    hypotheses=[Hypothesis(service="token", kind="cert_expired", status="ruled_out", reason=hostile)],
                    remediation=[hostile] * 20)
    blocks = report_blocks(report, _ledger(), "pd:P1")
    assert len(blocks) <= 50 and blocks[-1]["type"] == "actions"
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(x) <= 3000 for x in texts) and texts[1].endswith("…")
    assert not any("<" in x or ">" in x for x in texts)
    assert "&lt;!channel&gt;" in texts[0]


def test_after_a_restart_the_resolve_lands_in_the_incident_thread(slack, new_bot, tmp_path, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "s")
    journal = tmp_path / "pages.jsonl"
    first = new_bot(None, {"search": "C-SEARCH"}, journal=journal,
                    investigate=lambda page, progress, tr: (_report(), _ledger()))
    from agent.slack.webhooks import parse_pagerduty
    first.page(parse_pagerduty(pd_body()))
    first.queue.join()
    thread_ts = first.thread("pd:PABC123").ts
    second = new_bot(None, {"search": "C-SEARCH"}, journal=journal, investigate=_never)   # the process restarted
    assert not second.page(parse_pagerduty(pd_body()))                      # still one investigation
    second.page(parse_pagerduty(pd_body(kind="incident.resolved")))
    second.queue.join()
    notes = [p for p in slack.of("chat.postMessage") if ":white_check_mark:" in p.get("text", "")]
    assert [(p["channel"], p["thread_ts"]) for p in notes] == [("C-SEARCH", thread_ts)]
    from tools.domain.evidence import EvidenceLedger
    from agent.slack.blocks import evidence_text
    assert evidence_text(EvidenceLedger()) == "No evidence was collected."
