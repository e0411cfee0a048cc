"""What `serve` lets in (issue 16, items 1c and 3; issue 14's leftovers): Alertmanager without a token, caps on
investigations per notification and per group, PagerDuty times far from now, replays of signed Slack
requests within Slack's 5-minute window, and a Slack token checked with auth.test at start."""
import json
from urllib.parse import urlencode

import httpx
from typer.testing import CliRunner

from agent.cli import app
from conftest import DEMO
from test_slack import _ledger, _report, am_alert, am_body, pd_body, sign, signed_slack, wait_for


def record(seen):
    def investigate(page, progress, tr):
        if tr is not None:                      # where the run's transcript would be, for the votes
            tr.parent.mkdir(parents=True, exist_ok=True)
            tr.touch()
        seen.append(page)
        return _report(), _ledger()
    return investigate


def test_alertmanager_without_a_token_is_refused_unless_allowed(slack, new_bot, serve, monkeypatch):
    monkeypatch.delenv("FIVEWHYS_ALERTMANAGER_TOKEN", raising=False)
    monkeypatch.delenv("FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED", raising=False)
    seen = []
    bot = new_bot(None, channel="C1", investigate=record(seen))
    srv, url = serve(bot)
    body = am_body(am_alert("f1", "checkout"))
    r = httpx.post(f"{url}/webhooks/alertmanager", content=body)
    assert r.status_code == 403 and b"FIVEWHYS_ALERTMANAGER_TOKEN is not set" in r.content
    monkeypatch.setenv("FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED", "1")   # read when the server is made
    srv, url = serve(bot)
    assert httpx.post(f"{url}/webhooks/alertmanager", content=body).status_code == 202
    bot.queue.join()
    assert [p.key for p in seen] == ["am:f1"]


def test_one_notification_of_many_alerts_starts_a_bounded_number_of_investigations(slack, new_bot, serve,
                                                                                  monkeypatch):
    monkeypatch.setenv("FIVEWHYS_ALERTMANAGER_TOKEN", "t")
    seen, h = [], {"Authorization": "Bearer t"}
    bot = new_bot(None, channel="C1", investigate=record(seen))
    srv, url = serve(bot)
    many = [am_alert(f"f{i:04d}", f"svc{i}") for i in range(400)]
    assert httpx.post(f"{url}/webhooks/alertmanager", content=am_body(*many), headers=h).status_code == 202
    for _ in range(2):          # Alertmanager re-sends the group with more alerts: still capped, noted once
        assert httpx.post(f"{url}/webhooks/alertmanager", headers=h,
                          content=am_body(*many, am_alert("late", "svc-late"))).status_code == 202
    wait_for(lambda: len(seen) == 10 and len([p for p in slack.of("chat.postMessage") if "not investigated" in
                                              p.get("text", "")]) == 2)
    bot.queue.join()
    assert sorted(p.key for p in seen) == [f"am:f{i:04d}" for i in range(10)]
    notes = [p for p in slack.of("chat.postMessage") if "not investigated separately" in p.get("text", "")]
    assert notes[0]["text"].startswith("390 more alerts of this group") and notes[1]["text"].startswith("1 more")
    lead = bot.thread("am:f0000")
    assert {p["thread_ts"] for p in notes} == {lead.ts}
    resolved = am_body(*[am_alert(f"f{i:04d}", f"svc{i}", status="resolved") for i in range(3)])
    httpx.post(f"{url}/webhooks/alertmanager", content=resolved, headers=h)      # resolves pass the cap
    bot.queue.join()
    assert [bot.queue.state[f"am:f{i:04d}"][0] for i in range(3)] == ["resolved"] * 3


def test_a_signed_pagerduty_page_far_from_now_is_refused(slack, new_bot, serve, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_PAGERDUTY_SECRET", "s")
    bot = new_bot(None, channel="C1", investigate=record([]))
    srv, url = serve(bot)
    for when in ("2001-09-09T01:46:40Z", "2099-01-01T00:00:00Z"):
        body = pd_body("POLD", occurred_at=when)
        r = httpx.post(f"{url}/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, "s")})
        assert r.status_code == 400 and b"not within 7 days before and 1 hour after now" in r.content
    assert not bot.queue.state


def command_body(trigger_id):
    return urlencode({"command": "/fivewhys", "text": "why is search failing?", "channel_id": "C9", "user_id": "U1",
                      "team_id": "T1", "trigger_id": trigger_id})


def test_a_replayed_slash_command_starts_one_investigation(slack, new_bot, serve, settle, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    seen = []
    bot = new_bot(None, investigate=record(seen))
    srv, url = serve(bot)
    form = "application/x-www-form-urlencoded"
    for _ in range(4):                          # the same signed request, four times within the window
        assert signed_slack(url, command_body("111.222.abc"), form).status_code == 200
    assert signed_slack(url, command_body("111.222.def"), form).status_code == 200      # a new command
    settle(bot)
    assert len(seen) == 2
    assert len([p for p in slack.of("chat.postMessage") if p.get("text", "").startswith(":mag:")]) == 2


def vote(key, action_ts, user="U7"):
    payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": "T1"}, "api_app_id": "A1",
               "token": "v", "trigger_id": f"t{action_ts}", "container": {"type": "message"},
               "channel": {"id": "C1"},
               "actions": [{"action_id": "feedback_down", "block_id": "b", "value": key, "type": "button",
                            "action_ts": action_ts}]}
    return urlencode({"payload": json.dumps(payload)})


def test_a_replayed_vote_is_one_vote_and_a_replayed_event_one_question(slack, new_bot, serve, settle, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-secret")
    monkeypatch.setenv("FIVEWHYS_STATE_DIR", str(tmp_path))
    seen = []
    bot = new_bot(None, channel="C1", investigate=record(seen))
    srv, url = serve(bot)
    from agent.slack.webhooks import parse_pagerduty
    bot.page(parse_pagerduty(pd_body("PV")))
    bot.queue.join()
    form = "application/x-www-form-urlencoded"
    for _ in range(5):
        assert signed_slack(url, vote("pd:PV", "1772816900.000100"), form).status_code == 200
    assert signed_slack(url, vote("pd:PV", "1772816950.000100"), form).status_code == 200      # a second click
    from test_slack import mention
    event = mention("<@UBOT> why?", "1772816800.000500", event_id="EvReplay")
    for _ in range(3):
        assert signed_slack(url, event).status_code == 200
    settle(bot)
    lines = [json.loads(x) for x in bot.thread("pd:PV").transcript.read_text().splitlines()]
    assert [x["vote"] for x in lines if x["type"] == "feedback"] == ["down", "down"]
    assert len(seen) == 2                       # the page and one question


def test_serve_refuses_a_token_slack_rejects(slack, tmp_path):
    slack.tokens = {"xoxb-good"}
    env = {"SLACK_API_URL": slack.url, "SLACK_BOT_TOKEN": "xoxb-revoked", "FIVEWHYS_STATE_DIR": str(tmp_path)}
    r = CliRunner().invoke(app, ["serve", "--snapshot", str(DEMO), "--port", "0"], env=env)
    assert r.exit_code == 2 and "Slack refuses SLACK_BOT_TOKEN (invalid_auth, from auth.test" in r.output, r.output
    assert "FIVEWHYS_ALERTMANAGER_TOKEN is not set: /webhooks/alertmanager answers 403" in r.output
    assert [m for m, _ in slack.calls] == []
