"""The context budget: as a conversation nears the model's window, older tool results are compacted
to a stub that keeps their evidence ids (the ledger still holds everything), instead of failing."""
from __future__ import annotations

from agent.models.base import Message

WINDOWS = {"claude": 200_000, "gpt-5": 400_000, "gpt-4.1": 1_000_000, "gpt-4o": 128_000}
DEFAULT_WINDOW = 32_000          # unknown OpenAI-compatible servers: assume a small local model
KEEP_RECENT = 6                  # the newest tool results are never compacted


def window_of(model: str) -> int:
    return next((v for k, v in sorted(WINDOWS.items(), key=lambda kv: -len(kv[0])) if model.startswith(k)),
                DEFAULT_WINDOW)


def estimate_tokens(messages: list[Message]) -> int:
    return sum(len(m.content) + sum(len(str(c.arguments or c.raw_arguments or "")) for c in m.tool_calls)
               for m in messages) // 4 + 8 * len(messages)


def compact(messages: list[Message], window: int, fill: float = 0.7) -> tuple[list[Message], int]:
    """Return (messages to send, how many tool results were compacted). The originals are untouched."""
    budget = int(window * fill)
    if estimate_tokens(messages) <= budget:
        return messages, 0
    tool_ix = [i for i, m in enumerate(messages) if m.role == "tool"][:-KEEP_RECENT]
    out, n = list(messages), 0
    for i in tool_ix:
        m = out[i]
        ids = ", ".join(m.evidence_ids) or "none"
        out[i] = m.model_copy(update={"content": f'<tool-result tool="{m.name}" compacted="true">'
                                                 f"result compacted to save context; its evidence ({ids}) is still "
                                                 f"valid to cite</tool-result>"})
        n += 1
        if estimate_tokens(out) <= budget:
            break
    return out, n
