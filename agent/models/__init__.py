"""Model providers, picked by a `provider:name` spec."""
from __future__ import annotations

from agent.models.base import Message, Model, ModelError, ToolCall, ToolSpec, Turn, Usage

__all__ = ["Message", "Model", "ModelError", "ToolCall", "ToolSpec", "Turn", "Usage", "load_model", "default_model_spec"]


def default_model_spec() -> str:
    """The model used when none is given: the built-in heuristic unless an LLM is configured."""
    return "heuristic"


def load_model(spec: str | None = None, base_url: str | None = None) -> Model:
    spec = spec or default_model_spec()
    provider, _, name = spec.partition(":")
    if provider == "heuristic":
        from agent.models.heuristic import HeuristicModel
        return HeuristicModel()
    raise ModelError(f"unknown model {spec!r}: use heuristic, openai:NAME or anthropic:NAME")
