"""A model that plays a fixed script of turns: for tests and demos, no HTTP involved."""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent.models.base import Message, ModelError, ToolCall, ToolSpec, Turn, Usage

if TYPE_CHECKING:
    from agent.models import ModelSpec

Step = Turn | Callable[[list[Message]], Turn]


def call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(id=f"call_{name}_{next(_ids)}", name=name, arguments=arguments)


_ids = itertools.count(1)


class ScriptedModel:
    """Returns the given turns in order. A step may be a function of the conversation so far
    (to cite ids it has seen). `assert_complete()` checks the whole script was played."""

    name = "scripted"

    def __init__(self, steps: list[Step], tokens_per_turn: tuple[int, int] = (0, 0)):
        self.steps = list(steps)
        self.played = 0
        self.seen: list[list[Message]] = []
        self.tokens = tokens_per_turn

    def turn(self, messages: list[Message], tools: list[ToolSpec], on_text=None) -> Turn:
        if self.played >= len(self.steps):
            raise AssertionError(f"scripted model ran out of turns after {self.played}")
        self.seen.append(list(messages))
        step = self.steps[self.played]
        self.played += 1
        turn = step(messages) if callable(step) else step
        if not turn.usage.input_tokens and self.tokens != (0, 0):
            turn = turn.model_copy(update={"usage": Usage(input_tokens=self.tokens[0], output_tokens=self.tokens[1])})
        if on_text and turn.text:
            on_text(turn.text)
        return turn

    def assert_complete(self) -> None:
        assert self.played == len(self.steps), f"played {self.played} of {len(self.steps)} scripted turns"

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ScriptedModel:
        """`--model scripted:FILE`: a JSON list of turns, each {"text", "tool_calls": [{"name", "arguments"}],
        "sleep_s"}; for demos and for driving the CLI in tests without an LLM."""
        try:
            raw = json.loads(Path(spec.name).read_text())
        except (OSError, ValueError) as e:
            raise ModelError(f"scripted model {spec.name}: {e}") from None

        def step(t: dict) -> Step:
            def play(messages: list[Message]) -> Turn:
                time.sleep(float(t.get("sleep_s", 0)))
                return Turn(text=t.get("text", ""), tool_calls=[call(c["name"], **(c.get("arguments") or {}))
                                                                 for c in t.get("tool_calls", [])])
            return play
        return cls([step(t) for t in raw])
