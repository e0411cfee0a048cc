"""List prices per million tokens (input, output) in USD, as published by the providers.

Dated: checked 2026-11-25. Unknown models cost 0 and say so in the eval summary's cost column."""
from __future__ import annotations

from agent.models.base import Usage

PRICES_AS_OF = "2026-11-25"
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "gpt-5.1": (1.25, 10.0),
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
}


def price(model: str) -> tuple[float, float] | None:
    """Longest known prefix wins, so dated snapshots (claude-sonnet-4-5-20250929) price as their family."""
    best = max((k for k in PRICES if model.startswith(k)), key=len, default=None)
    return PRICES[best] if best else None


def with_cost(model: str, usage: Usage) -> Usage:
    p = price(model)
    if p is None:
        return usage
    return usage.model_copy(update={"cost_usd": (usage.input_tokens * p[0] + usage.output_tokens * p[1]) / 1e6})
