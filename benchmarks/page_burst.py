"""How fast `fivewhys serve` acknowledges a page storm: a burst of signed PagerDuty pages, with Slack slash
commands arriving alongside, sent at once to the page server; Slack is a stand-in on loopback.

    python benchmarks/page_burst.py [--pages 200] [--commands 20] [--senders 32] [--workers 2] [--work-ms 20]

Prints p50/p95/max of the webhook replies (202) and of the slash commands' acks (Slack wants them within
3 s), and the time until every page and command had its report. The investigation is a stand-in taking
--work-ms, so the figures are the server's and the queue's, not a model's. The tests check what happens in
such a burst (tests/test_slack.py); how fast it happens is measured here, not asserted there.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]

from slack_sdk import WebClient  # noqa: E402

from agent.report import Report  # noqa: E402
from agent.slack.bot import Bot  # noqa: E402
from agent.slack.server import make_server  # noqa: E402
from benchmarks.run import pct  # noqa: E402
from standin_slack import StandInSlack  # noqa: E402
from test_slack import pd_body, sign, signed_slack  # noqa: E402
from tools.domain.evidence import EvidenceLedger  # noqa: E402

PD_SECRET, SIGNING = "bench-pd-secret", "slack-secret"     # signed_slack signs with "slack-secret"


def serve_pages(slack_url: str, workers: int, work_ms: float, conn) -> None:
    """The page server and its bot, in a process of its own as `fivewhys serve` is (the senders and the
    stand-in Slack would otherwise share its GIL); tells its URL, then runs until told to stop."""
    os.environ.update(FIVEWHYS_PAGERDUTY_SECRET=PD_SECRET, SLACK_SIGNING_SECRET=SIGNING)

    def work(page, progress, transcript):
        time.sleep(work_ms / 1000)
        return Report(inconclusive=True, next_checks=["a stand-in investigation"]), EvidenceLedger()
    state = tempfile.TemporaryDirectory()     # a journal, as `fivewhys serve` keeps one
    bot = Bot(WebClient(base_url=slack_url, token="xoxb-bench"), None, channel="C-BENCH", workers=workers,
              investigate=work, keep_transcripts=False, journal=Path(state.name) / "pages.jsonl")
    srv = make_server(bot, "127.0.0.1", 0)
    serving = threading.Thread(target=srv.serve_forever, daemon=True)
    serving.start()
    conn.send(f"http://127.0.0.1:{srv.server_address[1]}")
    conn.recv()
    srv.shutdown()
    srv.server_close()
    serving.join(10)
    bot.close()
    state.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--commands", type=int, default=20, help="slash commands sent during the burst")
    ap.add_argument("--senders", type=int, default=32, help="connections at once")
    ap.add_argument("--workers", type=int, default=2, help="investigations at once (serve --workers)")
    ap.add_argument("--work-ms", type=float, default=20, help="how long each stand-in investigation takes")
    args = ap.parse_args()

    def page(i: int) -> tuple[int, float]:
        body = pd_body(f"PBENCH{i:05d}")
        t = time.perf_counter()
        r = client.post(f"{url}/webhooks/pagerduty", content=body, timeout=60,
                        headers={"X-PagerDuty-Signature": sign(body, PD_SECRET), "X-Webhook-Id": f"bench-{i}"})
        return r.status_code, time.perf_counter() - t

    def command(i: int) -> tuple[int, float]:
        body = urlencode({"command": "/fivewhys", "text": f"why is search failing? ({i})", "channel_id": "C-ASK",
                          "user_id": "U1", "team_id": "T1", "trigger_id": f"bench.{i}"})
        t = time.perf_counter()
        r = signed_slack(url, body, "application/x-www-form-urlencoded", client=client)
        return r.status_code, time.perf_counter() - t

    def reports() -> int:
        return sum(1 for b in slack.of("chat.postMessage") if b.get("blocks"))

    # one client for all senders: a new one per request would spend the senders' time building TLS contexts
    client = httpx.Client(limits=httpx.Limits(max_connections=args.senders))
    slack = StandInSlack()
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve_pages, args=(slack.url, args.workers, args.work_ms, theirs))
    server.start()
    try:
        url = ours.recv()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.senders) as pool:     # the storm arrives at once, not one by one
            pages = pool.map(page, range(args.pages))
            commands = pool.map(command, range(args.commands))
            pages, commands = list(pages), list(commands)
        deadline = time.monotonic() + 600
        while reports() < args.pages + args.commands and time.monotonic() < deadline:
            time.sleep(0.05)
        all_done = time.perf_counter() - t0
    finally:
        ours.send("stop")
        server.join(30)
        if server.is_alive():
            server.kill()
            server.join()
        slack.close()
        client.close()
    for name, rows, want in (("pages", pages, 202), ("slash commands", commands, 200)):
        secs = [s for _, s in rows]
        bad = sum(code != want for code, _ in rows)
        if secs:
            print(f"{name:15} {len(rows):4} acknowledged: p50 {pct(secs, .5) * 1000:7.1f} ms  "
                  f"p95 {pct(secs, .95) * 1000:7.1f} ms  max {max(secs) * 1000:7.1f} ms  not {want}: {bad}")
    print(f"all reports    {reports():4} of {args.pages + args.commands} in {all_done:.1f} s "
          f"({args.workers} workers, {args.work_ms:g} ms each; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
