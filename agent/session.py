"""One way to run an investigation. Every surface (CLI, chat, Slack, MCP, timeline, eval, benchmarks) gets its
telemetry, evidence ledger, model, transcript and loop here, wired in one order, and everything opened here
is closed when the block ends, whatever ends it.

    with open_investigation(snapshot_dir, "heuristic", transcript=AUTO, on_event=LiveProgress()) as inv:
        result = inv.run()
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Literal, Union

from agent.config import Budgets
from agent.loop import EventHandler, Investigation
from agent.models import Model, load_model
from agent.transcript import Transcript, default_transcript_path
from tools import ToolContext
from tools.backends.base import Telemetry
from tools.backends.config import open_telemetry
from tools.domain.evidence import EvidenceLedger

AUTO: Literal["auto"] = "auto"      # transcript=AUTO: under the state directory, named after the incident
# A snapshot directory, or telemetry the caller opened (its incident adjusted, say); closed here either way.
Source = Union[str, os.PathLike, Telemetry, None]


@contextmanager
def open_tools(source: Source, *, config: Path | None = None, service: str | None = None,
               at: datetime | None = None, ledger: EvidenceLedger | None = None) -> Iterator[ToolContext]:
    """What the read-only tools run against: the telemetry (a snapshot, live backends from `config` with the
    paged `service` and time `at`, or both) and an evidence ledger. TelemetryError when it cannot be opened."""
    telemetry = open_telemetry(source, config, service, at) if _is_path(source) else source
    try:
        yield ToolContext(telemetry, ledger if ledger is not None else EvidenceLedger())
    finally:
        telemetry.close()


@contextmanager
def open_investigation(source: Source, model: str | Model | None = None, *, base_url: str | None = None,
                       config: Path | None = None, service: str | None = None, at: datetime | None = None,
                       budgets: Budgets | None = None, transcript: Path | Literal["auto"] | None = None,
                       header: dict[str, Any] | None = None, ledger: EvidenceLedger | None = None,
                       on_event: EventHandler | None = None) -> Iterator[Investigation]:
    """An investigation ready to run: `model` is a spec (None: the configured default) or a Model; the
    transcript goes to a path, AUTO or nowhere (None), its header is the run's setup updated by `header`.
    Raises TelemetryError or ModelError before anything runs when the telemetry or the model cannot load."""
    with open_tools(source, config=config, service=service, at=at, ledger=ledger) as ctx:
        if model is None or isinstance(model, str):
            model = load_model(model, base_url=base_url)
        budgets = budgets or Budgets()
        path = default_transcript_path(ctx.incident.id) if transcript == AUTO else transcript
        tr = Transcript(path, {"incident": ctx.incident.id, "snapshot": str(source) if _is_path(source) else None,
                               "model": model.name, "budgets": budgets.model_dump(), **(header or {})})
        try:
            yield Investigation(model, ctx, budgets, tr, on_event)
        finally:
            tr.close()


def _is_path(source: Source) -> bool:
    return source is None or isinstance(source, (str, os.PathLike))
