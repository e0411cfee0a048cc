"""A backend that is down or erroring, or a tool that fails, is not an ordinary "inconclusive" (issue 14, item 2):
which source failed and how is in the report, `--json`, Slack and the transcript, and the exit code is 3."""
import json

import pytest
from typer.testing import CliRunner

from agent.cli import app
from conftest import DEMO, free_ports

runner = CliRunner()


@pytest.fixture
def prometheus_down(tmp_path):
    """The demo's logs and spans from its snapshot, its metrics from a Prometheus on a closed loopback port."""
    port = free_ports()[0]
    cfg = tmp_path / "down.toml"
    snap = str(DEMO).replace("\\", "/")
    cfg.write_text("".join(f'[sources.{s}]\nbackend = "snapshot"\npath = "{snap}"\n' for s in ("logs", "spans"))
                   + f'[sources.metrics]\nbackend = "prometheus"\nurl = "http://127.0.0.1:{port}"\ntimeout_s = 5\n')
    return ["--config", str(cfg), "--service", "search", "--at", "2026-03-06T17:05Z", "--no-transcript"], port


def test_prometheus_down_is_in_the_report_the_json_and_the_exit_code(prometheus_down):
    args, port = prometheus_down
    res = runner.invoke(app, ["investigate", *args])
    assert res.exit_code == 3, res.output
    assert "Data that could not be read" in res.output
    assert f"metrics: prometheus at http://127.0.0.1:{port}" in res.output
    assert "could not read all of its data" in res.output
    js = runner.invoke(app, ["investigate", *args, "--json"])
    assert js.exit_code == 3
    doc = json.loads(js.stdout)
    assert doc["failures"] and doc["failures"][0]["error"].startswith(f"metrics: prometheus at http://127.0.0.1:{port}")
    assert "ConnectError" in doc["failures"][0]["error"] and "describe_incident" in doc["failures"][0]["tools"]


def test_a_tool_that_raises_is_a_failure_said_everywhere(monkeypatch, tmp_path):
    from agent.session import open_investigation
    from agent.slack.blocks import report_blocks
    from agent.transcript import read_transcript
    from tools import TOOLS

    def broken(ctx, **kw):
        raise KeyError("bucket")
    monkeypatch.setattr(TOOLS["scaling_events"], "fn", broken)
    tr = tmp_path / "t.jsonl"
    with open_investigation(DEMO, "heuristic", transcript=tr) as inv:
        res = inv.run()
    assert [f.tools for f in res.ledger.failures] == [["scaling_events"]]
    assert "KeyError" in res.ledger.failures[0].error
    blocks = json.dumps(report_blocks(res.report, res.ledger, "k"))
    assert "Data that could not be read" in blocks and "scaling_events failed unexpectedly: KeyError" in blocks
    result = [line for line in read_transcript(tr) if line["type"] == "result"][0]
    assert result["failures"][0]["tools"] == ["scaling_events"]
    cli = runner.invoke(app, ["investigate", str(DEMO), "--no-transcript", "--quiet"])
    assert cli.exit_code == 3 and "scaling_events failed unexpectedly" in cli.output


def test_a_query_the_model_got_wrong_is_not_a_read_failure():
    from agent.session import open_tools
    from tools import TOOLS
    with open_tools(DEMO) as ctx:
        res = TOOLS["search_logs"](ctx, {"text": "([", "regex": True})
        assert res.error and "invalid regex" in res.text
        # Python's re takes a look-ahead, the store's RE2 does not: told back as the model's to fix, before the query
        res = TOOLS["search_logs"](ctx, {"text": "No instances (?!for auth)", "regex": True})
        assert res.error and "look-around" in res.text
        assert ctx.ledger.failures == []


def test_a_clean_run_exits_0_with_no_failures():
    res = runner.invoke(app, ["investigate", str(DEMO), "--no-transcript", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["failures"] == []
