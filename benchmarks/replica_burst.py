"""Two `fivewhys serve` replicas on one Redis, a page burst with duplicate deliveries spread across both, and one
replica SIGKILLed in the middle of it: is any page lost or doubled, and how fast are pages acknowledged?

    python benchmarks/replica_burst.py [--pages 200] [--duplicates 200] [--workers 2] [--lease-s 3] [--spread-s 10]
                                       [--channels 20]

Starts Debian's redis-server and a stand-in Slack on loopback, writes a small snapshot (the heuristic
investigates it in a tenth of a second) and runs each replica as `fivewhys serve --snapshot … --config …`
with `[serve] store = "redis://…"`. Deliveries are signed PagerDuty pages, sent over --spread-s by 32
senders; each page is delivered once more (half with its X-Webhook-Id again, half as a new delivery of the
same incident) to the other replica. The pages spread over --channels routed channels: each replica keeps
Slack's pace of about one post a second per channel (a burst into one channel takes 1.1 s a message). Replica 0 is killed with SIGKILL half-way through; what was sent to it
afterwards is sent to replica 1, as a load balancer would. A page is lost when it has no top-level message or
no report in the stand-in Slack, doubled when it has more than one of either. Prints lost/doubled, the
acknowledgements' p50/p95/max (the issue's target: p95 < 1 s) and the time until the last report.
tests/test_replicas.py runs the same scenario and asserts the counts; the timings are measured only here.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from agent.slack.resume import PAGE_EVENT, REPORT_EVENT  # noqa: E402
from factory import ts, write_jsonl  # noqa: E402
from test_slack import pd_body, sign  # noqa: E402

PD_SECRET = "burst-pd-secret"


def micro_snapshot(root: Path) -> Path:
    """search fails to scale up at 00:12: three records, a tenth of a CPU-second for the heuristic (a snapshot
    with its CPU and error logs too takes twice that; the burst measures the queue, not the investigation)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "incident.yaml").write_text(yaml.safe_dump({
        "format": 1, "id": "micro", "title": "search errors", "window": {"start": ts(0), "end": ts(30)},
        "alert": {"at": ts(20), "service": "search", "summary": "search 5xx above 2%", "labels": {}},
        "question": None}, sort_keys=False))
    write_jsonl(root / "scaling.jsonl", [
        {"time": ts(12 + k), "service": "search", "action": "scale_up", "from_count": 4, "desired_count": 8,
         "actual_count": 4, "status": "failed", "message": "0/12 nodes are available: 12 Insufficient cpu"}
        for k in range(3)])
    return root


def start_replicas(n: int, slack_url: str, redis_url: str, workdir: Path, workers: int, lease_s: float,
                   channels: int = 20):
    """n `fivewhys serve` processes sharing the store; returns [(process, url, log path)] once all answer /healthz."""
    from conftest import free_ports
    snapshot = micro_snapshot(workdir / "snapshot")
    routes = "".join(f'svc{k} = "C-BURST-{k}"\n' for k in range(channels))
    (workdir / "fivewhys.toml").write_text(f'[serve]\nstore = "{redis_url}"\nlease_s = {lease_s}\n'
                                           f'[slack.routes]\n{routes}')
    out = []
    for i, port in enumerate(free_ports(n)):
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-burst", "SLACK_API_URL": slack_url, "PYTHONPATH": str(REPO),
               "FIVEWHYS_PAGERDUTY_SECRET": PD_SECRET, "FIVEWHYS_SLACK_CHANNEL": "C-PAGES",
               "FIVEWHYS_STATE_DIR": str(workdir / f"state-{i}")}
        env.pop("FIVEWHYS_STORE", None)
        log = workdir / f"serve-{i}.log"
        with open(log, "w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "serve", "--snapshot", str(snapshot), "--config",
                                     str(workdir / "fivewhys.toml"), "--model", "heuristic", "--workers", str(workers),
                                     "--port", str(port)], stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=REPO)
        out.append((proc, f"http://127.0.0.1:{port}", log))
    deadline = time.monotonic() + 120
    for proc, url, log in out:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(out)
                raise RuntimeError(f"serve did not start: {log.read_text()[-800:]}")
            time.sleep(0.2)
    return out


def stop(replicas) -> None:
    for proc, _, _ in replicas:
        if proc.poll() is None:
            proc.terminate()
    for proc, _, _ in replicas:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def deliveries(pages: int, duplicates: int, seed: int = 16) -> list[tuple[int, str, int]]:
    """(incident number, X-Webhook-Id, replica) for every delivery, in a seeded random order."""
    rows = [(i, f"w-{i}", i % 2) for i in range(pages)]
    rows += [(j, f"w-{j}" if k % 2 else f"w-{j}-again", (j + 1) % 2) for k in range(duplicates) for j in [k % pages]]
    random.Random(seed).shuffle(rows)
    return rows


def count(slack, pages: int) -> tuple[list[str], list[str]]:
    """(lost, doubled) incident keys, from what the stand-in Slack received."""
    def keys(event: str) -> Counter:
        return Counter(((b.get("metadata") or {}).get("event_payload") or {}).get("key")
                       for b in slack.of("chat.postMessage") if (b.get("metadata") or {}).get("event_type") == event)
    tops, reports = keys(PAGE_EVENT), keys(REPORT_EVENT)
    want = [f"pd:PBURST{i:04d}" for i in range(pages)]
    return ([k for k in want if not tops[k] or not reports[k]],
            [k for k in want if tops[k] > 1 or reports[k] > 1])


def run_burst(slack, redis_url: str, workdir: Path, *, pages: int = 200, duplicates: int = 200, workers: int = 2,
              lease_s: float = 3, spread_s: float = 10, senders: int = 32, wait_s: float = 240,
              channels: int = 20) -> dict:
    import redis
    slack.epoch = int(time.time())        # Slack's message times follow the pages' (resume.py looks after the page)
    replicas = start_replicas(2, slack.url, redis_url, workdir, workers, lease_s, channels)
    urls = [url for _, url, _ in replicas]
    plan = deliveries(pages, duplicates)
    client = httpx.Client(limits=httpx.Limits(max_connections=senders))
    killed = threading.Event()
    t0 = time.monotonic()

    def send(k: int) -> tuple[int, float]:
        i, hook, target = plan[k]
        due = t0 + k * spread_s / len(plan)
        time.sleep(max(0.0, due - time.monotonic()))
        body = pd_body(f"PBURST{i:04d}", service=f"svc{i % channels}")
        began = time.monotonic()
        for url in (urls[target], urls[1 - target]):   # refused by a dead replica: the other one (a load balancer)
            if url == urls[0] and killed.is_set():
                continue
            try:
                r = client.post(f"{url}/webhooks/pagerduty", content=body, timeout=30,
                                headers={"X-PagerDuty-Signature": sign(body, PD_SECRET), "X-Webhook-Id": hook})
                return r.status_code, time.monotonic() - began
            except httpx.TransportError:
                continue
        return 0, time.monotonic() - began

    def kill() -> None:
        time.sleep(spread_s / 2)
        replicas[0][0].send_signal(signal.SIGKILL)
        killed.set()
    killer = threading.Thread(target=kill)
    try:
        killer.start()
        with ThreadPoolExecutor(senders) as pool:
            acks = list(pool.map(send, range(len(plan))))
        killer.join()
        sent_by = time.monotonic() - t0
        r = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and (count(slack, pages)[0] or r.llen("fivewhys:queue")
                                               or r.zcard("fivewhys:leases") or r.zcard("fivewhys:later")):
            time.sleep(0.2)
        all_done = time.monotonic() - t0
        time.sleep(0.5)                       # anything still on its way to Slack would count as doubled
    finally:
        stop(replicas)
        client.close()
    lost, doubled = count(slack, pages)
    secs = sorted(s for code, s in acks if code == 202)
    survivor = replicas[1][2].read_text()
    return {"acknowledged": len(secs), "refused": len(acks) - len(secs), "lost": lost, "doubled": doubled,
            "ack_p50_s": secs[len(secs) // 2] if secs else None,
            "ack_p95_s": secs[min(len(secs) - 1, int(0.95 * len(secs)))] if secs else None,
            "ack_max_s": secs[-1] if secs else None, "killed_mid_burst": sent_by > spread_s / 2,
            "taken_over": survivor.count("(attempt "), "all_reports_s": all_done}


def main() -> None:
    import tempfile
    from redis_server import redis_server
    from standin_slack import StandInSlack
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--duplicates", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2, help="investigations at once per replica")
    ap.add_argument("--lease-s", type=float, default=3, help="[serve] lease_s: how soon a dead replica's page moves")
    ap.add_argument("--spread-s", type=float, default=10, help="the burst is sent over this long")
    ap.add_argument("--channels", type=int, default=20, help="routed channels the pages spread over")
    args = ap.parse_args()
    slack = StandInSlack()
    try:
        with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp) / "redis") as url:
            out = run_burst(slack, url, Path(tmp), pages=args.pages, duplicates=args.duplicates,
                            workers=args.workers, lease_s=args.lease_s, spread_s=args.spread_s,
                            channels=args.channels)
    finally:
        slack.close()
    print(f"deliveries     {out['acknowledged'] + out['refused']:4} ({args.pages} pages + {args.duplicates} duplicates) "
          f"to 2 replicas, replica 0 SIGKILLed at {args.spread_s / 2:g} s; {out['taken_over']} pages taken over")
    print(f"acknowledged   {out['acknowledged']:4}: p50 {out['ack_p50_s'] * 1000:7.1f} ms  p95 "
          f"{out['ack_p95_s'] * 1000:7.1f} ms  max {out['ack_max_s'] * 1000:7.1f} ms  not 202: {out['refused']}")
    print(f"lost {len(out['lost'])}, doubled {len(out['doubled'])}; every report in {out['all_reports_s']:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    if out["lost"] or out["doubled"]:
        print(f"lost: {out['lost'][:10]}  doubled: {out['doubled'][:10]}")


if __name__ == "__main__":
    main()
