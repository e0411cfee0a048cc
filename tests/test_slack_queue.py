"""The page queue on its own: state per incident, failures contained, and a journal that survives a restart."""
import threading
from datetime import datetime, timezone

import pytest

from agent.slack.queue import InvestigationQueue
from agent.slack.webhooks import Page
from conftest import closed_at_end

AT = datetime(2026, 3, 6, 17, 5, tzinfo=timezone.utc)


@pytest.fixture
def new_queue():
    """InvestigationQueue(…) whose workers are stopped when the test ends, passed or failed."""
    yield from closed_at_end(InvestigationQueue)


def page(key, resolved=False, at=AT):
    return Page(key=key, source="alertmanager", service="search", at=at, summary="s", resolved=resolved)


def test_a_worker_survives_when_reporting_a_failure_fails_too(new_queue):
    ran = []

    def run(p):
        ran.append(p.key)
        raise RuntimeError("backend down")

    def on_error(p, e):
        raise ConnectionError("slack is down as well")
    q = new_queue(run, lambda p: None, workers=1, on_error=on_error)
    for k in "abc":
        assert q.submit(page(k))
    q.join()
    assert ran == ["a", "b", "c"] and q.done == 3


def test_resolve_while_running_is_noted_once_after_the_report(new_queue):
    order, started, release = [], threading.Event(), threading.Event()

    def run(p):
        started.set()
        release.wait(10)
        order.append(("report", p.key))
    q = new_queue(run, lambda p: order.append(("resolved", p.key)), workers=2)
    q.submit(page("a"))
    started.wait(10)
    q.submit(page("a", resolved=True))
    q.submit(page("a", resolved=True))             # Alertmanager HA pairs send it twice
    release.set()
    q.join()
    assert order == [("report", "a"), ("resolved", "a")]


def test_resolved_before_its_turn_is_not_investigated(new_queue):
    ran, release = [], threading.Event()
    q = new_queue(lambda p: (ran.append(p.key), release.wait(10)), lambda p: ran.append("note"), workers=1)
    q.submit(page("first"))
    q.submit(page("second"))
    q.submit(page("second", resolved=True))        # still queued: no LLM quota spent on it
    release.set()
    q.join()
    assert ran == ["first"]


def test_the_journal_requeues_unfinished_pages_and_remembers_finished_ones(new_queue, tmp_path):
    journal = tmp_path / "pages.jsonl"
    hold = threading.Event()
    first = new_queue(lambda p: hold.wait(10) if p.key == "b" else None, lambda p: None, workers=1,
                               journal=journal)
    for k in "abc":
        first.submit(page(k))
    while first.state["b"][0] != "running":      # a finished, b running, c queued: then the process dies
        threading.Event().wait(0.01)
    with open(journal, "a") as f:
        f.write('{"key": "torn')                    # a write cut short by the crash
    ran = []
    second = new_queue(lambda p: ran.append(p.key), lambda p: None, workers=1, journal=journal)
    second.join()
    hold.set()
    assert sorted(ran) == ["b", "c"]                # nothing lost, nothing investigated twice
    assert not second.submit(page("a"))             # a re-fire of a finished incident after the restart
    assert second.state["b"] == ("finished", AT)
    first.join()
    again = []
    third = new_queue(lambda p: again.append(p.key), lambda p: None, workers=1, journal=journal)
    third.join()
    assert again == [] and len(journal.read_text().splitlines()) == 3     # compacted: one line per incident



def test_the_journal_is_private_whatever_the_umask(new_queue, tmp_path):
    """The journal holds pages (services, alert summaries): a state file, 0600 in a 0700 directory (agent/state.py),
    when created, compacted or recreated after it was removed, and when an older version left it 0644."""
    import os
    import stat
    journal = tmp_path / "serve" / "pages.jsonl"
    was = os.umask(0o022)                           # the usual umask, under which a plain open() gives 0644
    try:
        q = new_queue(lambda p: None, lambda p: None, workers=1, journal=journal)
        assert q.submit(page("a"))
        q.join()
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
        assert stat.S_IMODE(journal.parent.stat().st_mode) == 0o700
        journal.unlink()                            # appended to again after it went away
        assert q.submit(page("b"))
        q.join()
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
        q.close()
        journal.chmod(0o644)                        # as the version before this one left it
        new_queue(lambda p: None, lambda p: None, workers=1, journal=journal)
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    finally:
        os.umask(was)

def test_serve_refuses_to_start_without_telemetry_or_with_a_bad_routing_table(tmp_path):
    from typer.testing import CliRunner
    from agent.cli import app
    r = CliRunner().invoke(app, ["serve"])
    assert r.exit_code == 2 and "no telemetry" in r.output
    bad = tmp_path / "fivewhys.toml"
    bad.write_text('[slack.routes]\nsearch = 3\n')
    r = CliRunner().invoke(app, ["serve", "--config", str(bad)])
    assert r.exit_code == 2 and "slack.routes.search" in r.output
    demo = "evals/incidents/search-token-peak"
    r = CliRunner().invoke(app, ["serve", "--snapshot", str(tmp_path / "nope")], env={"SLACK_BOT_TOKEN": "xoxb-1"})
    assert r.exit_code == 2 and "nope" in r.output
    r = CliRunner().invoke(app, ["serve", "--snapshot", demo], env={"SLACK_BOT_TOKEN": ""})
    assert r.exit_code == 2 and "SLACK_BOT_TOKEN is not set" in r.output
    r = CliRunner().invoke(app, ["serve", "--socket-mode", "--snapshot", demo],
                           env={"SLACK_APP_TOKEN": "", "SLACK_BOT_TOKEN": "xoxb-1"})
    assert r.exit_code == 2 and "SLACK_APP_TOKEN" in r.output
    assert "[slack.routes]" in CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output


def test_a_re_fire_while_the_first_occurrence_runs_is_investigated_and_the_first_resolve_noted(new_queue):
    from datetime import timedelta
    ran, notes, started, release = [], [], threading.Event(), threading.Event()

    def run(p):
        ran.append(p.at)
        if len(ran) == 1:
            started.set()
            release.wait(10)
    q = new_queue(run, lambda p: notes.append(p.at), workers=1)
    later = AT + timedelta(hours=5)
    q.submit(page("a"))
    started.wait(10)
    q.submit(page("a", resolved=True))
    assert q.submit(page("a", at=later))             # the alert fires again before the first report is out
    release.set()
    q.join()
    assert ran == [AT, later] and notes == [AT]
    assert q.state["a"] == ("finished", later)


def test_a_journal_that_cannot_be_written_costs_no_page(new_queue, tmp_path):
    ran = []
    q = new_queue(lambda p: ran.append(p.key), lambda p: None, workers=1, journal=tmp_path / "j.jsonl")
    (tmp_path / "full").write_text("")
    q.journal = tmp_path / "full" / "j.jsonl"        # every write now fails (as on a full disk)
    assert q.submit(page("a"))
    q.join()
    assert ran == ["a"] and q.state["a"][0] == "finished"


def test_queued_pages_are_never_forgotten_however_many_arrive(new_queue, monkeypatch):
    import agent.slack.queue as queue_module
    monkeypatch.setattr(queue_module, "REMEMBER", 10)
    ran, release = [], threading.Event()
    q = new_queue(lambda p: (release.wait(10), ran.append(p.key)), lambda p: None, workers=1)
    for i in range(100):
        assert q.submit(page(f"p{i}"))
    release.set()
    q.join()
    assert len(ran) == 100 and len(q.state) <= 10 + 1


def test_the_journal_is_compacted_while_running(new_queue, tmp_path):
    from datetime import timedelta
    journal = tmp_path / "j.jsonl"
    q = new_queue(lambda p: None, lambda p: None, workers=1, journal=journal)
    for i in range(150):                             # ten alerts that fire and resolve all day
        for k in range(10):
            q.submit(page(f"alert{k}", at=AT + timedelta(minutes=i)))
        q.join()
        for k in range(10):
            q.submit(page(f"alert{k}", resolved=True))
        q.join()
    lines = journal.read_text().splitlines()
    assert len(lines) <= 4 * 1000 + 10               # 6,000 transitions were written
    again = new_queue(lambda p: None, lambda p: None, workers=1, journal=journal)
    assert again.state["alert3"] == ("resolved", AT + timedelta(minutes=149))


def test_close_stops_the_workers_and_a_queued_page_waits_for_the_next_start(new_queue, tmp_path):
    journal, ran, started, release = tmp_path / "pages.jsonl", [], threading.Event(), threading.Event()

    def run(p):
        ran.append(p.key)
        started.set()
        release.wait(10)
    q = new_queue(run, lambda p: None, workers=1, journal=journal)
    q.submit(page("a"))
    q.submit(page("b"))
    started.wait(10)
    closing = threading.Thread(target=q.close)
    closing.start()
    q.closed.wait(10)
    release.set()                                  # a ends after close began: its worker stops before b
    closing.join(30)
    assert not closing.is_alive() and not any(t.is_alive() for t in q.workers)
    assert ran == ["a"]
    new_queue(lambda p: ran.append(p.key), lambda p: None, workers=1, journal=journal).join()
    assert ran == ["a", "b"]
