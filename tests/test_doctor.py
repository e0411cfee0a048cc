"""`fivewhys doctor` (issue 14, item 9): the settings, the model that would run and its key, each configured
backend (respx at the HTTP layer, a loopback socket that never answers) and Slack's auth.test (a loopback
stand-in). No network."""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import respx
from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()
PROM, LOKI = "http://prom.test:9090", "http://loki.test:3100"


@pytest.fixture
def slack(monkeypatch):
    """A stand-in Slack Web API: auth.test accepts the token "xoxb-good" only."""
    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            good = self.path.endswith("/auth.test") and self.headers.get("authorization") == "Bearer xoxb-good"
            body = json.dumps({"ok": True, "user": "fivewhys", "team": "Acme"} if good else
                              {"ok": False, "error": "invalid_auth"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SLACK_API_URL", f"http://127.0.0.1:{server.server_address[1]}/api/")
    yield
    server.shutdown()
    server.server_close()


def _config(tmp_path, body: str):
    cfg = tmp_path / "fivewhys.toml"
    cfg.write_text(body)
    return str(cfg)


def _lines(res) -> dict[str, str]:
    """'what' (before the first colon) → the whole line."""
    return {line.split()[1].rstrip(":"): line for line in res.stdout.splitlines()[:-1]}


@respx.mock
def test_one_line_per_problem_and_exit_1(tmp_path, slack, monkeypatch):
    respx.get(url__startswith=f"{PROM}/api/v1/").respond(json={"status": "success", "data": ["up"]})
    respx.get(url__startswith=f"{LOKI}/").mock(side_effect=httpx.ConnectError("connection refused"))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
    cfg = _config(tmp_path, f'[sources.metrics]\nbackend = "prometheus"\nurl = "{PROM}"\n'
                            f'[sources.logs]\nbackend = "loki"\nurl = "{LOKI}"\n[slack.routes]\nsearch = "#search"\n')
    res = runner.invoke(app, ["doctor", "--config", cfg, "--model", "openai:gpt-5.1"])
    assert res.exit_code == 1, res.output
    lines = _lines(res)
    assert lines["metrics"].startswith(f"ok      metrics: prometheus at {PROM}: answered in ")
    assert lines["logs"].startswith(f"PROBLEM logs: loki at {LOKI}: ") and "ConnectError" in lines["logs"]
    assert lines["model"].startswith("PROBLEM model: openai:gpt-5.1 (--model) cannot load: OPENAI_API_KEY is not "
                                     "set")
    assert lines["slack"].startswith("PROBLEM slack: SLACK_BOT_TOKEN is refused by ")
    assert lines["slack"].endswith(": invalid_auth")
    assert res.stdout.splitlines()[-1] == "3 problem(s)"
    assert sum(line.startswith("PROBLEM") for line in res.stdout.splitlines()) == 3


@respx.mock
def test_ready_names_the_model_its_key_and_the_bot(tmp_path, slack, monkeypatch):
    respx.get(url__startswith=f"{PROM}/api/v1/").respond(json={"status": "success", "data": []})
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-good")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = _config(tmp_path, f'[sources.metrics]\nbackend = "prometheus"\nurl = "{PROM}"\n')
    res = runner.invoke(app, ["doctor", "--config", cfg])
    assert res.exit_code == 0, res.output
    lines = _lines(res)
    assert lines["model"] == ("ok      model: openai:gpt-5.1 (OPENAI_API_KEY is set; --model heuristic runs the "
                              "built-in investigator, with no key and no cost); its key OPENAI_API_KEY is set")
    assert lines["slack"] == "ok      slack: SLACK_BOT_TOKEN is fivewhys in Acme"
    assert res.stdout.splitlines()[-1] == "ready"


def test_a_backend_that_never_answers_is_cut_at_the_timeout(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)                                       # connects, then never a byte back
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    cfg = _config(tmp_path, f'[sources.registry]\nbackend = "consul"\nurl = "{url}"\ntimeout_s = 60\n')
    try:
        res = runner.invoke(app, ["doctor", "--config", cfg, "--timeout", "1"])
    finally:
        silent.close()
    assert res.exit_code == 1
    assert _lines(res)["registry"] == f"PROBLEM registry: consul at {url}: no answer within 1 s"


def test_a_broken_config_or_routing_table_is_one_problem(tmp_path):
    res = runner.invoke(app, ["doctor", "--config", _config(tmp_path, '[sources.nosuch]\nbackend = "snapshot"\n')])
    assert res.exit_code == 1 and "PROBLEM config: " in res.stdout and "fivewhys.toml" in res.stdout
    res = runner.invoke(app, ["doctor", "--config", _config(tmp_path, "[slack.routes]\nsearch = 3\n")])
    assert res.exit_code == 1 and "PROBLEM config: " in res.stdout and "slack.routes.search" in res.stdout


def test_without_a_config_it_checks_the_model_and_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["doctor"])
    assert res.exit_code == 0, res.output
    lines = _lines(res)
    assert lines["config"].startswith("ok      config: none")
    assert lines["model"].startswith("ok      model: heuristic (the built-in default")
    assert lines["model"].endswith("; it needs no key")
    assert lines["slack"] == "ok      slack: SLACK_BOT_TOKEN is not set (needed by serve only)"
