"""`fivewhys investigate --model openai:NAME --base-url URL` end to end against a local Chat Completions
server (a real HTTP server on loopback that plays a scripted model), as a user would run it."""
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from providers_fixtures import evidence_ids, report_args


class FakeChatCompletions(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        FakeChatCompletions.requests.append(json.loads(body))
        if len(FakeChatCompletions.requests) == 1:
            calls = [("describe_incident", {}), ("scaling_events", {"service": "search"}),
                     ("query_metric", {"name": "cpu_utilization", "service": "search"})]
        else:
            class R:
                content = body.encode()
            calls = [("submit_report", report_args(evidence_ids(R)))]
        stream = json.loads(body).get("stream")
        chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "local",
                   "choices": [{"index": 0, "delta": {"tool_calls": [
                       {"index": i, "id": f"call_{i}", "type": "function",
                        "function": {"name": n, "arguments": json.dumps(a)}}]}, "finish_reason": None}]}
                  for i, (n, a) in enumerate(calls)]
        if stream:
            out = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            ctype = "text/event-stream"
        else:
            out = json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "local", "choices": [
                {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
                 "tool_calls": [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks]}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
            ctype = "application/json"
        data = out.encode()
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def test_investigate_against_a_local_openai_compatible_server(demo_dir, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatCompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeChatCompletions.requests = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        res = subprocess.run([sys.executable, "-m", "agent", "investigate", str(demo_dir), "--model",
                              "openai:qwen3-32b", "--base-url", url, "--json", "--no-transcript"],
                             capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["stop_reason"] == "submitted" and out["root_cause"]["service"] == "search"
    assert len(FakeChatCompletions.requests) == 2 and FakeChatCompletions.requests[0]["model"] == "qwen3-32b"
    assert "→ scaling_events" in res.stderr


class Unauthorized(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        data = json.dumps({"error": {"message": "Incorrect API key provided: sk-wrong", "type": "invalid_request_error",
                                     "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def test_a_model_that_fails_is_an_error_not_an_inconclusive_incident(demo_dir):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        res = subprocess.run([sys.executable, "-m", "agent", "investigate", str(demo_dir), "--model", "openai:gpt-5.1",
                              "--base-url", url, "--no-transcript"], capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert res.returncode == 1
    assert "error: the model failed after 0 tool call(s)" in res.stderr and "authentication failed (401)" in res.stderr
    assert "Inconclusive" not in res.stdout


def test_demo_is_the_heuristic_even_with_a_key_configured(monkeypatch):
    from typer.testing import CliRunner
    from agent.cli import app
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    res = CliRunner().invoke(app, ["demo", "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    from agent.transcript import read_transcript
    from pathlib import Path
    header = read_transcript(Path(json.loads(res.stdout)["transcript"]))[0]
    assert header["model"] == "heuristic"


def test_chat_and_ask_talk_to_a_local_server_given_by_base_url(demo_dir, tmp_path):
    import os
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatCompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    env = dict(os.environ, NO_COLOR="1", FIVEWHYS_STATE_DIR=str(tmp_path / "state"))
    try:
        FakeChatCompletions.requests = []
        chat = subprocess.run([sys.executable, "-m", "agent", "chat", str(demo_dir), "-m", "openai:qwen3-32b",
                               "--base-url", url], input="why?\n", capture_output=True, text=True, timeout=120, env=env)
        assert chat.returncode == 0, chat.stderr
        assert "Root cause: search" in chat.stdout and len(FakeChatCompletions.requests) == 2
        FakeChatCompletions.requests = []
        again = subprocess.run([sys.executable, "-m", "agent", "chat", "--continue"], input="and token?\n",
                               capture_output=True, text=True, timeout=120, env=env)
        assert again.returncode == 0 and "Root cause: search" in again.stdout, again.stderr
        assert len(FakeChatCompletions.requests) == 2                     # --continue remembers the server
        FakeChatCompletions.requests = []
        ask = subprocess.run([sys.executable, "-m", "agent", "ask", "why?", "--snapshot", str(demo_dir), "-m",
                              "openai:qwen3-32b", "--base-url", url, "--json"], capture_output=True, text=True,
                             timeout=120, env=env)
        assert ask.returncode == 0 and json.loads(ask.stdout)["root_cause"]["service"] == "search", ask.stderr
    finally:
        server.shutdown()
