"""The CLI as a user runs it: the demo, --json, transcripts."""
import json
import subprocess
import sys

from typer.testing import CliRunner

from agent.cli import app
from agent.transcript import read_transcript
from factory import build

runner = CliRunner()


def test_demo_json_is_the_report_and_only_json(demo_dir):
    res = runner.invoke(app, ["demo", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["root_cause"]["service"], out["root_cause"]["kind"]) == ("search", "failed_scale_up")
    ids = {e["id"] for e in out["evidence"]}
    assert all(e in ids for link in out["chain"] for e in link["evidence"])
    assert out["usage"]["tool_calls"] > 5 and out["stop_reason"] == "submitted"


def test_demo_markdown_in_a_subprocess(demo_dir):
    # how fast (the README's < 10 s): benchmarks/run.py; the timeout only ends a hung run
    res = subprocess.run([sys.executable, "-m", "agent", "demo"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Root cause: search — failed_scale_up" in res.stdout
    assert "→ describe_incident()" in res.stderr          # tool calls shown live, on stderr


def test_transcript_written_where_asked(tmp_path):
    d = build(tmp_path / "inc")
    path = tmp_path / "run.jsonl"
    res = runner.invoke(app, ["investigate", str(d), "--transcript", str(path), "--quiet"])
    assert res.exit_code == 0, res.output
    lines = read_transcript(path)
    assert lines[0]["type"] == "header" and lines[0]["model"] == "heuristic"
    assert lines[-1]["type"] == "result" and lines[-1]["report"]["root_cause"]["service"] == "search"
    assert any(l["type"] == "message" and l["message"]["role"] == "tool" for l in lines)


def test_default_transcript_goes_to_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FIVEWHYS_STATE_DIR", str(tmp_path / "st"))
    res = runner.invoke(app, ["investigate", str(build(tmp_path / "inc")), "--quiet"])
    assert res.exit_code == 0
    assert len(list((tmp_path / "st" / "transcripts").glob("*-mini.jsonl"))) == 1


def test_validate_a_good_snapshot(tmp_path):
    res = runner.invoke(app, ["snapshot", "validate", str(build(tmp_path / "inc", gz=True))])
    assert res.exit_code == 0 and "usable; records: logs" in res.stdout and "0 problem(s)" in res.stdout


def test_python_m_agent_cli_runs_the_cli():
    res = subprocess.run([sys.executable, "-m", "agent.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "investigate" in res.stdout, res.stderr
