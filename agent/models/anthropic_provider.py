"""Anthropic Messages API (and servers that implement it), with tool use and streaming: the wire format
only; the steps every provider shares are in provider.py."""
from __future__ import annotations

from typing import Any

from agent.models.base import Message, ToolCall, ToolSpec, Turn, Usage
from agent.models.provider import ProviderModel, parse_arguments


class AnthropicModel(ProviderModel):
    provider, key_env, base_url_env = "anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"
    default_model = "claude-sonnet-4-6"
    max_tokens = 4096

    def connect(self, key: str | None, base_url: str | None, timeout: float, http_client: Any) -> Any:
        import anthropic
        return anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0, timeout=timeout,
                                   http_client=http_client)

    def request(self, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        return {"model": self.model, "max_tokens": self.max_tokens,
                "system": "\n\n".join(m.content for m in messages if m.role == "system"),
                "messages": _messages([m for m in messages if m.role != "system"]),
                "tools": [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]}

    def plain(self, body: dict) -> Turn:
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

    def streamed(self, body: dict, on_text) -> Turn:
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


def _messages(msgs: list[Message]) -> list[dict[str, Any]]:
    """Tool results become tool_result blocks in one user turn; roles must alternate."""
    out: list[dict[str, Any]] = []
    for m in msgs:
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            if "error=\"true\"" in m.content[:200]:
                block["is_error"] = True
            content, role = [block], "user"
        elif m.role == "assistant":
            content = ([{"type": "text", "text": m.content}] if m.content else []) + [
                {"type": "tool_use", "id": c.id, "name": c.name,
                 "input": c.arguments if c.arguments is not None else {}} for c in m.tool_calls]
            role = "assistant"
        else:
            content, role = [{"type": "text", "text": m.content}], "user"
        if out and out[-1]["role"] == role:
            out[-1]["content"] += content
        else:
            out.append({"role": role, "content": content})
    return out
