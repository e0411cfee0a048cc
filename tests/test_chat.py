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
    c.expect(PROMPT)
    c.sendline("/quit")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 0
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
