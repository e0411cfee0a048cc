"""The evidence ledger: every tool result becomes citable items E1, E2, ... for the run."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from pydantic import BaseModel, Field

MAX_ROWS_KEPT = 50   # rows behind an item, for `/evidence` and the transcript; not sent to the model


class Evidence(BaseModel):
    id: str
    source: str                     # logs, metrics, spans, deployments, scaling, certificates, registry, incident
    tool: str
    summary: str                    # one line, shown to the model beside the id
    service: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    filters: dict[str, Any] = Field(default_factory=dict)      # the exact query that produced it
    attributes: dict[str, Any] = Field(default_factory=dict)   # what truth selectors match on (name, status, ...)
    rows: list[dict[str, Any]] = Field(default_factory=list)

    def matches(self, source: str, where: dict[str, Any]) -> bool:
        """A truth selector matches when the sources are equal and every `where` key equals our attribute."""
        if self.source != source:
            return False
        attrs = {"service": self.service, **self.attributes}
        return all(str(attrs.get(k)) == str(v) for k, v in where.items())


class ReadFailure(BaseModel):
    """Data the investigation could not read: a backend down or erroring, a tool that failed. Not evidence
    (it rules nothing out), but part of the record: the report, `--json`, Slack and the exit code say it."""
    error: str                      # names the source and the backend ("metrics: prometheus at …: ConnectError …")
    tools: list[str]                # the tools that met it, in order


class EvidenceLedger:
    """Append-only; ids are stable for the life of a conversation (follow-ups keep them). Beside the evidence
    it keeps what could not be read (`failures`), one entry per distinct error."""

    def __init__(self, items: Iterable[Evidence] = ()):
        self.items: list[Evidence] = list(items)
        self.failures: list[ReadFailure] = []

    def failed(self, tool: str, error: str) -> None:
        """A tool could not read its data; the same error met again by another tool is listed once."""
        error = " ".join(error.split())[:500]
        known = next((f for f in self.failures if f.error == error), None)
        if known is None:
            self.failures.append(ReadFailure(error=error, tools=[tool]))
        elif tool not in known.tools:
            known.tools.append(tool)

    def add(self, *, source: str, tool: str, summary: str, service: str | None = None,
            start: datetime | None = None, end: datetime | None = None, filters: dict[str, Any] | None = None,
            attributes: dict[str, Any] | None = None, rows: list[dict[str, Any]] | None = None) -> Evidence:
        item = Evidence(id=f"E{len(self.items) + 1}", source=source, tool=tool, summary=summary,
                        service=service, start=start, end=end,
                        filters={k: v for k, v in (filters or {}).items() if v is not None},
                        attributes={k: v for k, v in (attributes or {}).items() if v is not None},
                        rows=(rows or [])[:MAX_ROWS_KEPT])
        self.items.append(item)
        return item

    def get(self, evidence_id: str) -> Evidence | None:
        ix = _index(evidence_id)
        return self.items[ix] if ix is not None and ix < len(self.items) else None

    def __contains__(self, evidence_id: str) -> bool:
        return self.get(evidence_id) is not None

    def __len__(self) -> int:
        return len(self.items)


def _index(evidence_id: str) -> int | None:
    s = str(evidence_id).strip().upper()
    if len(s) > 1 and s[0] == "E" and s[1:].isdigit() and int(s[1:]) >= 1:
        return int(s[1:]) - 1
    return None
