"""No page lost in Slack (issue 16, items 1, 1b, 2): Slack answering 500, 429 with Retry-After, at its pace of one
message a second per channel, or not at all within the client's timeout; and a restart after the top-level
message was posted. Against the stand-in Slack (tests/standin_slack.py) and its faults."""
import json
import threading
import time

import pytest

import agent.slack.queue as queue_module
from agent.report import Report
from agent.slack.webhooks import parse_pagerduty
from test_slack import _ledger, _report, pd_body, wait_for


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """A page kept after a failure is tried again within a second here (5 s, doubling, in `serve`)."""
    monkeypatch.setattr(queue_module, "RETRY_FIRST_S", 0.3)
    monkeypatch.setattr(queue_module, "RETRY_MAX_S", 1.0)


def work(page, progress, tr):
    return _report(), _ledger()


def tops(slack):
    return [p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]


def reports(slack):
    return [p for p in slack.of("chat.postMessage") if p.get("blocks")]


def send(bot, n, prefix="P"):
    for i in range(n):
        assert bot.page(parse_pagerduty(pd_body(f"{prefix}{i}", title=f"page {prefix}{i}")))


def one_each(slack, n, prefix="P"):
    """Every page has exactly one top-level message and one report in its thread, and its top-level message
    says how it ended (not "investigating…")."""
    top = {p["text"].split("page ")[1].split(" ")[0]: p for p in tops(slack)}
    assert sorted(top) == sorted(f"{prefix}{i}" for i in range(n)) and len(tops(slack)) == n
    per_thread = [p["thread_ts"] for p in reports(slack)]
    assert sorted(per_thread) == sorted(p["ts"] for p in top.values())
    last = {}
    for u in slack.of("chat.update"):
        last[u["ts"]] = u["text"]
    assert all(last.get(p["ts"], "").endswith("(the report is in the thread)") for p in top.values()), last


def test_slack_500_for_a_while_loses_no_page(slack, new_bot):
    slack.outage(3.0)
    bot = new_bot(None, channel="C1", investigate=work)
    send(bot, 5)
    wait_for(lambda: len(reports(slack)) == 5 and bot.queue.done >= 5 and not bot.queue.later)
    bot.queue.join()
    one_each(slack, 5)
    assert [s for _, s in slack.refused].count(500) >= 5             # the outage was seen, and outlived
    assert all(st == "finished" for st, _ in bot.queue.state.values())


def test_slack_429_with_retry_after_loses_no_page(slack, new_bot):
    slack.rate_limit(12, retry_after=1)
    bot = new_bot(None, channel="C1", investigate=work)
    send(bot, 4)
    wait_for(lambda: len(reports(slack)) == 4 and not bot.queue.later and bot.queue.done >= 4)
    bot.queue.join()
    one_each(slack, 4)
    assert [s for _, s in slack.refused].count(429) == 12


def test_posts_keep_slacks_pace_of_one_a_second_per_channel(slack, new_bot):
    slack.per_channel(0.3)                     # the stand-in refuses a second post within 0.3 s (429)
    bot = new_bot(None, channel="C1", investigate=work, per_channel_s=0.35)
    send(bot, 4)
    wait_for(lambda: len(reports(slack)) == 4)
    bot.queue.join()
    one_each(slack, 4)
    assert slack.refused == []                 # never refused: the bot kept the pace itself


def test_a_slack_call_hanging_past_the_client_timeout_leaves_no_thread_investigating(slack, new_bot):
    def hang_the_report(page, progress, tr):   # the report's post will hang
        slack.hang("chat.postMessage", 3.0)
        return _report(), _ledger()
    bot = new_bot(None, channel="C1", investigate=hang_the_report)
    bot.slack.timeout = 1
    send(bot, 1)
    wait_for(lambda: len(reports(slack)) == 1 and bot.queue.done >= 1 and not bot.queue.later, timeout=90)
    bot.queue.join()
    one_each(slack, 1)
    assert ("chat.postMessage", "hang") in slack.refused


def test_the_top_level_message_is_posted_on_receipt_while_the_workers_are_busy(slack, new_bot):
    release = threading.Event()
    bot = new_bot(None, channel="C1", workers=1, investigate=lambda p, progress, tr: (release.wait(30), work(p, progress, tr))[1])
    send(bot, 3)
    wait_for(lambda: len(tops(slack)) == 3)                  # the one worker is still on the first page
    assert not reports(slack)
    texts = sorted(p["text"] for p in tops(slack))
    assert any(t.endswith("— paged, queued (position 2)") for t in texts), texts
    assert all(" — paged, queued (position " in t or t.endswith(" — investigating…") for t in texts)
    release.set()
    wait_for(lambda: len(reports(slack)) == 3)
    bot.queue.join()
    one_each(slack, 3)


def test_a_restart_after_the_top_level_message_posts_no_second_one(slack, new_bot, tmp_path):
    """The process dies (SIGKILL) after the page's top-level message exists and before its report: the next
    process finds the message's ts in the journal and answers in that thread."""
    journal, hold = tmp_path / "pages.jsonl", threading.Event()
    first = new_bot(None, channel="C1", journal=journal,
                    investigate=lambda p, progress, tr: (hold.wait(60), work(p, progress, tr))[1])
    send(first, 1)
    wait_for(lambda: len(tops(slack)) == 1)
    notes = [json.loads(line) for line in journal.read_text().splitlines()]
    [ts] = [n["note"]["ts"] for n in notes if "ts" in n.get("note", {})]   # journaled the moment it exists
    assert ts == tops(slack)[0]["ts"]
    second = new_bot(None, channel="C1", journal=journal, investigate=work)   # the restarted process
    wait_for(lambda: len(reports(slack)) == 1)
    second.queue.join()
    assert len(tops(slack)) == 1 and reports(slack)[0]["thread_ts"] == ts
    assert not second.page(parse_pagerduty(pd_body("P0", title="page P0")))   # and a re-delivery adds nothing
    hold.set()


def test_a_restart_after_the_report_does_not_post_it_again(slack, new_bot, tmp_path):
    journal, calls = tmp_path / "pages.jsonl", []
    first = new_bot(None, channel="C1", journal=journal, investigate=work)
    send(first, 1)
    wait_for(lambda: len(reports(slack)) == 1)
    first.close()
    # the process died after the report was posted and before its page was marked finished
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    queued = next(r for r in lines if r.get("status") == "queued")
    journal.write_text("".join(json.dumps(r) + "\n" for r in lines if r.get("status") != "finished")
                       + json.dumps({**queued, "status": "running"}) + "\n")
    second = new_bot(None, channel="C1", journal=journal, investigate=lambda *a: calls.append(a) or work(*a))
    wait_for(lambda: second.queue.done >= 1)
    second.queue.join()
    assert calls == [] and len(reports(slack)) == 1 and len(tops(slack)) == 1
    assert second.queue.state["pd:P0"][0] == "finished"


def test_a_failed_investigation_is_answered_in_its_thread_even_when_slack_fails_first(slack, new_bot):
    def broken(page, progress, tr):
        slack.outage(1.5)
        raise RuntimeError("backend down")
    bot = new_bot(None, channel="C1", investigate=broken)
    send(bot, 1)
    wait_for(lambda: any("investigation failed" in p.get("text", "") for p in slack.of("chat.postMessage")))
    wait_for(lambda: not bot.queue.later and bot.queue.state["pd:P0"][0] == "finished")
    failed = [p for p in slack.of("chat.postMessage") if "investigation failed" in p.get("text", "")]
    assert len(failed) == 1 and failed[0]["thread_ts"] == tops(slack)[0]["ts"]
    assert slack.of("chat.update")[-1]["text"].endswith("the investigation failed (the report is in the thread)")


def test_the_report_is_not_investigated_again_when_only_its_post_failed(slack, new_bot):
    runs = []

    def once(page, progress, tr):
        runs.append(page.key)
        slack.outage(1.0)                      # the report's post meets the outage
        return Report(inconclusive=True, next_checks=["x"]), _ledger()
    bot = new_bot(None, channel="C1", investigate=once)
    send(bot, 1)
    wait_for(lambda: len(reports(slack)) == 1 and bot.queue.state["pd:P0"][0] == "finished")
    assert runs == ["pd:P0"]
    time.sleep(0.2)
    assert len(reports(slack)) == 1
