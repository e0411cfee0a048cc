"""Input tokens per investigation with an LLM, and the share of them that is tool schemas.

    python benchmarks/tokens.py [--json]

Replays a scripted investigation of the demo incident, with the calls an LLM makes (issue 13: 4–5 turns,
~12 tool calls), through the real OpenAI provider (agent/models/openai_provider.py) against a stand-in Chat
Completions server on loopback (tests/test_demo_llm_run.py: its report is accepted and cites the new
evidence). The server plays a ScriptedModel (agent/models/scripted.py) turn by turn and counts each request
body: its characters, the characters of its `tools` (the schemas, sent with every turn), and estimated tokens
(tiktoken's o200k_base when it is installed and its encoding can be loaded, else characters / 4; the estimate
used is printed). It reports those tokens as the turn's prompt_tokens, so the loop's usage is the same figure.

Measured (4 turns; 11 tool calls until re-recorded, 12 since; characters / 4: tiktoken installs from PyPI but
fetches its encoding from the network at first use, which this machine cannot, so it is not a dependency):

    before (faef193):   25,103 input tokens per investigation; tool schemas 15,223 characters a turn, 61% of input
    after (compacted):  18,147 input tokens per investigation; tool schemas  7,824 characters a turn, 43% of input
    and with edge_rates (a 15th tool) and descriptions trimmed to make room for it: 18,203; 7,880; 43%
    with infra changes in list_deployments (longer results):                        19,198; 7,880; 41%
    re-recorded (12 calls: edge_rates, a second trace_errors and list_deployments;
    cites an edge rate, the node drain and two empty results):                      19,528; 7,880; 40%
    and trace_errors saying token logged 4 error lines beside "no failing spans":  19,559; 7,880; 40%
    on 69c1374 (main before the sixth session's LLM-seat items):                   19,711; 7,880; 40%
    service_map's note naming latency_by_service's p90 (the demo calls neither
    latency_by_service nor log_patterns, whose rows grew):                         19,768; 7,880; 40%

Both cannot run side by side (the schemas are the code's), so "before" was measured on the commit the schemas
were halved from, with this script.
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from agent.models.base import Message, ToolCall, Turn  # noqa: E402
from agent.models.scripted import ScriptedModel  # noqa: E402

DEMO = HERE.parent / "evals" / "incidents" / "search-token-peak"
RESULT = re.compile(r'<tool-result tool="(\w+)"(?: evidence="([^"]*)")?')
ROW_ID = re.compile(r"\[?(E\d+)[\] ]")


def _encoder():
    try:
        import tiktoken
        enc = tiktoken.get_encoding("o200k_base")
        return "tiktoken o200k_base", lambda s: len(enc.encode(s))
    except Exception:  # noqa: BLE001 - not installed, or its encoding cannot be fetched: fall back
        return "characters / 4", lambda s: (len(s) + 3) // 4


ESTIMATE, count_tokens = _encoder()


def ids_by_tool(messages: list[Message]) -> dict[str, list[list[str]]]:
    """The evidence ids each tool call returned, per tool in call order, read from the results as a model reads them."""
    out: dict[str, list[list[str]]] = {}
    for m in messages:
        if m.role == "tool" and (hit := RESULT.match(m.content)):
            out.setdefault(hit.group(1), []).append([e for e in (hit.group(2) or "").split(",") if e])
    return out


def row_ids(messages: list[Message], tool: str, *words: str) -> list[str]:
    """The evidence ids on the lines of `tool`'s results that hold every one of `words`: a table row
    ("E7 | search→token | …") or an empty result ("[E12] no failing spans …"), as a model picks what to cite."""
    return [hit.group(1) for m in messages if m.role == "tool" and m.content.startswith(f'<tool-result tool="{tool}"')
            for line in m.content.splitlines() if all(w in line for w in words)
            and (hit := ROW_ID.match(line))]


def report(messages: list[Message]) -> Turn:
    """What an LLM submits after the calls below: search failed to scale up. Its traffic to token did not change
    (edge_rates), only its calls fail; token, a partition and a deploy of search are ruled out, the last two by
    an infrastructure change and an empty result."""
    first = {name: calls[0] for name, calls in ids_by_tool(messages).items()}
    edge = row_ids(messages, "edge_rates", "search→token")[:1]
    empty = {tool: row_ids(messages, tool, "] no ")[:1] for tool in ("trace_errors", "list_deployments")}
    args = {"root_cause": {"service": "search", "kind": "failed_scale_up", "onset": "2026-03-06T16:55:00Z",
                           "summary": "search could not scale up into the Friday peak (no CPU left in the cluster); "
                                      "its CPU saturated and its connects to token timed out", "confidence": 0.85},
            "chain": [
                {"claim": "search was paged for connection errors to token", "service": "search",
                 "evidence": first["describe_incident"] + first["error_onsets"][:1]},
                {"claim": "search's connects to token time out from 16:55 at an unchanged call rate (no new load on "
                          "token); token's other callers see no errors", "service": "search",
                 "evidence": edge + row_ids(messages, "trace_errors", "search", "token", "timed out")[:1]},
                {"claim": "search's CPU climbed with the peak and saturated from 16:58 at a flat 4 instances",
                 "service": "search", "evidence": row_ids(messages, "query_metric", "] cpu_utilization")
                 + row_ids(messages, "query_metric", "] instance_count")},
                {"claim": "autoscaling of search failed from 16:55: no CPU left in the cluster", "service": "search",
                 "evidence": row_ids(messages, "scaling_events", "search", "failed")}],
            "hypotheses": [
                {"service": "search", "kind": "failed_scale_up", "status": "confirmed",
                 "reason": "scale-ups failed before the CPU saturated",
                 "evidence": row_ids(messages, "scaling_events", "search", "failed")},
                {"service": "token", "kind": "dependency_outage", "status": "ruled_out",
                 "reason": "token's own spans show no failures and its other callers see no errors",
                 "evidence": empty["trace_errors"] + edge},
                {"service": "token", "kind": "network_partition", "status": "ruled_out",
                 "reason": "no network, firewall or DNS change: the one infrastructure change is a routine node "
                           "drain at 15:35, 80 minutes before; checkout and profile reach token",
                 "evidence": row_ids(messages, "list_deployments", "node_drain")[:1] + edge},
                {"service": "search", "kind": "deploy_regression", "status": "ruled_out",
                 "reason": "search was not deployed in the window", "evidence": empty["list_deployments"]},
                {"service": "catalog", "kind": "config_change", "status": "ruled_out",
                 "reason": "catalog is not on the failing path and its errors did not rise",
                 "evidence": row_ids(messages, "list_deployments", "catalog", "deploy")[:1]}],
            "next_checks": ["cluster CPU capacity and the autoscaler's node pool"],
            "remediation": ["add node capacity for search's peak; alert on failed scale-ups"]}
    return Turn(text="search failed to scale up; submitting.", tool_calls=[
        ToolCall(id="call_report", name="submit_report", arguments=args)])


def call(tool: str, **arguments) -> ToolCall:
    """scripted.call takes the tool's name as `name`, which query_metric has as a parameter too."""
    return ToolCall(id=f"call_{next(_ids)}", name=tool, arguments=arguments)


_ids = itertools.count(1)


def investigation() -> ScriptedModel:
    """The calls a capable LLM made on the demo incident, in its turns (parallel calls within a turn), with the
    evidence issue 13 added in use: per-edge rates, infrastructure changes, an empty result's id."""
    return ScriptedModel([
        Turn(text="Start with the page, the onsets and the call graph.",
             tool_calls=[call("describe_incident"), call("error_onsets"), call("service_map")]),
        Turn(text="What changed around the onset, and did search's traffic to token change?",
             tool_calls=[call("list_deployments"), call("scaling_events"), call("certificates"),
                         call("trace_errors", service="search"), call("edge_rates", callee="token")]),
        Turn(text="search's scale-ups failed; check its load, and rule out token and a deploy of search.",
             tool_calls=[call("query_metric", **{"name": "cpu_utilization", "service": "search"}),
                         call("query_metric", **{"name": "instance_count", "service": "search"}),
                         call("trace_errors", service="token"), call("list_deployments", service="search")]),
        report,
    ])


def messages_of(body: dict) -> list[Message]:
    """A Chat Completions request's messages as the loop's Messages (what the scripted model reads)."""
    out = []
    for m in body["messages"]:
        calls = [ToolCall(id=c["id"], name=c["function"]["name"], arguments=json.loads(c["function"]["arguments"]))
                 for c in m.get("tool_calls") or []]
        out.append(Message(role=m["role"], content=m.get("content") or "", tool_calls=calls,
                           tool_call_id=m.get("tool_call_id")))
    return out


@dataclass
class Request:
    chars: int
    tool_chars: int
    tokens: int
    tool_tokens: int


@dataclass
class StandIn:
    """A Chat Completions server's brain: plays the scripted model, counts what each request carried."""
    model: ScriptedModel
    requests: list[Request] = field(default_factory=list)

    def answer(self, raw: str) -> dict:
        body = json.loads(raw)
        tools = json.dumps(body.get("tools", []), separators=(",", ":"), ensure_ascii=False)   # as the SDK sends it
        req = Request(len(raw), len(tools), count_tokens(raw), count_tokens(tools))
        self.requests.append(req)
        turn = self.model.turn(messages_of(body), [])
        msg = {"role": "assistant", "content": turn.text or None}
        if turn.tool_calls:
            msg["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name, "arguments": json.dumps(c.arguments)}} for c in turn.tool_calls]
        return {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 1772816700,
                "model": body["model"], "choices": [{"index": 0, "message": msg, "logprobs": None,
                                                     "finish_reason": "tool_calls" if turn.tool_calls else "stop"}],
                "usage": {"prompt_tokens": req.tokens, "completion_tokens": 0, "total_tokens": req.tokens}}


@contextmanager
def serve(stand_in: StandIn) -> Iterator[str]:
    """The stand-in on loopback; yields its base URL."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers["content-length"])).decode()
            data = json.dumps(stand_in.answer(raw)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def measure(snapshot: Path = DEMO, transcript: Path | None = None) -> dict:
    """One scripted investigation through the OpenAI provider: per-request and total characters and tokens
    (its transcript written to `transcript`, for a test to read the accepted report)."""
    from agent.models.openai_provider import OpenAIModel
    from agent.session import open_investigation

    stand_in = StandIn(investigation())
    with serve(stand_in) as url:
        model = OpenAIModel("gpt-5.1", base_url=url, api_key="not-needed", stream=False, attempts=1)
        with open_investigation(snapshot, model, transcript=transcript) as inv:
            res = inv.run()
    stand_in.model.assert_complete()
    reqs = stand_in.requests
    return {"estimate": ESTIMATE, "stop_reason": str(res.stop_reason), "turns": len(reqs),
            "tool_calls": res.usage.tool_calls, "input_tokens": sum(r.tokens for r in reqs),
            "schema_tokens": sum(r.tool_tokens for r in reqs), "input_chars": sum(r.chars for r in reqs),
            "schema_chars_per_turn": reqs[0].tool_chars, "loop_input_tokens": res.usage.input_tokens,
            "per_turn": [r.__dict__ for r in reqs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    out = measure()
    if ap.parse_args().json:
        print(json.dumps(out, indent=2))
        return
    share = out["schema_tokens"] / out["input_tokens"]
    print(f"demo, scripted LLM investigation: {out['turns']} turns, {out['tool_calls']} tool calls, "
          f"{out['stop_reason']}; tokens estimated as {out['estimate']}")
    print(f"input tokens per investigation: {out['input_tokens']:,} ({out['input_chars']:,} characters)")
    print(f"tool schemas: {out['schema_chars_per_turn']:,} characters a turn, {out['schema_tokens']:,} tokens in all "
          f"({share:.0%} of input)")
    print("| turn | request chars | of which schemas | est. tokens |\n|---|---|---|---|")
    for i, r in enumerate(out["per_turn"], 1):
        print(f"| {i} | {r['chars']:,} | {r['tool_chars']:,} | {r['tokens']:,} |")


if __name__ == "__main__":
    main()
