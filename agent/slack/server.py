"""`fivewhys serve`: /webhooks/pagerduty, /webhooks/alertmanager, /slack/events, /healthz.

The standard library's threading HTTP server is enough here: every request is answered at once (202 for
pages, bolt's ack for Slack) and the work happens in the bot's bounded queue."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agent.slack.bot import Bot
from agent.slack.webhooks import (BadRequest, Forbidden, Page, parse_alertmanager, parse_pagerduty, verify_bearer,
                                  verify_pagerduty)


def slack_app(bot: Bot, signing_secret: str, token: str | None):
    """Mentions and the /fivewhys command, verified (v0 signature, 5-minute window) by bolt."""
    from slack_bolt import App
    app = App(token=token, signing_secret=signing_secret, client=bot.slack, token_verification_enabled=False)

    def start(channel: str, thread_ts: str, text: str) -> None:
        bot.page(Page(key=f"slack:{channel}:{thread_ts}", source="slack", service=None,
                      at=datetime.now(timezone.utc), summary=text, labels={"channel": channel, "thread_ts": thread_ts}))

    @app.event("app_mention")
    def mention(event, say):
        thread = event.get("thread_ts") or event["ts"]
        say(text="On it: investigating…", thread_ts=thread)
        start(event["channel"], thread, event.get("text", ""))

    @app.command("/fivewhys")
    def command(ack, command, client):
        ack(f"Investigating: {command.get('text') or 'the current page'}")
        top = client.chat_postMessage(channel=command["channel_id"], text=f":mag: {command.get('text', '')}")
        start(top["channel"], top["ts"], command.get("text", ""))

    @app.action("feedback_up")
    @app.action("feedback_down")
    def feedback(ack, body, action):
        ack()
        t = bot.threads.get(action["value"])
        if t is not None:
            t.feedback.append(action["action_id"])

    @app.action("show_evidence")
    def show_evidence(ack, action, client):
        ack()
        t = bot.threads.get(action["value"])
        if t is not None and t.evidence is not None:
            text = "\n".join(f"`{e.id}` {e.source} {e.service or ''}: {e.summary}" for e in t.evidence.items[:40])
            client.chat_postMessage(channel=t.channel, thread_ts=t.ts, text=text[:3000])
    return app


def make_server(bot: Bot, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    pd_secrets = [s for s in os.environ.get("FIVEWHYS_PAGERDUTY_SECRET", "").split(",") if s]
    am_token = os.environ.get("FIVEWHYS_ALERTMANAGER_TOKEN")
    signing = os.environ.get("SLACK_SIGNING_SECRET")
    bolt = slack_app(bot, signing, os.environ.get("SLACK_BOT_TOKEN")) if signing else None

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: bytes = b"", ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._reply(200, b"ok") if self.path == "/healthz" else self._reply(404)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                if self.path == "/webhooks/pagerduty":
                    verify_pagerduty(raw, self.headers.get("X-PagerDuty-Signature"), pd_secrets)
                    page = parse_pagerduty(raw)
                    if page is not None:
                        bot.page(page, self.headers.get("X-Webhook-Id"))
                    return self._reply(202, b"accepted")
                if self.path == "/webhooks/alertmanager":
                    verify_bearer(self.headers.get("Authorization"), am_token)
                    for page in parse_alertmanager(raw):
                        bot.page(page)
                    return self._reply(202, b"accepted")
                if self.path == "/slack/events" and bolt is not None:
                    from slack_bolt.request import BoltRequest
                    resp = bolt.dispatch(BoltRequest(body=raw.decode(), headers={k.lower(): v for k, v in self.headers.items()}))
                    return self._reply(resp.status, resp.body.encode(), resp.headers.get("content-type", ["text/plain"])[0])
                return self._reply(404)
            except Forbidden as e:
                return self._reply(403, str(e).encode())
            except BadRequest as e:
                return self._reply(400, str(e).encode())

        def log_message(self, *a):
            pass
    return ThreadingHTTPServer((host, port), Handler)
