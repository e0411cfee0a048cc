"""Tool calls shown live as they run (on stderr, so `--json` keeps stdout clean)."""
from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from agent.termtext import escape, plain


def call_line(call: Any) -> str:
    args = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in (call.arguments or {}).items())
    return f"{call.name}({args})"


class LiveProgress:
    """The loop's event callback: a spinner while a tool runs, then one line naming its evidence."""

    def __init__(self, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self._status = None
        self._streamed = False

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if self.quiet:
            return
        if kind == "tool_start":
            self._stop()
            self._status = self.console.status(Text(call_line(payload["call"]), style="dim"), spinner="dots")
            self._status.start()
        elif kind == "tool_end":
            self._stop()
            ids = ", ".join(payload["evidence_ids"]) or ("error" if payload["error"] else "no evidence")
            first = (plain(payload["text"]).strip().splitlines() or [""])[0]      # cut what will be seen
            first = first if len(first) <= 110 else first[:109] + "…"
            mark = "[red]✗[/]" if payload["error"] else "[green]→[/]"
            self.console.print(f"{mark} [bold]{escape(call_line(payload['call'])[:150])}[/] [cyan]{ids}[/] "
                               f"[dim]{escape(first)}[/]", highlight=False, soft_wrap=False, overflow="ellipsis",
                               emoji=False)
        elif kind == "text" and payload["text"]:
            self._stop()
            self.console.print(escape(payload["text"]), end="", highlight=False, emoji=False)
            self._streamed = True
        elif kind == "rejected":
            self._stop()
            self.console.print(f"[yellow]report rejected:[/] {escape('; '.join(payload['problems'])[:300])}",
                               emoji=False)

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._streamed:
            self.console.print()
            self._streamed = False

    def close(self) -> None:
        self._stop()
