"""OpenAI Chat Completions, and any server that speaks it (vLLM, Ollama, llama.cpp, LM Studio): the wire
format only; the steps every provider shares are in provider.py."""
from __future__ import annotations

import json
from typing import Any

from agent.models.base import Message, ToolCall, ToolSpec, Turn, Usage
from agent.models.provider import ProviderModel, parse_arguments


class OpenAIModel(ProviderModel):
    provider, key_env, base_url_env, default_model = "openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "gpt-5.1"
    keyless_with_base_url = True

    def connect(self, key: str | None, base_url: str | None, timeout: float, http_client: Any) -> Any:
        import openai
        # Local servers usually need no key; the SDK insists on one.
        return openai.OpenAI(api_key=key or "not-needed", base_url=base_url, max_retries=0, timeout=timeout,
                             http_client=http_client)

    def request(self, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        return {"model": self.model, "messages": [_message(m) for m in messages],
                "tools": [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                            "parameters": t.parameters}} for t in tools]}

    def plain(self, body: dict) -> Turn:
        resp = self.client.chat.completions.create(**body)
        msg = resp.choices[0].message
        calls = []
        for c in msg.tool_calls or []:
            args, raw = parse_arguments(c.function.arguments)
            calls.append(ToolCall(id=c.id, name=c.function.name, arguments=args, raw_arguments=raw))
        u = resp.usage
        return Turn(text=msg.content or "", tool_calls=calls,
                    usage=Usage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens) if u else Usage())

    def streamed(self, body: dict, on_text) -> Turn:
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


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict[str, Any] = {"role": m.role, "content": m.content or (None if m.tool_calls else "")}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {
            "name": c.name, "arguments": json.dumps(c.arguments) if c.arguments is not None
                                       else c.raw_arguments or ""}} for c in m.tool_calls]
    return out
