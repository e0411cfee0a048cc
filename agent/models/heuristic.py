"""The heuristic investigator (agent/heuristic/) behind the Model protocol: a thin adapter that feeds tool
replies into the investigation and turns its conclusion into a submit_report call."""
from __future__ import annotations

from typing import Generator

from agent.heuristic import call_id, investigate
from agent.heuristic.conclude import inconclusive_args
from agent.models.base import Message, ToolCall, ToolSpec, Turn


class HeuristicModel:
    """Restarts on each new user question."""

    name = "heuristic"

    def __init__(self) -> None:
        self._gen: Generator | None = None

    def turn(self, messages: list[Message], tools: list[ToolSpec], on_text=None) -> Turn:
        last_assistant = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
        replies = [m for m in messages[last_assistant + 1:] if m.role == "tool"]
        try:
            if self._gen is None or not replies:
                self._gen = investigate()
                calls = next(self._gen)
            elif any(m.name == "submit_report" for m in replies):
                # Our report was rejected: nothing better to offer than an honest abstention.
                return _submit(inconclusive_args("the report did not validate: " + replies[-1].content[:300]))
            else:
                calls = self._gen.send(replies)
        except StopIteration as stop:
            self._gen = None
            if on_text:
                on_text("")
            return _submit(stop.value)
        return Turn(tool_calls=calls)


def _submit(arguments: dict) -> Turn:
    return Turn(tool_calls=[ToolCall(id=call_id(), name="submit_report", arguments=arguments)])
