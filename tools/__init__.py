"""The read-only investigation tools. Importing this package registers them in `TOOLS`."""
from tools import events, logs, metrics, overview, traces  # noqa: F401  (registration)
from tools.toolset import TOOLS, Tool, ToolContext, ToolResult, tool

__all__ = ["TOOLS", "Tool", "ToolContext", "ToolResult", "tool"]
