"""How `fivewhys serve` takes a page storm, and whether Slack's faults cost a page. Slack is a stand-in on
loopback (tests/standin_slack.py); the page server runs in a process of its own, as `serve` does.

    python benchmarks/page_burst.py [--pages 200] [--commands 20] [--senders 32] [--workers 2] [--work-ms 20]
                                    [--channels 10] [--fault-pages 20] [--outage-s 20] [--only burst|faults]

The burst: signed PagerDuty pages (spread over --channels routed channels) with Slack slash commands
alongside, sent at once. Prints p50/p95/max of the webhook replies (202) and of the slash commands' acks
(Slack wants them within 3 s), and the time until every page and command had its report.

The faults, each with --fault-pages pages in one channel: Slack answering 500 for --outage-s seconds; 429
with Retry-After: 1 on the first 40 calls; Slack's pace of one message a second per channel (a faster post
is refused with 429); chat.postMessage hanging past the client's timeout (8 s against 5 s, the shape of 35 s
against serve's 30 s). Each prints the pages lost (no top-level message or no report), doubled (more than
one of either) and left "investigating…" (a top-level message that does not say how it ended), and how
long until every page had its report.

The investigation is a stand-in taking --work-ms, so the figures are the server's, the queue's and Slack's
pace, not a model's. The tests check what happens (tests/test_slack*.py); how fast is measured here.
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
ENDED = "(the report is in the thread)"                      # how a top-level message says its page ended


def serve_pages(slack_url: str, workers: int, work_ms: float, channels: int, timeout_s: int, conn) -> None:
    """The page server and its bot, in a process of its own as `fivewhys serve` is (the senders and the
    stand-in Slack would otherwise share its GIL); tells its URL, then runs until told to stop."""
    os.environ.update(FIVEWHYS_PAGERDUTY_SECRET=PD_SECRET, SLACK_SIGNING_SECRET=SIGNING)

    def work(page, progress, transcript):
        time.sleep(work_ms / 1000)
        return Report(inconclusive=True, next_checks=["a stand-in investigation"]), EvidenceLedger()
    state = tempfile.TemporaryDirectory()     # a journal, as `fivewhys serve` keeps one
    routes = {f"svc{k}": f"C-BENCH-{k}" for k in range(channels)}
    bot = Bot(WebClient(base_url=slack_url, token="xoxb-bench", timeout=timeout_s), None, routes,
              channel="C-BENCH", workers=workers, investigate=work, keep_transcripts=False,
              journal=Path(state.name) / "pages.jsonl")
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


class Run:
    """A stand-in Slack and a page server process, for one scenario."""

    def __init__(self, args, channels: int = 1, timeout_s: int = 30):
        self.args, self.slack = args, StandInSlack()
        self.client = httpx.Client(limits=httpx.Limits(max_connections=args.senders))
        ours, theirs = multiprocessing.Pipe()
        self.pipe, self.server = ours, multiprocessing.get_context("spawn").Process(
            target=serve_pages, args=(self.slack.url, args.workers, args.work_ms, channels, timeout_s, theirs))
        self.server.start()
        self.url = ours.recv()

    def page(self, i: int, channels: int = 1) -> tuple[int, float]:
        body = pd_body(f"PBENCH{i:05d}", title=f"page {i:05d}", service=f"svc{i % channels}")
        t = time.perf_counter()
        r = self.client.post(f"{self.url}/webhooks/pagerduty", content=body, timeout=60, headers={
            "X-PagerDuty-Signature": sign(body, PD_SECRET), "X-Webhook-Id": f"bench-{i}"})
        return r.status_code, time.perf_counter() - t

    def command(self, i: int) -> tuple[int, float]:
        body = urlencode({"command": "/fivewhys", "text": f"why is search failing? ({i})", "channel_id": "C-ASK",
                          "user_id": "U1", "team_id": "T1", "trigger_id": f"bench.{i}"})
        t = time.perf_counter()
        r = signed_slack(self.url, body, "application/x-www-form-urlencoded", client=self.client)
        return r.status_code, time.perf_counter() - t

    def reports(self) -> int:
        return sum(1 for b in self.slack.of("chat.postMessage") if b.get("blocks"))

    def tally(self, pages: int) -> dict[str, int]:
        """Per page, from what the stand-in Slack holds: lost, doubled, left "investigating…"."""
        tops = [p for p in self.slack.of("chat.postMessage") if not p.get("thread_ts") and "page " in p["text"]]
        by_page: dict[str, list] = {}
        for p in tops:
            by_page.setdefault(p["text"].split("page ")[1][:5], []).append(p["ts"])
        in_thread: dict[str, int] = {}
        for p in self.slack.of("chat.postMessage"):
            if p.get("blocks"):
                in_thread[p["thread_ts"]] = in_thread.get(p["thread_ts"], 0) + 1
        last = {u["ts"]: u["text"] for u in self.slack.of("chat.update")}
        lost = doubled = waiting = 0
        for i in range(pages):
            ts = by_page.get(f"{i:05d}", [])
            n = sum(in_thread.get(t, 0) for t in ts)
            lost += not ts or n == 0
            doubled += len(ts) > 1 or n > 1
            waiting += bool(ts) and not last.get(ts[0], "").endswith(ENDED)
        return {"lost": lost, "doubled": doubled, "investigating": waiting}

    def wait(self, done, limit_s: float) -> float:
        t0, deadline = time.perf_counter(), time.monotonic() + limit_s
        while not done() and time.monotonic() < deadline:
            time.sleep(0.1)
        return time.perf_counter() - t0

    def close(self) -> None:
        self.pipe.send("stop")
        self.server.join(60)
        if self.server.is_alive():
            self.server.kill()
            self.server.join()
        self.slack.close()
        self.client.close()


def burst(args) -> None:
    run = Run(args, channels=args.channels)
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.senders) as pool:     # the storm arrives at once, not one by one
            pages = pool.map(lambda i: run.page(i, args.channels), range(args.pages))
            commands = pool.map(run.command, range(args.commands))
            pages, commands = list(pages), list(commands)
        run.wait(lambda: run.reports() >= args.pages + args.commands, 900)
        all_done, tally = time.perf_counter() - t0, run.tally(args.pages)
    finally:
        run.close()
    for name, rows, want in (("pages", pages, 202), ("slash commands", commands, 200)):
        secs = [s for _, s in rows]
        bad = sum(code != want for code, _ in rows)
        if secs:
            print(f"{name:15} {len(rows):4} acknowledged: p50 {pct(secs, .5) * 1000:7.1f} ms  "
                  f"p95 {pct(secs, .95) * 1000:7.1f} ms  max {max(secs) * 1000:7.1f} ms  not {want}: {bad}")
    print(f"all reports    {run.reports():4} of {args.pages + args.commands} in {all_done:.1f} s "
          f"({args.workers} workers, {args.work_ms:g} ms each, {args.channels} channels at 1 post/s; "
          f"load average {os.getloadavg()[0]:.1f}); pages lost {tally['lost']}, doubled {tally['doubled']}")


def faults(args) -> None:
    scenarios = [
        (f"Slack 500 for {args.outage_s:g} s", lambda s: s.outage(args.outage_s), 30),
        ("429 Retry-After 1, first 40 calls", lambda s: s.rate_limit(40, retry_after=1), 30),
        ("Slack's 1 post/s per channel", lambda s: s.per_channel(1.0), 30),
        ("postMessage hangs 8 s (timeout 5 s) x3", lambda s: s.hang("chat.postMessage", 8.0, times=3), 5),
    ]
    for name, fault, timeout_s in scenarios:
        run = Run(args, timeout_s=timeout_s)
        try:
            fault(run.slack)
            with ThreadPoolExecutor(args.senders) as pool:
                codes = [c for c, _ in pool.map(run.page, range(args.fault_pages))]
            took = run.wait(lambda: run.tally(args.fault_pages) == {"lost": 0, "doubled": 0, "investigating": 0},
                            600)
            tally = run.tally(args.fault_pages)
            refused = len(run.slack.refused)
        finally:
            run.close()
        print(f"{name:40} {args.fault_pages} pages ({sum(c == 202 for c in codes)} accepted): lost {tally['lost']},"
              f" doubled {tally['doubled']}, left investigating {tally['investigating']}; all answered in "
              f"{took:.1f} s; {refused} Slack calls refused")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--commands", type=int, default=20, help="slash commands sent during the burst")
    ap.add_argument("--senders", type=int, default=32, help="connections at once")
    ap.add_argument("--workers", type=int, default=2, help="investigations at once (serve --workers)")
    ap.add_argument("--work-ms", type=float, default=20, help="how long each stand-in investigation takes")
    ap.add_argument("--channels", type=int, default=10, help="routed channels the burst's pages spread over")
    ap.add_argument("--fault-pages", type=int, default=20, help="pages in each fault scenario (one channel)")
    ap.add_argument("--outage-s", type=float, default=20, help="how long Slack answers 500")
    ap.add_argument("--only", choices=["burst", "faults"])
    args = ap.parse_args()
    if args.only != "faults":
        burst(args)
    if args.only != "burst":
        faults(args)


if __name__ == "__main__":
    main()
