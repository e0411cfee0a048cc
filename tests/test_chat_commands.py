"""Chat commands without an argument, evidence as a person reads it, progress lines naming each id once
(issue 14, item 8)."""
import re

from typer.testing import CliRunner

from agent.cli import app
from conftest import DEMO

runner = CliRunner()


def test_save_timeline_and_model_without_an_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["chat", str(DEMO)], input="/save\nwhy?\n/save\n/timeline\n/model\n/quit\n")
    assert res.exit_code == 0, res.output
    assert "unknown command" not in res.stdout
    assert "no report yet" in res.stdout                         # /save before any report
    assert "Root cause: search" in (tmp_path / "search-token-peak.md").read_text()
    assert (tmp_path / "timeline.png").stat().st_size > 1000
    assert "model: heuristic (/model SPEC switches)" in res.stdout


def test_evidence_rows_are_rounded(tmp_path):
    res = runner.invoke(app, ["chat", str(DEMO)], input="why?\n/evidence E5\n/quit\n", env={"COLUMNS": "200"})
    table = res.stdout[res.stdout.index("> /evidence E5"):]
    assert "query: service_map" in table
    assert re.search(r"\d\.\d", table)                            # the latencies and error rates are there …
    assert not re.search(r"\d\.\d{5,}", table), table             # … as 1736, not 1735.7640999999999


def test_a_progress_line_names_its_evidence_once():
    res = runner.invoke(app, ["demo"])
    line = next(x for x in res.stderr.splitlines() if x.startswith("→ service_map()"))
    assert line.startswith("→ service_map() E5 call graph") and "[E5]" not in line
