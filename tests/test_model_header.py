"""Which model runs, and why (issue 14, item 4): one header line on stderr for investigate, ask, chat and demo;
the heuristic says it does not read questions; a default_model that cannot load names the config file."""
import json
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer

from typer.testing import CliRunner

from agent.cli import app
from factory import build
from test_provider_cli import FakeChatCompletions

runner = CliRunner()


def _header(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("model: "))


def test_the_heuristic_by_default_and_why(tmp_path):
    res = runner.invoke(app, ["investigate", str(build(tmp_path / "inc")), "--json", "--no-transcript"])
    assert res.exit_code == 0
    json.loads(res.stdout)                                   # the header is on stderr only
    assert _header(res.stderr).startswith("model: heuristic (the built-in default: no --model")


def test_given_by_model_and_suppressed_by_quiet(tmp_path):
    d = str(build(tmp_path / "inc"))
    res = runner.invoke(app, ["investigate", d, "--model", "heuristic", "--no-transcript"])
    assert _header(res.stderr) == "model: heuristic (--model)"
    res = runner.invoke(app, ["investigate", d, "--quiet", "--no-transcript"])
    assert res.exit_code == 0 and "model:" not in res.stderr


def test_from_the_config_files_default_model(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('default_model = "heuristic"\n')
    monkeypatch.setenv("FIVEWHYS_CONFIG", str(cfg))
    res = runner.invoke(app, ["investigate", str(build(tmp_path / "inc")), "--no-transcript"])
    assert _header(res.stderr) == f"model: heuristic (default_model in {cfg})"


def test_an_unknown_default_model_names_the_config_file(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('default_model = "nosuch:model"\n')
    monkeypatch.setenv("FIVEWHYS_CONFIG", str(cfg))
    res = runner.invoke(app, ["investigate", str(build(tmp_path / "inc")), "--no-transcript"])
    assert res.exit_code == 2
    assert f"{cfg}: default_model:" in " ".join(res.stderr.split()) and "nosuch" in res.stderr


def test_a_key_in_the_environment_picks_a_paid_model_and_says_so(demo_dir, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatCompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeChatCompletions.requests = []
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "FIVEWHYS_STATE_DIR": str(tmp_path),
           "OPENAI_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}/v1"}
    try:
        res = subprocess.run([sys.executable, "-m", "agent", "investigate", str(demo_dir), "--json"],
                             capture_output=True, text=True, timeout=120, env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["stop_reason"] == "submitted"
    assert _header(res.stderr).startswith("model: openai:gpt-5.1 (OPENAI_API_KEY is set; --model heuristic")


def test_demo_ask_and_chat_say_which_model(tmp_path):
    d = str(build(tmp_path / "inc"))
    res = runner.invoke(app, ["demo", "--json"])
    assert _header(res.stderr) == "model: heuristic (the demo runs it unless --model names another)"
    res = runner.invoke(app, ["ask", "why?", "--snapshot", d, "--json"])
    assert _header(res.stderr).startswith("model: heuristic (the built-in default")
    res = runner.invoke(app, ["chat", d], input="/quit\n")
    assert res.exit_code == 0 and _header(res.stderr).startswith("model: heuristic (the built-in default")


def test_the_heuristic_says_it_does_not_read_questions(tmp_path):
    d = str(build(tmp_path / "inc"))
    for args in (["investigate", d, "-q", "why did search fail?"], ["ask", "why did search fail?", "--snapshot", d]):
        res = runner.invoke(app, [*args, "--quiet"])
        assert res.exit_code == 0
        assert "the heuristic does not read questions" in " ".join(res.stderr.split())
    res = runner.invoke(app, ["investigate", d, "--quiet"])
    assert "does not read questions" not in res.stderr
    res = runner.invoke(app, ["chat", d], input="why did search fail?\n/quit\n")
    assert "does not read questions" in " ".join(res.stdout.split())
