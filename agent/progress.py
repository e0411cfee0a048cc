"""Tool calls shown live as they run (on stderr, so `--json` keeps stdout clean)."""
from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.text import Text

from agent.loop import LoopEvent, ModelText, ReportRejected, ToolFinished, ToolStarted
from agent.termtext import escape, plain


def call_line(call: Any) -> str:
    args = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in (call.arguments or {}).items())
    return f"{call.name}({args})"


class LiveProgress:
    """The loop's event handler: a spinner while a tool runs, then one line naming its evidence."""

    def __init__(self, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self._status = None
        self._streamed = False

    def __call__(self, event: LoopEvent) -> None:
        if self.quiet or (isinstance(event, ModelText) and not event.text):
            return
        self._stop_spinner()
        if isinstance(event, ModelText):        # streamed pieces of one text continue the same line
            self.console.print(escape(event.text), end="", highlight=False, emoji=False)
            self._streamed = True
            return
        self._end_stream()
        if isinstance(event, ToolStarted):
            self._status = self.console.status(Text(call_line(event.call), style="dim"), spinner="dots")
            self._status.start()
        elif isinstance(event, ToolFinished):
            ids = ", ".join(event.evidence_ids) or ("error" if event.error else "no evidence")
            first = (plain(event.text).strip().splitlines() or [""])[0]      # cut what will be seen
            first = re.sub(r"^\[E\d+(?:, E\d+)*\]\s*", "", first)          # its ids are shown once, before it
            first = first if len(first) <= 110 else first[:109] + "…"
            mark = "[red]✗[/]" if event.error else "[green]→[/]"
            self.console.print(f"{mark} [bold]{escape(call_line(event.call)[:150])}[/] [cyan]{ids}[/] "
                               f"[dim]{escape(first)}[/]", highlight=False, soft_wrap=False, overflow="ellipsis",
                               emoji=False)
        elif isinstance(event, ReportRejected):
            self.console.print(f"[yellow]report rejected:[/] {escape('; '.join(event.problems)[:300])}",
                               emoji=False)
        # RunFinished: nothing to print; the spinner and a streamed line have ended above

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _end_stream(self) -> None:
        if self._streamed:
            self.console.print()
            self._streamed = False
