"""Run configuration. Budgets are config, and running out of one is a normal, inconclusive exit."""
from __future__ import annotations

from pydantic import BaseModel, Field

MAX_STEPS = 30


class Budgets(BaseModel):
    max_steps: int = Field(MAX_STEPS, description="Model turns before the run stops as inconclusive.")
    max_tokens: int = Field(400_000, description="Input plus output tokens over the whole run.")
    max_wall_s: float = Field(600.0, description="Wall-clock seconds for the whole run.")
    max_report_attempts: int = Field(3, description="Rejected reports sent back to the model before giving up.")
    max_text_turns: int = Field(3, description="Turns in a row with neither a tool call nor a report.")
