"""`fivewhys serve`: /webhooks/pagerduty, /webhooks/alertmanager, /slack/events, /healthz.

The standard library's threading HTTP server is enough here: every request is answered at once (202 for
pages, bolt's ack for Slack) and the work happens in the bot's bounded queue. httpserver.py bounds how long
a request may take to arrive and how many connections are open."""
from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timezone

from agent.slack.blocks import evidence_text, mrkdwn_escape
from agent.slack.bot import Bot
from agent.slack.httpserver import BoundedHandler, PageServer
from agent.slack.store import StoreError
from agent.slack.webhooks import (ALLOW_OPEN_ALERTMANAGER, TOO_DEEP, AlertCaps, BadRequest, Forbidden, Page,
                                  parse_alertmanager_group, parse_pagerduty, verify_bearer, verify_pagerduty)

log = logging.getLogger("fivewhys.slack")


def slack_app(bot: Bot, signing_secret: str | None):
    """Mentions, the /fivewhys command and the report's buttons. Over HTTP bolt verifies each request
    (v0 signature, 5-minute window); in Socket Mode (no signing secret) the WebSocket is the trust."""
    from slack_bolt import App
    app = App(signing_secret=signing_secret or "", client=bot.slack, token_verification_enabled=False,   # client: the token
              request_verification_enabled=signing_secret is not None)

    def start(key: str, channel: str, thread_ts: str, text: str) -> bool:
        return bot.page(Page(key=key, source="slack", service=None, at=datetime.now(timezone.utc), summary=text,
                             reply_to=(channel, thread_ts)))

    # Replays (of a signed request, within Slack's 5-minute window) are known by Slack's own ids: event_id,
    # trigger_id, an action's action_ts. Each is acted on once.
    @app.event("app_mention")
    def mention(event, say, body):
        # One investigation per mention (Slack's retries of the same event share its ts): a follow-up
        # question in the same thread is a new investigation, answered in that thread.
        if not bot.once("event", body.get("event_id")):
            return
        thread = event.get("thread_ts") or event["ts"]
        question = re.sub(r"<@[A-Z0-9]+>", "", event.get("text", "")).strip()
        if start(f"slack:{event['channel']}:{event['ts']}", event["channel"], thread, question):
            say(text="On it: investigating…", thread_ts=thread)

    @app.command("/fivewhys")
    def command(ack, command, client):
        if not bot.once("command", command.get("trigger_id")):
            return ack()
        ack(f"Investigating: {mrkdwn_escape(command.get('text') or 'the current page')}")
        top = client.chat_postMessage(channel=command["channel_id"], text=f":mag: {mrkdwn_escape(command.get('text', ''))}")
        start(f"slack:{top['channel']}:{top['ts']}", top["channel"], top["ts"], command.get("text", ""))

    @app.action("feedback_up")
    @app.action("feedback_down")
    def feedback(ack, body, action, client):
        ack()
        vote = "up" if action["action_id"] == "feedback_up" else "down"
        user = (body.get("user") or {}).get("id")
        if bot.once("action", f"{user}:{action.get('action_ts')}") and bot.feedback(action["value"], vote, user):
            t = bot.thread(action["value"])
            client.chat_postEphemeral(channel=t.channel, thread_ts=t.ts, user=user,
                                      text="Thanks: your vote is recorded with the investigation's transcript.")

    @app.action("show_evidence")
    def show_evidence(ack, action, body, client):
        ack()
        if not bot.once("action", f"{(body.get('user') or {}).get('id')}:{action.get('action_ts')}"):
            return
        t = bot.thread(action["value"])
        if t is not None and t.evidence is not None:
            client.chat_postMessage(channel=t.channel, thread_ts=t.ts, text=evidence_text(t.evidence))
    return app


MAX_BODY = 1 << 20          # webhooks and Slack events are a few KiB; refuse more before reading it


class PageHandler(BoundedHandler):
    """The routes. make_server gives a subclass its bot, its bolt app and the secrets it checks."""
    bot: Bot
    bolt = None                        # the Slack app, when Slack events are served
    pd_secrets: list[str] = []
    am_token: str | None = None
    am_open = False                    # accept Alertmanager without a token (FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED=1)
    caps: AlertCaps

    def _reply(self, code: int, body: bytes = b"", ctype: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.request_read()
        self._reply(200, b"ok") if self.path == "/healthz" else self._reply(404)

    def _body(self) -> bytes | None:
        """The body, read only when its length is one plain number within MAX_BODY: a negative or missing
        length would make rfile.read(-1) buffer whatever the client sends until it closes."""
        if self.headers.get("transfer-encoding") or "content-length" not in self.headers:
            return self._refuse(411, b"a content-length is required")
        lengths = set(self.headers.get_all("content-length"))
        if len(lengths) != 1 or not (length := lengths.pop().strip()).isdigit() or not length.isascii():
            return self._refuse(400, b"bad content-length")
        if len(length) > 9 or int(length) > MAX_BODY:        # int() of 5,000 digits would raise
            return self._refuse(413, b"body too large")
        raw = self.rfile.read(int(length))
        self.request_read()
        return raw if len(raw) == int(length) else self._refuse(400, b"body shorter than its content-length")

    def _refuse(self, code: int, why: bytes) -> None:
        self.close_connection = True          # the unread body must not be taken for the next request
        self._reply(code, why)

    def do_POST(self):
        raw = self._body()
        if raw is None:
            return
        try:
            if self.path == "/webhooks/pagerduty":
                verify_pagerduty(raw, self.headers.get("X-PagerDuty-Signature"), self.pd_secrets)
                page = parse_pagerduty(raw)
                if page is not None:
                    self.bot.page(page, self.headers.get("X-Webhook-Id"))
                return self._reply(202, b"accepted")
            if self.path == "/webhooks/alertmanager":
                return self._alertmanager(raw)
            if self.path == "/slack/events" and self.bolt is not None:
                return self._slack(raw)
            return self._reply(404)
        except Forbidden as e:
            return self._reply(403, str(e).encode())
        except BadRequest as e:
            return self._reply(400, str(e).encode())
        except StoreError:              # the shared store is down: not accepted, so the sender retries
            return self._refuse(503, b"store unavailable, retry")
        except Exception:               # a bug answers 500 and is logged; the client is not left hanging
            log.exception("%s: unexpected error", self.path)
            return self._refuse(500, b"internal error")

    def _alertmanager(self, raw: bytes) -> None:
        verify_bearer(self.headers.get("Authorization"), self.am_token, self.am_open)
        group, pages = parse_alertmanager_group(raw)
        passed, lead, grouped = self.caps.split(group, pages)
        for page in passed:
            self.bot.page(page)
        if grouped:
            log.info("alertmanager group %s: %d alerts grouped under %s, not investigated separately (cap %d a "
                     "notification, %d a group)", group or "-", len(grouped), lead, self.caps.per_request,
                     self.caps.per_group)
            if lead is not None:
                self.bot.grouped(lead, grouped)
        return self._reply(202, b"accepted")

    def _slack(self, raw: bytes) -> None:
        from slack_bolt.request import BoltRequest
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:            # bolt parses the body before it checks the signature
            req = BoltRequest(body=raw.decode(errors="replace"), headers=headers)
        except RecursionError:
            raise BadRequest(TOO_DEEP) from None
        resp = self.bolt.dispatch(req)
        self._reply(resp.status, resp.body.encode(), resp.headers.get("content-type", ["text/plain"])[0])

    def log_message(self, *a):
        pass


def make_server(bot: Bot, host: str = "127.0.0.1", port: int = 8080, slack_events: bool = True) -> PageServer:
    signing = os.environ.get("SLACK_SIGNING_SECRET")
    handler = type("Handler", (PageHandler,), {
        "bot": bot, "bolt": slack_app(bot, signing) if signing and slack_events else None,
        "pd_secrets": [s for s in os.environ.get("FIVEWHYS_PAGERDUTY_SECRET", "").split(",") if s],
        "am_token": os.environ.get("FIVEWHYS_ALERTMANAGER_TOKEN"),
        "am_open": os.environ.get(ALLOW_OPEN_ALERTMANAGER) == "1", "caps": AlertCaps()})
    return PageServer((host, port), handler)
