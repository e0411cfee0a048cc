"""Socket Mode: slack-bolt's handler against a stand-in Slack (Web API + a WebSocket on loopback)."""
import json
import threading
import time

from websockets.sync.server import serve as ws_serve

from agent.slack.server import slack_app
from test_slack import _ledger, _report, wait_for


def test_mention_over_socket_mode(slack, new_bot, settle):
    acks, sent = [], threading.Event()
    mention = {"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False, "retry_attempt": 0,
               "payload": {"token": "v", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                           "event_id": "Ev1", "event_time": int(time.time()),
                           "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> why is search failing?",
                                     "ts": "1772816600.000300", "channel": "C7", "event_ts": "1772816600.000300"}}}

    def handler(ws):
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}))
        ws.send(json.dumps(mention))
        sent.set()
        try:
            for msg in ws:
                acks.append(json.loads(msg))
        except Exception:
            pass
    ws = ws_serve(handler, "127.0.0.1", 0)
    ws_thread = threading.Thread(target=ws.serve_forever, daemon=True)
    ws_thread.start()
    ws_url = f"ws://127.0.0.1:{ws.socket.getsockname()[1]}/link"
    slack.extra = {"apps.connections.open": {"url": ws_url}}
    seen = []
    bot = new_bot(None, investigate=lambda page, progress, tr: (seen.append(page) or _report(), _ledger()))
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    handler = SocketModeHandler(slack_app(bot, None), "xapp-1-test", web_client=bot.slack)
    handler.connect()
    try:
        wait_for(lambda: bot.queue.done >= 1, timeout=30)
        wait_for(lambda: any(a.get("envelope_id") == "env-1" for a in acks), timeout=10)
    finally:
        handler.close()
        ws.shutdown()
        ws_thread.join(10)
    assert seen[0].reply_to == ("C7", "1772816600.000300") and seen[0].summary == "why is search failing?"
    assert any(p.get("thread_ts") == "1772816600.000300" and p.get("blocks") for p in slack.of("chat.postMessage"))
