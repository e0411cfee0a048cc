"""One way to run an investigation. Every surface (CLI, chat, Slack, MCP, timeline, eval, benchmarks) gets its
telemetry, evidence ledger, model, transcript and loop here, wired in one order, and everything opened here
is closed when the block ends, whatever ends it.

    with open_investigation(snapshot_dir, "heuristic", transcript=AUTO, on_event=LiveProgress()) as inv:
        result = inv.run()
"""
from __future__ import annotations

import difflib
import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Literal, Union

from agent.config import Budgets
from agent.loop import EventHandler, Investigation
from agent.models import Model, ModelError, load_model
from agent.settings import config_path, load_settings
from agent.transcript import Transcript, default_transcript_path
from tools import ToolContext
from tools.backends.base import Telemetry
from tools.backends.config import open_telemetry
from tools.domain.errors import TelemetryError
from tools.domain.evidence import EvidenceLedger
from tools.domain.incident import SOURCES

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
    Raises TelemetryError or ModelError before anything runs when the telemetry or the model cannot load, or
    when there is no telemetry at all to investigate."""
    with open_tools(source, config=config, service=service, at=at, ledger=ledger) as ctx:
        check_some_telemetry(ctx.telemetry, source if _is_path(source) and config is None else None)
        if model is None or isinstance(model, str):
            model = load_configured_model(model, base_url)
        budgets = budgets or Budgets()
        path = default_transcript_path(ctx.incident.id) if transcript == AUTO else transcript
        tr = Transcript(path, {"incident": ctx.incident.id, "snapshot": str(source) if _is_path(source) else None,
                               "model": model.name, "budgets": budgets.model_dump(), **(header or {})})
        try:
            yield Investigation(model, ctx, budgets, tr, on_event)
        finally:
            tr.close()


def load_configured_model(spec: str | None, base_url: str | None = None) -> Model:
    """load_model; when the config file's default_model cannot load, the error names that file."""
    try:
        return load_model(spec, base_url=base_url)
    except ModelError as e:
        path = config_path()
        if spec is None and str(path) not in str(e) and load_settings().default_model:
            raise ModelError(f"{path}: default_model: {e}") from None
        raise


def check_some_telemetry(telemetry: Telemetry, snapshot: Source = None) -> None:
    """TelemetryError when there is nothing to read: every model would spend its whole budget finding that out.
    A snapshot's sources count their records; a live backend's are counted only when queried, so for those
    being configured is enough."""
    cov = {s: telemetry.coverage(s) for s in SOURCES}
    if any(c.present and (c.rows or snapshot is None) for c in cov.values()):
        return
    where = snapshot or telemetry.incident.id
    if not any(c.present for c in cov.values()):
        raise TelemetryError(f"{where}: no telemetry to investigate: no {', '.join(SOURCES)} file, only the page")
    skipped = sum(c.skipped_lines for c in cov.values())
    raise TelemetryError(f"{where}: no telemetry to investigate: its telemetry files hold no usable record "
                         f"({skipped} malformed skipped; `fivewhys snapshot validate {where}` lists them)")


def known_services(telemetry: Telemetry) -> list[str]:
    """The services with telemetry of their own in the incident's window."""
    found = getattr(telemetry, "services", None)
    return sorted(found(telemetry.incident.window) if callable(found) else found or ())


def closest_first(name: str, names: list[str], limit: int = 12) -> str:
    """`names` most like `name` first (a typo's intended name leads), at most `limit` of them."""
    ranked = difflib.get_close_matches(name, names, n=len(names), cutoff=0)
    more = len(ranked) - limit
    return ", ".join(ranked[:limit]) + (f" and {more} more" if more > 0 else "")


def unknown_paged_service(ctx: ToolContext) -> str | None:
    """A warning when the paged service has no telemetry (a typo, a service outside the snapshot): the answer
    would then be about another service. None when it has, or when the services cannot be listed."""
    paged = ctx.incident.alert.service
    try:
        known = known_services(ctx.telemetry) if paged else []
    except TelemetryError:              # a backend that cannot answer says so when the tools run
        return None
    if not known or paged in known:
        return None
    return (f"the paged service {paged!r} has no telemetry here, so the answer may be about another service; "
            f"services with telemetry, closest first: {closest_first(paged, known)}")


def _is_path(source: Source) -> bool:
    return source is None or isinstance(source, (str, os.PathLike))
