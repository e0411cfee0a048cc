"""The read-only investigation tools.

`tools.TOOLS` (and the other names below) load the tool modules on first use, so importing the domain's
bottom layer (`tools.domain`) or a backend does not import every tool."""
from __future__ import annotations

from typing import Any

__all__ = ["TOOLS", "Tool", "ToolContext", "ToolResult", "tool"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'tools' has no attribute {name!r}")
    # importing a tool module registers its tools, in this order (describe_incident first)
    from tools import overview, events, logs, metrics, traces, changes, latency, edges, calls, trace_view  # noqa: F401
    from tools import toolset
    return getattr(toolset, name)
