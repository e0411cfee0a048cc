"""`fivewhys serve` logs one line per page received, queued, investigated and finished (issue 14, item 8)."""
import logging
from datetime import datetime, timezone

from agent.cli_serve import log_pages
from agent.slack.queue import InvestigationQueue
from agent.slack.webhooks import Page

AT = datetime(2026, 3, 6, 17, 5, tzinfo=timezone.utc)


def _page(key, resolved=False):
    return Page(key=key, source="alertmanager", service="search", at=AT, summary="s", resolved=resolved)


def test_each_page_is_logged_as_it_moves(caplog):
    caplog.set_level(logging.INFO, logger="fivewhys")
    q = InvestigationQueue(lambda p: None, lambda p: None, workers=1)
    q.submit(_page("am:1"))
    q.join()
    q.submit(_page("am:1"))                                   # a re-fire of the same alert
    q.submit(_page("am:1", resolved=True))
    q.join()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("fivewhys")]
    assert lines[0] == "page am:1 received from alertmanager (service search): queued (0 before it)"
    assert lines[1] == "page am:1: investigating"
    assert lines[2].startswith("page am:1: finished in ") and lines[2].endswith(" s")
    assert lines[3].endswith(": already finished, not investigated again")
    assert lines[4].endswith(": resolved while finished")


def test_a_failed_investigation_is_logged(caplog):
    caplog.set_level(logging.INFO, logger="fivewhys")

    def run(p):
        raise RuntimeError("backend down")
    q = InvestigationQueue(run, lambda p: None, workers=1)
    q.submit(_page("am:2"))
    q.join()
    assert "page am:2 failed: RuntimeError: backend down" in caplog.messages
    assert not any("finished" in m for m in caplog.messages)


def test_serve_sends_the_log_to_stderr_with_the_time(capsys):
    log = logging.getLogger("fivewhys")
    saved = (log.handlers[:], log.level, log.propagate)
    log.handlers.clear()
    try:
        log_pages()
        logging.getLogger("fivewhys.slack").info("page %s: investigating", "pd:1")
        err = capsys.readouterr().err
        assert err.endswith("INFO page pd:1: investigating\n") and err[:4].isdigit()
    finally:
        log.handlers[:], log.level, log.propagate = saved
