"""The chat as a user runs it, in a pseudo-terminal; the timeline by what it draws; ask; --continue."""
import json
import os
import subprocess
import sys

import pexpect
import pytest

from conftest import DEMO, REPO

PROMPT = r">(\x08|\x1b\[)"


def spawn(args, tmp_path, **env):
    e = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1", "COLUMNS": "120", **env}
    return pexpect.spawn(sys.executable, ["-m", "agent", *args], cwd=str(REPO), env=e, encoding="utf-8",
                         timeout=60, dimensions=(40, 120))


def quit_cleanly(c):
    """/quit at the next prompt; the REPL ends with exit status 0."""
    c.expect(PROMPT)
    c.sendline("/quit")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 0


def test_question_evidence_follow_up_and_quit(tmp_path):
    c = spawn(["chat", str(DEMO)], tmp_path, FIVEWHYS_STATE_DIR=str(tmp_path / "state"))
    c.expect("for commands")
    c.expect(PROMPT)
    c.sendline("why are search requests failing?")
    c.expect("describe_incident")                          # tool calls appear as they run
    c.expect("Root cause: search — failed_scale_up")
    c.expect(PROMPT)
    c.sendline("/evidence E2")
    c.expect("· error_onsets ·")
    c.expect("query: error_onsets")
    c.expect(PROMPT)
    c.sendline("was token ever unhealthy?")
    c.expect("need an LLM")
    c.expect(PROMPT)
    c.sendline(f"/save {tmp_path / 'out.md'}")
    c.expect("saved")
    quit_cleanly(c)
    assert "Root cause: search" in (tmp_path / "out.md").read_text()
    saved = list((tmp_path / "state" / "chats").glob("*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["evidence"][1]["id"] == "E2"


def test_ctrl_c_cancels_the_turn_and_keeps_the_session(tmp_path):
    script = tmp_path / "slow.json"
    script.write_text(json.dumps([{"tool_calls": [{"name": "describe_incident"}], "sleep_s": 30}]))
    c = spawn(["chat", str(DEMO), "--model", f"scripted:{script}"], tmp_path, FIVEWHYS_STATE_DIR=str(tmp_path / "state"))
    c.expect(PROMPT)
    c.sendline("why?")
    c.expect("why\\?")
    import time
    time.sleep(1.5)
    c.sendintr()
    c.expect("cancelled")
    c.expect(PROMPT)
    c.sendline("/help")
    c.expect("/evidence ID")
    c.expect(PROMPT)
    c.sendeof()                                            # Ctrl-D leaves with 0
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 0


def test_continue_resumes_the_last_conversation(tmp_path):
    c = spawn(["chat", str(DEMO)], tmp_path, FIVEWHYS_STATE_DIR=str(tmp_path / "state"))
    c.expect(PROMPT)
    c.sendline("why?")
    c.expect("Root cause")
    c.expect(PROMPT)
    c.sendline("/quit")
    c.expect(pexpect.EOF)
    c = spawn(["chat", "--continue"], tmp_path, FIVEWHYS_STATE_DIR=str(tmp_path / "state"))
    c.expect("resumed .* evidence items")
    c.expect(PROMPT)
    c.sendline("/evidence E1")
    c.expect("describe_incident")
    c.expect(PROMPT)
    c.sendline("/report")
    c.expect("Root cause: search")
    c.expect(PROMPT)
    c.sendline("/quit")
    c.expect(pexpect.EOF)


def test_ask_one_shot_json(tmp_path):
    r = subprocess.run([sys.executable, "-m", "agent", "ask", "why did search fail?", "--snapshot", str(DEMO),
                        "--json"], capture_output=True, text=True, cwd=REPO, timeout=60,
                       env=dict(os.environ, FIVEWHYS_STATE_DIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["root_cause"]["kind"] == "failed_scale_up"


def test_timeline_draws_series_onset_and_labelled_markers(tmp_path):
    from agent.timeline import draw_timeline
    from tools.backends.snapshot import SnapshotTelemetry
    fig = draw_timeline(SnapshotTelemetry(DEMO), tmp_path / "t.png", root_service="search")
    ax = fig.axes[0]
    lines = {l.get_label(): l for l in ax.get_lines() if not l.get_label().startswith("_")}
    assert "search (root cause)" in lines and lines["search (root cause)"].get_linewidth() == 3
    assert "api-gateway" in lines
    ys = lines["search (root cause)"].get_ydata()
    assert max(ys) > 20 and ys[0] < 5                       # errors rise from the baseline
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith(" onset 16:5") for t in texts) and any("paged 17:05" in t for t in texts)
    assert any("scaling: search scale_up failed" in t for t in texts)
    assert any("deploy: catalog v3.14.2" in t for t in texts)
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_timeline_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "agent", "timeline", str(DEMO), "--out", str(tmp_path / "x.png")],
                       capture_output=True, text=True, cwd=REPO, timeout=60,
                       env=dict(os.environ, FIVEWHYS_STATE_DIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


def test_html_report_embeds_the_timeline(tmp_path):
    from typer.testing import CliRunner
    from agent.cli import app
    r = CliRunner().invoke(app, ["investigate", str(DEMO), "--quiet", "--html", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in page and "Root cause: search" in page and "<table>" in page


def test_a_path_that_cannot_be_written_keeps_the_session(tmp_path):
    c = spawn(["chat", str(DEMO)], tmp_path, FIVEWHYS_STATE_DIR=str(tmp_path / "state"))
    c.expect(PROMPT)
    c.sendline("why?")
    c.expect("Root cause: search")
    c.expect(PROMPT)
    c.sendline(f"/save {tmp_path / 'missing' / 'x.md'}")
    c.expect("error: cannot write .*x.md: No such file or directory")
    c.expect(PROMPT)
    c.sendline(f"/timeline {tmp_path / 'missing' / 't.png'}")
    c.expect("error: cannot write .*t.png: No such file or directory")
    c.expect(PROMPT)
    c.sendline("/evidence E2")                             # the evidence is still there
    c.expect("· error_onsets ·")
    quit_cleanly(c)


def chat_with_input(args, lines, tmp_path, stdin_from="pipe"):
    env = dict(os.environ, NO_COLOR="1", FIVEWHYS_STATE_DIR=str(tmp_path / "state"))
    kw = dict(capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    if stdin_from == "pipe":
        return subprocess.run([sys.executable, "-m", "agent", "chat", *args], input=lines, **kw)
    f = tmp_path / "input.txt"
    f.write_text(lines)
    with f.open() as stdin:
        return subprocess.run([sys.executable, "-m", "agent", "chat", *args], stdin=stdin, **kw)


@pytest.mark.parametrize("stdin_from", ["file", "pipe"])
def test_questions_and_commands_from_a_file_or_a_pipe(tmp_path, stdin_from):
    r = chat_with_input([str(DEMO)], "why?\n/evidence E2\n", tmp_path, stdin_from)   # no /quit: EOF ends it
    assert r.returncode == 0, r.stderr
    assert "> why?\n" in r.stdout and "Root cause: search" in r.stdout
    assert "> /evidence E2\n" in r.stdout and "· error_onsets ·" in r.stdout


def test_continue_after_reset_resumes_the_reset_conversation(tmp_path):
    r = chat_with_input([str(DEMO)], "why?\n/reset\n", tmp_path)
    assert r.returncode == 0 and "Root cause: search" in r.stdout and "cleared" in r.stdout, r.stderr
    r = chat_with_input(["--continue"], "/evidence E1\n/report\n", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "0 evidence items" in r.stdout and "no evidence E1" in r.stdout and "no report yet" in r.stdout


def test_a_model_error_is_one_clear_line_and_keeps_the_session(tmp_path):
    import io
    from rich.console import Console
    from agent.chat import ChatSession
    from agent.models import ModelError
    from agent.session import open_investigation

    class Unreachable:
        name = "openai:x"

        def turn(self, messages, tools, on_text=None):
            raise ModelError("openai:x: cannot reach the server (Connection error.)")

    out = io.StringIO()
    with open_investigation(DEMO, "heuristic") as inv:
        s = ChatSession(inv, Console(file=out, width=120), DEMO)
        assert s.ask("why?") is not None
        messages, report, saved = list(inv.messages), s.last, s.path.read_text()
        inv.model = Unreachable()
        out.seek(0), out.truncate()
        assert s.ask("was token ever unhealthy?") is None
        assert out.getvalue().strip() == "model error: openai:x: cannot reach the server (Connection error.)"
        assert s.inv.messages == messages and s.last is report        # the conversation is as it was
        assert s.path.read_text() == saved


def test_timeline_draws_telemetry_text_literally_and_tiny_windows(tmp_path):
    import yaml
    from factory import _rewrite, build, incident_yaml
    from agent.timeline import draw_timeline
    from tools.backends.snapshot import SnapshotTelemetry
    d = build(tmp_path / "inc")
    _rewrite(d / "deployments.jsonl", lambda r: {**r, "version": r"$\x$"})
    inc = incident_yaml()
    inc["title"] = "lost $5 of $10"
    (d / "incident.yaml").write_text(yaml.safe_dump(inc))
    fig = draw_timeline(SnapshotTelemetry(d), tmp_path / "t.png", root_service="search")   # mathtext raised here
    ax = fig.axes[0]
    assert ax.get_title() == "mini: lost $5 of $10 — root cause: search" and not ax.title.get_parse_math()
    assert any(t.get_text() == r"deploy: index $\x$" for t in ax.texts)
    inc["window"]["end"] = inc["window"]["start"].replace("Z", ".000001Z")   # 1 µs; the page is 90 min later
    (d / "incident.yaml").write_text(yaml.safe_dump(inc))
    draw_timeline(SnapshotTelemetry(d), tmp_path / "tiny.png")                # FreeType raster overflow
    assert (tmp_path / "tiny.png").read_bytes()[:4] == b"\x89PNG"


def test_timeline_to_an_unsupported_format_is_one_clear_line(tmp_path):
    from typer.testing import CliRunner
    from agent.cli import app
    r = CliRunner().invoke(app, ["timeline", str(DEMO), "--out", str(tmp_path / "x.txt")])
    assert r.exit_code == 2 and r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert r.output.count("\n") == 1 and "cannot draw a timeline as .txt; use one of" in r.output
    assert ".png" in r.output and ".svg" in r.output and not (tmp_path / "x.txt").exists()
