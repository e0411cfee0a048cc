"""The Model protocol: given the conversation and the tool schemas, return text and/or tool calls."""
from __future__ import annotations

from typing import Any, Callable, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any] | None = None
    raw_arguments: str | None = None        # kept when the model's arguments were not valid JSON


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(input_tokens=self.input_tokens + other.input_tokens,
                     output_tokens=self.output_tokens + other.output_tokens,
                     cost_usd=self.cost_usd + other.cost_usd)


class Turn(BaseModel):
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)     # assistant
    tool_call_id: str | None = None                              # tool
    name: str | None = None                                      # tool
    evidence_ids: list[str] = Field(default_factory=list)        # tool
    data: Any = Field(default=None, exclude=True)                # tool: structured result, never sent to a provider


class ToolSpec(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]


TextSink = Callable[[str], None]


@runtime_checkable
class Model(Protocol):
    name: str

    def turn(self, messages: list[Message], tools: list[ToolSpec], on_text: TextSink | None = None) -> Turn:
        """One model turn. `on_text` receives streamed text as it arrives, where the provider streams."""
        ...


class ModelError(Exception):
    """A provider failed in a way retrying will not fix (bad key, unknown model); shown to the user as-is."""

