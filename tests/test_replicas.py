"""`fivewhys serve` replicas on a shared Redis (agent/slack/store.py): a page is admitted once, claimed by one
replica, taken over when its replica stops renewing the lease, and never posted twice. The store is a real
redis-server started here on a loopback port (tests/redis_server.py); the burst with a replica SIGKILLed is
benchmarks/replica_burst.py's scenario, run here with its counts asserted (its timings are the benchmark's)."""
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from slack_sdk import WebClient

from agent.slack.resume import PAGE_EVENT, REPORT_EVENT, metadata
from agent.slack.store import RedisQueue, StoreError
from agent.slack.webhooks import Page
from benchmarks.replica_burst import micro_snapshot
from conftest import REPO, closed_at_end
from redis_server import redis_server

AT = datetime(2026, 3, 6, 16, 0, tzinfo=timezone.utc)     # before the stand-in Slack's message times (16:53 on)


@pytest.fixture
def redis_url(tmp_path):
    with redis_server(tmp_path / "redis") as url:
        yield url


@pytest.fixture
def replica(redis_url):
    """replica(run, …) → a RedisQueue on the test's Redis, closed when the test ends."""
    yield from closed_at_end(lambda run, on_resolved=lambda p: None, **kw:
                             RedisQueue(redis_url, run, on_resolved, **{"workers": 2, **kw}))


def page(key, resolved=False, at=AT):
    return Page(key=key, source="alertmanager", service="search", at=at, summary="s", resolved=resolved)


def wait_for(cond, timeout=30):
    t = time.monotonic()
    while not cond():
        assert time.monotonic() - t < timeout, "timed out"
        time.sleep(0.02)


def test_two_replicas_admit_each_page_once_however_the_deliveries_race(replica):
    ran, lock = [], threading.Lock()

    def run(p):
        time.sleep(0.02)               # an investigation takes a while: both replicas' workers get pages
        with lock:
            ran.append(p.key)
    a, b = replica(run), replica(run)
    started = []

    def deliver(q, i):
        started.append(q.submit(page(f"am:{i}"), f"delivery-{i}"))       # the same delivery to both replicas
        started.append(q.submit(page(f"am:{i}")))                        # and the same alert, re-sent
    threads = [threading.Thread(target=deliver, args=(q, i)) for i in range(60) for q in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert started.count(True) == 60
    a.join()
    assert sorted(ran) == sorted(f"am:{i}" for i in range(60))          # each once, on one replica or the other
    assert not b.submit(page("am:new"), "delivery-7")                    # a delivery id is shared by all replicas
    assert a.done + b.done == 60 and a.done and b.done                  # both replicas took pages


def test_a_page_whose_replica_stops_renewing_is_taken_over_once(replica, redis_url):
    hold, taken = threading.Event(), []
    dead = replica(lambda p: hold.wait(30), workers=1, lease_s=1)
    assert dead.submit(page("am:held"))
    wait_for(lambda: dead.active == 1)
    dead.closed.set()                  # as a SIGKILL would: no more renewals (its run is left hanging)
    dead.keeper.join(5)
    other = replica(lambda p: taken.append((p.key, p.attempt)), workers=1, lease_s=1)
    wait_for(lambda: taken)
    assert taken == [("am:held", 2)]
    hold.set()                         # the stopped replica's run ends late: it finishes nothing of the other's
    wait_for(lambda: dead.active == 0)
    other.join()
    assert taken == [("am:held", 2)] and not other.submit(page("am:held"))   # finished: not investigated again


def test_a_renewed_lease_is_not_taken_over_while_the_work_runs(replica):
    runs, release = [], threading.Event()

    def slow(p):
        runs.append(("slow", p.key))
        release.wait(30)
    a = replica(slow, workers=1, lease_s=0.6)
    assert a.submit(page("am:long"))
    wait_for(lambda: runs)
    b = replica(lambda p: runs.append(("other", p.key)), workers=1, lease_s=0.6)
    time.sleep(2.5)                    # four leases long: renewed by a's keeper every 0.2 s
    release.set()
    a.join()
    b.join()
    assert runs == [("slow", "am:long")]


def test_resolves_across_replicas(replica):
    notes, release, started = [], threading.Event(), threading.Event()

    def run(p):
        if p.key == "am:running":
            started.set()
            release.wait(30)
        notes.append(("report", p.key))
    a = replica(run, lambda p: notes.append(("resolved", p.key)), workers=1)
    b = replica(lambda p: notes.append(("b-report", p.key)), lambda p: notes.append(("resolved", p.key)), workers=1)
    b.closed.set()                     # b only receives: a runs everything, in order
    assert a.submit(page("am:running"))
    started.wait(10)
    assert a.submit(page("am:queued"))
    assert not b.submit(page("am:queued", resolved=True))        # resolved before its turn: never investigated
    assert not b.submit(page("am:running", resolved=True))       # resolved while running: noted after the report
    assert not b.submit(page("am:running", resolved=True))       # an HA pair sends it twice
    release.set()
    wait_for(lambda: ("resolved", "am:running") in notes)
    a.join()
    assert notes == [("report", "am:running"), ("resolved", "am:running")]
    assert not b.submit(page("am:running"))                      # the same occurrence again: nothing
    assert b.submit(page("am:running", at=AT + timedelta(hours=1)))   # a new occurrence: investigated
    wait_for(lambda: notes[-1] == ("report", "am:running"))
    a.join()
    assert not b.submit(page("am:running", resolved=True))       # finished: the resolve is noted in its thread
    wait_for(lambda: notes[-1] == ("resolved", "am:running"))
    assert notes.count(("resolved", "am:running")) == 2 and not [n for n in notes if n[0] == "b-report"]


def test_a_store_that_is_down_refuses_the_page_with_503_and_the_sender_retries(slack, new_bot, serve, tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("FIVEWHYS_ALERTMANAGER_TOKEN", "t")
    with pytest.raises(StoreError, match="cannot reach the store redis://:\\*\\*\\*@127.0.0.1:1/0"):
        RedisQueue("redis://:pw@127.0.0.1:1/0", lambda p: None, lambda p: None)
    with redis_server(tmp_path / "redis") as url:
        bot = new_bot(None, store=url, workers=1)
        srv, base = serve(bot)
    body = (b'{"version": "4", "alerts": [{"fingerprint": "f1", "status": "firing", "labels": {"service": "search"},'
            b' "startsAt": "2026-03-06T17:05:00Z"}]}')
    r = httpx.post(f"{base}/webhooks/alertmanager", content=body, headers={"Authorization": "Bearer t"}, timeout=30)
    assert r.status_code == 503 and b"store unavailable" in r.content


def test_a_taken_over_page_reuses_what_its_stopped_replica_posted(slack, new_bot, tmp_path):
    bot = new_bot(micro_snapshot(tmp_path / "micro"), {"search": "C-SEARCH"}, workers=1)
    client = WebClient(base_url=slack.url, token="xoxb-test")
    posted = page("am:posted")
    top = client.chat_postMessage(channel="C-SEARCH", text="paged", metadata=metadata(PAGE_EVENT, posted))
    bot._run(Page(**{**posted.__dict__, "attempt": 2}))        # killed after its top-level message, before noting it
    assert slack.of("conversations.history")                   # it asked Slack
    reports = [p for p in slack.of("chat.postMessage") if p.get("blocks")]
    assert [p["thread_ts"] for p in reports] == [top["ts"]]
    assert len([p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]) == 1
    client.chat_postMessage(channel="C-SEARCH", text="an older occurrence", metadata=metadata(PAGE_EVENT, page(
        "am:done", at=AT - timedelta(hours=1))))
    done = page("am:done")
    top = client.chat_postMessage(channel="C-SEARCH", text="paged", metadata=metadata(PAGE_EVENT, done))
    client.chat_postMessage(channel="C-SEARCH", thread_ts=top["ts"], text="report", blocks=[],
                            metadata=metadata(REPORT_EVENT, done))
    before = len(slack.of("chat.postMessage"))
    bot._run(Page(**{**done.__dict__, "attempt": 2}))          # killed after its report, before finishing
    assert len(slack.of("chat.postMessage")) == before         # nothing posted again
    asked = len([c for c in slack.calls if c[0].startswith("conversations")])
    bot._run(page("am:fresh"))                                  # a first attempt asks Slack nothing
    assert len([c for c in slack.calls if c[0].startswith("conversations")]) == asked


@pytest.mark.parametrize("serve_table, says", [
    ('store = "redis://127.0.0.1:1/0"', "cannot reach the store redis://127.0.0.1:1/0"),
    ('store = "postgres://db/fivewhys"', "a redis://, rediss:// or unix:// URL"),
    ('lease_s = 0', "serve.lease_s: Input should be greater than or equal to 2"),
    ('stor = "redis://x"', "serve.stor: Extra inputs are not permitted")])
def test_serve_refuses_a_bad_store_in_one_line(tmp_path, demo_dir, serve_table, says):
    (tmp_path / "f.toml").write_text(f"[serve]\n{serve_table}\n")
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-x", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "agent.cli", "serve", "--snapshot", str(demo_dir), "--config",
                        str(tmp_path / "f.toml"), "--port", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_the_serve_table_is_part_of_the_config_file(tmp_path, demo_dir):
    from tools.backends.config import load_backends
    (tmp_path / "f.toml").write_text(f'[sources.logs]\nbackend = "snapshot"\npath = "{demo_dir}"\n'
                                     '[serve]\nstore = "redis://127.0.0.1:6379/0"\nlease_s = 30\n')
    assert load_backends(tmp_path / "f.toml")        # investigate --config reads the same file serve does


def test_doctor_checks_the_store_when_one_is_configured(tmp_path, redis_url, monkeypatch):
    from typer.testing import CliRunner
    from agent.cli import app
    (tmp_path / "f.toml").write_text(f'[serve]\nstore = "{redis_url}"\n')
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    out = CliRunner().invoke(app, ["doctor", "--config", str(tmp_path / "f.toml"), "--timeout", "2"]).output
    assert f"ok      store: {redis_url}: Redis " in out
    monkeypatch.setenv("FIVEWHYS_STORE", "redis://:secret@127.0.0.1:1/0")
    out = CliRunner().invoke(app, ["doctor", "--config", str(tmp_path / "f.toml"), "--timeout", "2"]).output
    # the password is hidden (by the store's own display or by the terminal's redaction, whichever comes first)
    assert "PROBLEM store: cannot reach the store redis://" in out and "127.0.0.1:1/0" in out and "secret" not in out


def test_two_serve_replicas_lose_nothing_and_double_nothing_when_one_is_killed_mid_burst(slack, tmp_path):
    from benchmarks.replica_burst import run_burst
    with redis_server(tmp_path / "redis") as url:
        out = run_burst(slack, url, tmp_path, pages=200, duplicates=200, workers=2, lease_s=3)
    assert out["acknowledged"] == 400 and out["refused"] == 0, out
    assert out["killed_mid_burst"] and out["taken_over"] >= 1, out      # the kill did leave pages to take over
    assert out["lost"] == [] and out["doubled"] == [], out


# ---- with the Slack branch: a page kept through Slack's failures, in replica mode too ------------------------------
@pytest.fixture
def quick_retries(monkeypatch):
    import agent.slack.queue as queue_module
    monkeypatch.setattr(queue_module, "RETRY_FIRST_S", 0.3)      # read by RedisQueue at each retry
    monkeypatch.setattr(queue_module, "RETRY_MAX_S", 1.0)


def store_idle(url):
    import redis
    r = redis.Redis.from_url(url)
    return not (r.llen("fivewhys:queue") or r.zcard("fivewhys:leases") or r.zcard("fivewhys:later"))


def test_a_slack_500_in_replica_mode_keeps_the_page_for_any_replica(slack, new_bot, redis_url, quick_retries):
    import redis
    from test_slack_faults import reports, send, work
    slack.outage(5.0)       # past a poster's failing post (~1.5 s with the client's retries) and a worker's after it
    a = new_bot(None, channel="C1", investigate=work, store=redis_url, workers=1)
    b = new_bot(None, channel="C1", investigate=work, store=redis_url, workers=1)
    send(a, 3)
    send(b, 2, prefix="Q")
    wait_for(lambda: len(reports(slack)) == 5 and store_idle(redis_url), timeout=90)
    time.sleep(0.3)                                                  # nothing more on its way
    tops = [p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]
    assert len(tops) == 5 and sorted(p["thread_ts"] for p in reports(slack)) == sorted(p["ts"] for p in tops)
    assert [s for _, s in slack.refused].count(500) >= 5               # the outage was seen, and outlived
    r = redis.Redis.from_url(redis_url)
    keys = [f"pd:P{i}" for i in range(3)] + [f"pd:Q{i}" for i in range(2)]
    assert [r.hget(f"fivewhys:page:{k}", "status") for k in keys] == [b"finished"] * 5
    assert sum(int(r.hget(f"fivewhys:page:{k}", "retries") or 0) for k in keys) >= 1   # kept, not failed
    notes = [a.queue.notes.get(k) for k in keys]
    assert all(n["report"] is True and n["ts"] in {p["ts"] for p in tops} for n in notes)


def test_a_taken_over_page_reuses_the_journaled_top_level_message(slack, new_bot, redis_url):
    from slack_sdk import WebClient
    from test_slack_faults import reports, send, tops, work
    hold = threading.Event()
    a = new_bot(None, channel="C1", store=redis_url, workers=1, lease_s=1,
                investigate=lambda p, progress, tr: (hold.wait(60), work(p, progress, tr))[1])
    send(a, 1)
    wait_for(lambda: len(tops(slack)) == 1 and a.queue.active == 1)
    a.queue.closed.set()                                  # as a SIGKILL would: no more renewals
    a.queue.keeper.join(5)
    b = new_bot(None, channel="C1", store=redis_url, workers=1, lease_s=1, investigate=work)
    wait_for(lambda: len(reports(slack)) == 1)
    b.queue.join()
    assert len(tops(slack)) == 1 and reports(slack)[0]["thread_ts"] == tops(slack)[0]["ts"]
    assert not slack.of("conversations.history")         # the store had its ts: Slack was not asked
    a.slack = WebClient(base_url="http://127.0.0.1:1/", token="xoxb-test")   # the killed one posts nothing more
    hold.set()
    wait_for(lambda: a.queue.active == 0)
    assert len(reports(slack)) == 1


def test_a_slack_replay_reaching_the_other_replica_is_ignored(new_bot, redis_url):
    a = new_bot(None, channel="C1", store=redis_url, workers=1)
    b = new_bot(None, channel="C1", store=redis_url, workers=1)
    assert a.once("event", "Ev1") and not b.once("event", "Ev1") and not a.once("event", "Ev1")
    assert b.once("command", "Ev1") and a.once("event", None)          # another kind; no id: always acted on
