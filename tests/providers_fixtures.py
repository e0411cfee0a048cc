"""Request/response bodies shaped like the real Chat Completions and Messages APIs, for respx."""
from __future__ import annotations

import json
import re

import httpx
import httpx2
import respx

OPENAI = "http://llm.test/v1"
ANTHROPIC = "http://anthropic.test"


def oa_response(calls=(), text=None, usage=(120, 30)) -> httpx.Response:
    msg = {"role": "assistant", "content": text, "refusal": None}
    if calls:
        msg["tool_calls"] = [{"id": f"call_{i}_{name}", "type": "function",
                              "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
                             for i, (name, args) in enumerate(calls)]
    return httpx.Response(200, json={
        "id": "chatcmpl-abc", "object": "chat.completion", "created": 1772816700, "model": "gpt-5.1",
        "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if calls else "stop", "logprobs": None}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}})


def oa_stream(calls=(), text_parts=(), usage=(150, 40)) -> httpx.Response:
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1772816700, "model": "gpt-5.1"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in text_parts]
    for i, (name, args) in enumerate(calls):
        raw = args if isinstance(args, str) else json.dumps(args)
        chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": f"call_s{i}", "type": "function", "function": {"name": name, "arguments": ""}}]},
            "finish_reason": None}]})
        for piece in (raw[: len(raw) // 2], raw[len(raw) // 2:]):
            chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": i, "function": {"arguments": piece}}]}, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}]})
    chunks.append({**base, "choices": [], "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                                    "total_tokens": sum(usage)}})
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def an_response(calls=(), text=None, usage=(200, 50)) -> httpx.Response:
    content = ([{"type": "text", "text": text}] if text else []) + [
        {"type": "tool_use", "id": f"toolu_{i:02d}", "name": name, "input": args} for i, (name, args) in enumerate(calls)]
    return httpx.Response(200, json={
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6", "content": content,
        "stop_reason": "tool_use" if calls else "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}})


def an_stream(calls=(), text_parts=(), usage=(220, 60)) -> httpx.Response:
    ev = [("message_start", {"type": "message_start", "message": {
        "id": "msg_s", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": usage[0], "output_tokens": 1}}})]
    idx = 0
    if text_parts:
        ev.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}))
        ev += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": t}}) for t in text_parts]
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        idx = 1
    for i, (name, args) in enumerate(calls, start=idx):
        raw = args if isinstance(args, str) else json.dumps(args)
        ev.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
            "type": "tool_use", "id": f"toolu_s{i}", "name": name, "input": {}}}))
        for piece in (raw[: len(raw) // 2], raw[len(raw) // 2:]):
            ev.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                               "delta": {"type": "input_json_delta", "partial_json": piece}}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    ev.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                 "usage": {"output_tokens": usage[1]}}))
    ev.append(("message_stop", {"type": "message_stop"}))
    body = "".join(f"event: {k}\ndata: {json.dumps(v)}\n\n" for k, v in ev)
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def evidence_ids(request: httpx.Request) -> list[str]:
    """The evidence ids the conversation so far has shown the model (as a real model would read them)."""
    return sorted(set(re.findall(r'evidence=\\"(E\d+)', request.content.decode()) +
                      re.findall(r"\[(E\d+)\]", request.content.decode())), key=lambda e: int(e[1:]))


def report_args(ids: list[str]) -> dict:
    return {"root_cause": {"service": "search", "kind": "failed_scale_up", "category": "environment",
                           "summary": "search could not scale up into the peak; CPU saturated", "confidence": 0.8,
                           "onset": "2026-03-06T16:55:00Z"},
            "chain": [{"claim": "search's connects to token time out", "service": "search", "evidence": ids[:1]},
                      {"claim": "autoscaling of search failed", "service": "search", "evidence": ids[1:3] or ids[:1]}],
            "hypotheses": [{"service": "catalog", "kind": "deploy_regression", "status": "ruled_out",
                            "reason": "no errors after its deploy", "evidence": ids[:1]}]}


def sdk_client(router: respx.Router) -> httpx2.Client:
    """The SDKs speak httpx2; respx routes httpx. This transport carries each request across, so the real
    SDK client code runs end to end against routes declared with respx."""
    def handle(req: httpx2.Request) -> httpx2.Response:
        resp = router.handler(httpx.Request(req.method, str(req.url), headers=list(req.headers.multi_items()),
                                            content=req.read()))
        headers = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in ("content-length",
                                                                                      "content-encoding")]
        return httpx2.Response(resp.status_code, headers=headers, content=resp.read())
    return httpx2.Client(transport=httpx2.MockTransport(handle))
