"""What every LLM provider shares, done once: the key check, context compaction, redaction of what is
sent, retries honouring Retry-After, tool calls written as text, cost from the price table. An adapter
(openai_provider.py, anthropic_provider.py) only maps wire formats: messages and tool specs to a
request body, a response or a stream to a Turn."""
from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from agent.models.base import Message, ModelError, TextSink, ToolCall, ToolSpec, Turn
from agent.models.context import compact, window_of
from agent.models.prices import with_cost
from agent.models.retry import call_provider
from tools.domain.redact import Redactor

if TYPE_CHECKING:
    from agent.models import ModelSpec
    from agent.settings import Settings

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
            args, raw = (parse_arguments(args) if isinstance(args, str)
                         else (args if isinstance(args, dict) else None, None))
            out.append(ToolCall(id=f"text_call_{i}", name=name, arguments=args, raw_arguments=raw))
    return out


class ProviderModel:
    """A model behind an LLM provider's HTTP API. Subclasses set the class attributes and map wire formats."""

    provider: ClassVar[str]                      # the spec's prefix: `openai` in openai:gpt-5.1
    key_env: ClassVar[str]                       # the key's variable, unless the config file names another
    base_url_env: ClassVar[str]
    default_model: ClassVar[str]                 # the model used when only a key is configured
    keyless_with_base_url: ClassVar[bool] = False   # a local compatible server needs no key

    def __init__(self, name: str, base_url: str | None = None, api_key: str | None = None, stream: bool = True,
                 redactor: Redactor | None = None, timeout: float = 120.0, attempts: int = 6,
                 sleep: Callable[[float], None] = time.sleep, http_client: Any = None):
        self.name, self.model = f"{self.provider}:{name}", name
        base_url = base_url or os.environ.get(self.base_url_env)
        key = api_key or os.environ.get(self.key_env)
        self.require_key(key, base_url)
        self.client = self.connect(key, base_url, timeout, http_client)     # the SDK is imported only now
        self.stream, self.redact, self.attempts, self.sleep = stream, redactor or Redactor(), attempts, sleep
        self.window, self.compacted = window_of(name), 0

    @classmethod
    def require_key(cls, key: str | None, base_url: str | None) -> None:
        """Fail before any SDK is imported or called: the missing key is the whole story."""
        if key or (cls.keyless_with_base_url and base_url):
            return
        hint = " (or give --base-url for a compatible server that needs none)" if cls.keyless_with_base_url else ""
        raise ModelError(f"{cls.key_env} is not set{hint}")

    @classmethod
    def base_url_of(cls, settings: Settings) -> str | None:
        return settings.provider(cls.provider).base_url or os.environ.get(cls.base_url_env)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ProviderModel:
        if not spec.name:
            raise ModelError(f"give a model name: {spec.provider}:NAME")
        s = spec.settings
        return cls(spec.name, base_url=spec.base_url or cls.base_url_of(s),
                   api_key=s.api_key(cls.provider, cls.key_env), stream=s.provider(cls.provider).stream,
                   redactor=Redactor(emails=s.redact_emails))

    def turn(self, messages: list[Message], tools: list[ToolSpec], on_text: TextSink | None = None) -> Turn:
        body = self.request_body(messages, tools)
        fn = (lambda: self.streamed(body, on_text)) if self.stream else (lambda: self.plain(body))
        turn = call_provider(fn, self.name, self.key_env, self.attempts, self.sleep)
        if not turn.tool_calls and turn.text:
            turn.tool_calls = calls_in_text(turn.text, {t.name for t in tools})
        turn.usage = with_cost(self.model, turn.usage)
        return turn

    def request_body(self, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        """What is sent: the conversation compacted to the model's window and redacted, in the wire format."""
        msgs, n = compact(messages, self.window)
        self.compacted += n
        return self.request([self._redacted(m) for m in msgs], tools)

    def _redacted(self, m: Message) -> Message:
        r = self.redact
        calls = [c.model_copy(update={"arguments": r.value(c.arguments) if c.arguments is not None else None,
                                      "raw_arguments": r(c.raw_arguments)})
                 for c in m.tool_calls]
        return m.model_copy(update={"content": r(m.content), "tool_calls": calls})

    # ---- the wire format: what an adapter writes ------------------------------------------------------------
    def connect(self, key: str | None, base_url: str | None, timeout: float, http_client: Any) -> Any:
        """The SDK client, imported here so a missing key fails before the SDK is loaded. No SDK retries."""
        raise NotImplementedError

    def request(self, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        """The request body for messages that are already compacted and redacted."""
        raise NotImplementedError

    def plain(self, body: dict[str, Any]) -> Turn:
        raise NotImplementedError

    def streamed(self, body: dict[str, Any], on_text: TextSink | None) -> Turn:
        """Text goes to on_text as it arrives; tool-call arguments are joined from their deltas."""
        raise NotImplementedError
