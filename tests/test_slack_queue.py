"""The page queue on its own: state per incident, failures contained, and a journal that survives a restart."""
import threading
from datetime import datetime, timezone

from agent.slack.queue import InvestigationQueue
from agent.slack.webhooks import Page

AT = datetime(2026, 3, 6, 17, 5, tzinfo=timezone.utc)


def page(key, resolved=False, at=AT):
    return Page(key=key, source="alertmanager", service="search", at=at, summary="s", resolved=resolved)


def test_a_worker_survives_when_reporting_a_failure_fails_too():
    ran = []

    def run(p):
        ran.append(p.key)
        raise RuntimeError("backend down")

    def on_error(p, e):
        raise ConnectionError("slack is down as well")
    q = InvestigationQueue(run, lambda p: None, workers=1, on_error=on_error)
    for k in "abc":
        assert q.submit(page(k))
    q.join()
    assert ran == ["a", "b", "c"] and q.done == 3


def test_resolve_while_running_is_noted_once_after_the_report():
    order, started, release = [], threading.Event(), threading.Event()

    def run(p):
        started.set()
        release.wait(10)
        order.append(("report", p.key))
    q = InvestigationQueue(run, lambda p: order.append(("resolved", p.key)), workers=2)
    q.submit(page("a"))
    started.wait(10)
    q.submit(page("a", resolved=True))
    q.submit(page("a", resolved=True))             # Alertmanager HA pairs send it twice
    release.set()
    q.join()
    assert order == [("report", "a"), ("resolved", "a")]


def test_resolved_before_its_turn_is_not_investigated():
    ran, release = [], threading.Event()
    q = InvestigationQueue(lambda p: (ran.append(p.key), release.wait(10)), lambda p: ran.append("note"), workers=1)
    q.submit(page("first"))
    q.submit(page("second"))
    q.submit(page("second", resolved=True))        # still queued: no LLM quota spent on it
    release.set()
    q.join()
    assert ran == ["first"]


def test_the_journal_requeues_unfinished_pages_and_remembers_finished_ones(tmp_path):
    journal = tmp_path / "pages.jsonl"
    hold = threading.Event()
    first = InvestigationQueue(lambda p: hold.wait(10) if p.key == "b" else None, lambda p: None, workers=1,
                               journal=journal)
    for k in "abc":
        first.submit(page(k))
    while first.state["b"][0] != "running":      # a finished, b running, c queued: then the process dies
        threading.Event().wait(0.01)
    with open(journal, "a") as f:
        f.write('{"key": "torn')                    # a write cut short by the crash
    ran = []
    second = InvestigationQueue(lambda p: ran.append(p.key), lambda p: None, workers=1, journal=journal)
    second.join()
    hold.set()
    assert sorted(ran) == ["b", "c"]                # nothing lost, nothing investigated twice
    assert not second.submit(page("a"))             # a re-fire of a finished incident after the restart
    assert second.state["b"] == ("finished", AT)
    first.join()
    again = []
    third = InvestigationQueue(lambda p: again.append(p.key), lambda p: None, workers=1, journal=journal)
    third.join()
    assert again == [] and len(journal.read_text().splitlines()) == 3     # compacted: one line per incident


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
