"""Anthropic Messages API (and servers that implement it), with tool use and streaming."""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import anthropic

from agent.models.base import Message, ToolCall, ToolSpec, Turn, Usage, require_key
from agent.models.context import compact, window_of
from agent.models.openai_provider import parse_arguments
from agent.models.prices import with_cost
from agent.models.retry import call_provider
from tools.domain.redact import Redactor


class AnthropicModel:
    def __init__(self, name: str, base_url: str | None = None, api_key: str | None = None, stream: bool = True,
                 redactor: Redactor | None = None, timeout: float = 120.0, attempts: int = 6, max_tokens: int = 4096,
                 sleep: Callable[[float], None] = time.sleep, http_client: Any = None):
        self.name = f"anthropic:{name}"
        self.model = name
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        require_key("anthropic", key, None)
        self.client = anthropic.Anthropic(api_key=key, base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL"),
                                          max_retries=0, timeout=timeout,
                                         http_client=http_client)
        self.stream, self.redact, self.attempts, self.sleep = stream, redactor or Redactor(), attempts, sleep
        self.max_tokens, self.window, self.compacted = max_tokens, window_of(name), 0

    def turn(self, messages: list[Message], tools: list[ToolSpec], on_text=None) -> Turn:
        msgs, n = compact(messages, self.window)
        self.compacted += n
        system = "\n\n".join(self.redact(m.content) for m in msgs if m.role == "system")
        body = {"model": self.model, "max_tokens": self.max_tokens, "system": system,
                "messages": self._messages([m for m in msgs if m.role != "system"]),
                "tools": [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]}
        fn = (lambda: self._streamed(body, on_text)) if self.stream else (lambda: self._plain(body))
        turn = call_provider(fn, self.name, "ANTHROPIC_API_KEY", self.attempts, self.sleep)
        turn.usage = with_cost(self.model, turn.usage)
        return turn

    def _messages(self, msgs: list[Message]) -> list[dict[str, Any]]:
        """Tool results become tool_result blocks in one user turn; roles must alternate."""
        r, out = self.redact, []
        for m in msgs:
            if m.role == "tool":
                block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": r(m.content)}
                if "error=\"true\"" in m.content[:200]:
                    block["is_error"] = True
                content = [block]
                role = "user"
            elif m.role == "assistant":
                content = ([{"type": "text", "text": r(m.content)}] if m.content else []) + [
                    {"type": "tool_use", "id": c.id, "name": c.name,
                     "input": r.value(c.arguments) if c.arguments is not None else {}}
                    for c in m.tool_calls]
                role = "assistant"
            else:
                content, role = [{"type": "text", "text": r(m.content)}], "user"
            if out and out[-1]["role"] == role:
                out[-1]["content"] += content
            else:
                out.append({"role": role, "content": content})
        return out

    def _plain(self, body: dict) -> Turn:
        resp = self.client.messages.create(**body)
        text, calls = [], []
        for b in resp.content:
            if b.type == "text":
                text.append(b.text)
            elif b.type == "tool_use":
                args = b.input if isinstance(b.input, dict) else None
                calls.append(ToolCall(id=b.id, name=b.name, arguments=args,
                                      raw_arguments=None if args is not None else str(b.input)))
        return Turn(text="".join(text), tool_calls=calls,
                    usage=Usage(input_tokens=resp.usage.input_tokens, output_tokens=resp.usage.output_tokens))

    def _streamed(self, body: dict, on_text) -> Turn:
        text, blocks, usage = [], {}, Usage()
        for ev in self.client.messages.create(**body, stream=True):
            if ev.type == "message_start":
                usage = Usage(input_tokens=ev.message.usage.input_tokens, output_tokens=ev.message.usage.output_tokens)
            elif ev.type == "content_block_start" and ev.content_block.type == "tool_use":
                blocks[ev.index] = {"id": ev.content_block.id, "name": ev.content_block.name, "json": []}
            elif ev.type == "content_block_delta":
                if ev.delta.type == "text_delta":
                    text.append(ev.delta.text)
                    if on_text:
                        on_text(ev.delta.text)
                elif ev.delta.type == "input_json_delta" and ev.index in blocks:
                    blocks[ev.index]["json"].append(ev.delta.partial_json)
            elif ev.type == "message_delta" and ev.usage is not None:
                usage = usage.model_copy(update={"output_tokens": ev.usage.output_tokens})
        calls = []
        for _, b in sorted(blocks.items()):
            args, raw = parse_arguments("".join(b["json"]))
            calls.append(ToolCall(id=b["id"], name=b["name"], arguments=args, raw_arguments=raw))
        return Turn(text="".join(text), tool_calls=calls, usage=usage)
