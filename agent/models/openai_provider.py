"""OpenAI Chat Completions, and any server that speaks it (vLLM, Ollama, llama.cpp, LM Studio)."""
from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Callable

import openai

from agent.models.base import Message, ToolCall, ToolSpec, Turn, Usage, require_key
from agent.models.context import compact, window_of
from agent.models.prices import with_cost
from agent.models.retry import call_provider
from tools.domain.redact import Redactor

TEXT_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>|^\s*(\{\s*\"name\".*\})\s*$", re.S)


def parse_arguments(raw: str | None) -> tuple[dict | None, str | None]:
    """Arguments as a dict, or (None, raw text) when they are not a JSON object: the loop tells the model."""
    if raw is None or raw.strip() == "":
        return {}, None
    try:
        val = json.loads(raw)
    except ValueError:
        return None, raw
    return (val, None) if isinstance(val, dict) else (None, raw)


def calls_in_text(text: str, known: set[str]) -> list[ToolCall]:
    """Some open models write the tool call as text (`<tool_call>{...}</tool_call>` or a bare JSON object)."""
    out = []
    for i, m in enumerate(TEXT_CALL.finditer(text or "")):
        try:
            obj = json.loads(m.group(1) or m.group(2))
        except ValueError:
            continue
        name = obj.get("name") if isinstance(obj, dict) else None
        if name in known:
            args = obj.get("arguments", obj.get("parameters", {}))
            args, raw = parse_arguments(args) if isinstance(args, str) else (args if isinstance(args, dict) else None, None)
            out.append(ToolCall(id=f"text_call_{i}", name=name, arguments=args, raw_arguments=raw))
    return out


class OpenAIModel:
    def __init__(self, name: str, base_url: str | None = None, api_key: str | None = None, stream: bool = True,
                 redactor: Redactor | None = None, timeout: float = 120.0, attempts: int = 6,
                 sleep: Callable[[float], None] = time.sleep, http_client: Any = None):
        self.name = f"openai:{name}"
        self.model = name
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        key = api_key or os.environ.get("OPENAI_API_KEY")
        require_key("openai", key, base_url)
        # Local servers usually need no key; the SDK insists on one.
        self.client = openai.OpenAI(api_key=key or "not-needed", base_url=base_url, max_retries=0, timeout=timeout,
                                         http_client=http_client)
        self.stream, self.redact, self.attempts, self.sleep = stream, redactor or Redactor(), attempts, sleep
        self.window = window_of(name)
        self.compacted = 0

    def turn(self, messages: list[Message], tools: list[ToolSpec], on_text=None) -> Turn:
        msgs, n = compact(messages, self.window)
        self.compacted += n
        body = {"model": self.model, "messages": [self._message(m) for m in msgs],
                "tools": [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                            "parameters": t.parameters}} for t in tools]}
        fn = (lambda: self._streamed(body, on_text)) if self.stream else (lambda: self._plain(body))
        turn = call_provider(fn, self.name, "OPENAI_API_KEY", self.attempts, self.sleep)
        if not turn.tool_calls and turn.text:
            turn.tool_calls = calls_in_text(turn.text, {t.name for t in tools})
        turn.usage = with_cost(self.model, turn.usage)
        return turn

    def _message(self, m: Message) -> dict[str, Any]:
        r = self.redact
        if m.role == "tool":
            return {"role": "tool", "tool_call_id": m.tool_call_id, "content": r(m.content)}
        out: dict[str, Any] = {"role": m.role, "content": r(m.content) or (None if m.tool_calls else "")}
        if m.tool_calls:
            out["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name, "arguments": json.dumps(r.value(c.arguments)) if c.arguments is not None
                                           else r(c.raw_arguments or "")}} for c in m.tool_calls]
        return out

    def _plain(self, body: dict) -> Turn:
        resp = self.client.chat.completions.create(**body)
        msg = resp.choices[0].message
        calls = []
        for c in msg.tool_calls or []:
            args, raw = parse_arguments(c.function.arguments)
            calls.append(ToolCall(id=c.id, name=c.function.name, arguments=args, raw_arguments=raw))
        u = resp.usage
        return Turn(text=msg.content or "", tool_calls=calls,
                    usage=Usage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens) if u else Usage())

    def _streamed(self, body: dict, on_text) -> Turn:
        text, parts, usage = [], {}, Usage()
        for chunk in self.client.chat.completions.create(**body, stream=True, stream_options={"include_usage": True}):
            if chunk.usage:
                usage = Usage(input_tokens=chunk.usage.prompt_tokens, output_tokens=chunk.usage.completion_tokens)
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                text.append(delta.content)
                if on_text:
                    on_text(delta.content)
            for tc in delta.tool_calls or []:
                p = parts.setdefault(tc.index, {"id": None, "name": "", "args": []})
                p["id"] = tc.id or p["id"]
                if tc.function and tc.function.name:
                    p["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    p["args"].append(tc.function.arguments)
        calls = []
        for i, p in sorted(parts.items()):
            args, raw = parse_arguments("".join(p["args"]))
            calls.append(ToolCall(id=p["id"] or f"call_{i}", name=p["name"], arguments=args, raw_arguments=raw))
        return Turn(text="".join(text), tool_calls=calls, usage=usage)

