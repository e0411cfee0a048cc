"""One way to run an investigation (agent/session.py): what it opens is closed and the transcript ends,
whatever ends the block; stop reasons are the same strings everywhere; the loop's events are typed."""
import io
import json

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.config import Budgets
from agent.loop import SUBMIT, ModelText, ReportRejected, RunFinished, StopReason, ToolFinished, ToolStarted
from agent.models.base import ModelError, ToolCall, Turn
from agent.models.scripted import ScriptedModel, call
from agent.session import AUTO, open_investigation, open_tools
from agent.transcript import read_transcript
from factory import build
from tools.backends.snapshot import SnapshotTelemetry


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    return build(tmp_path_factory.mktemp("mini") / "mini")


@pytest.fixture
def closed(monkeypatch):
    """The telemetry objects closed so far (and really closed)."""
    seen, real = [], SnapshotTelemetry.close

    def close(self):
        seen.append(self)
        real(self)
    monkeypatch.setattr(SnapshotTelemetry, "close", close)
    return seen


class Raising:
    name = "raising"

    def __init__(self, error: BaseException):
        self.error = error

    def turn(self, messages, tools, on_text=None):
        raise self.error


def test_an_exception_in_the_run_closes_the_telemetry_and_ends_the_transcript(snap, tmp_path, closed):
    path = tmp_path / "t.jsonl"
    with pytest.raises(RuntimeError, match="provider exploded"):
        with open_investigation(snap, Raising(RuntimeError("provider exploded")), transcript=path) as inv:
            inv.run()
    assert closed == [inv.ctx.telemetry]
    lines = read_transcript(path)
    assert lines[0]["type"] == "header" and lines[0]["incident"] == "mini" and lines[0]["model"] == "raising"
    assert lines[0]["snapshot"] == str(snap) and lines[0]["budgets"]["max_steps"] == 30
    assert lines[-1]["type"] == "result" and lines[-1]["stop_reason"] == "interrupted"
    assert lines[-1]["error"] == "RuntimeError: provider exploded" and lines[-1]["report"]["inconclusive"]


def test_ctrl_c_is_an_interrupted_run_and_the_progress_hears_the_end(snap, tmp_path, closed):
    events = []
    with pytest.raises(KeyboardInterrupt):
        with open_investigation(snap, Raising(KeyboardInterrupt()), transcript=tmp_path / "t.jsonl",
                                on_event=events.append) as inv:
            inv.run()
    assert events == [RunFinished(StopReason.INTERRUPTED, None)] and len(closed) == 1
    end = read_transcript(tmp_path / "t.jsonl")[-1]
    assert (end["stop_reason"], end["error"]) == ("interrupted", None)


def test_an_error_after_the_run_still_closes_both(snap, tmp_path, closed):
    model = ScriptedModel([Turn(tool_calls=[ToolCall(id="r", name=SUBMIT, arguments={"inconclusive": True})])])
    with pytest.raises(OSError):
        with open_investigation(snap, model, transcript=tmp_path / "t.jsonl") as inv:
            inv.run()
            raise OSError("disk full while printing")
    assert len(closed) == 1 and inv.transcript._f is None
    assert read_transcript(tmp_path / "t.jsonl")[-1]["stop_reason"] == "submitted"


def test_a_model_that_cannot_load_closes_the_telemetry_and_writes_nothing(snap, tmp_path, closed):
    with pytest.raises(ModelError, match="unknown model"):
        with open_investigation(snap, "gremlin:x", transcript=tmp_path / "t.jsonl"):
            pass
    assert len(closed) == 1 and not (tmp_path / "t.jsonl").exists()


def test_telemetry_handed_in_is_closed_too_and_auto_names_the_transcript(snap, closed):
    tel = SnapshotTelemetry(snap)
    with open_investigation(tel, "heuristic", transcript=AUTO, header={"trial": 2}) as inv:
        assert inv.ctx.telemetry is tel
    assert closed == [tel]
    head = read_transcript(inv.transcript.path)[0]
    assert inv.transcript.path.name.endswith("-mini.jsonl") and inv.transcript.path.parent.name == "transcripts"
    assert head["trial"] == 2 and head["snapshot"] is None and head["model"] == "heuristic"


def test_open_tools_closes_what_it_opened(snap, closed):
    with open_tools(snap) as ctx:
        assert ctx.incident.id == "mini" and len(ctx.ledger) == 0
    assert closed == [ctx.telemetry]


def test_stop_reasons_are_the_strings_users_see():
    assert [r.value for r in StopReason] == ["submitted", "budget_steps", "budget_tokens", "budget_wall",
                                             "no_tool_calls", "report_rejected", "model_error", "interrupted"]
    assert json.dumps({"stop_reason": StopReason.BUDGET_WALL}) == '{"stop_reason": "budget_wall"}'
    assert f"{StopReason.SUBMITTED}" == "submitted"


def test_json_report_has_the_stop_reason_and_the_error_apart(snap, monkeypatch):
    res = CliRunner().invoke(app, ["investigate", str(snap), "--json", "--no-transcript", "--max-steps", "1"])
    out = json.loads(res.stdout)
    assert res.exit_code == 0 and (out["stop_reason"], out["error"]) == ("budget_steps", None)
    monkeypatch.setattr("agent.session.load_model", lambda spec, base_url=None: Raising(ModelError("401 bad key")))
    res = CliRunner().invoke(app, ["investigate", str(snap), "--json", "--no-transcript", "-m", "openai:x"])
    out = json.loads(res.stdout)
    assert res.exit_code == 1 and (out["stop_reason"], out["error"]) == ("model_error", "401 bad key")
    assert "error: the model failed after 0 tool call(s): 401 bad key" in res.stderr


def test_eval_rows_keep_the_stop_reason_and_the_error_apart(demo_dir, tmp_path):
    from evals.harness import run_case
    row = run_case(demo_dir, "openai:x", 1, Budgets(), tmp_path / "t.jsonl",
                   make_model=lambda spec: Raising(ModelError("401 bad key")))
    assert (row["stop_reason"], row["error"]) == ("model_error", "model_error: 401 bad key")
    assert json.loads(json.dumps(row))["stop_reason"] == "model_error" and not row["ac1"]


def test_the_loop_tells_typed_events_in_order(snap):
    model = ScriptedModel([
        Turn(text="looking", tool_calls=[call("describe_incident")]),
        Turn(tool_calls=[ToolCall(id="r1", name=SUBMIT, arguments={"root_cause": {"service": "x"}})]),
        Turn(tool_calls=[ToolCall(id="r2", name=SUBMIT, arguments={"inconclusive": True})]),
    ])
    events = []
    with open_investigation(snap, model, on_event=events.append) as inv:
        res = inv.run()
    kinds = [type(e) for e in events]
    assert kinds == [ModelText, ToolStarted, ToolFinished, ReportRejected, RunFinished]
    assert events[2].evidence_ids == ["E1"] and not events[2].error and events[2].seconds >= 0
    assert events[3].attempt == 1 and events[-1] == RunFinished(StopReason.SUBMITTED, None) == \
        RunFinished(res.stop_reason, res.error)


def test_streamed_text_stays_on_one_line():
    from rich.console import Console
    from agent.progress import LiveProgress
    buf = io.StringIO()
    progress = LiveProgress(Console(file=buf, width=120))
    for piece in ("The cause ", "is ", "DNS."):
        progress(ModelText(piece))
    progress(RunFinished(StopReason.SUBMITTED, None))
    assert buf.getvalue() == "The cause is DNS.\n"
