"""Every run is a replayable, versioned JSONL transcript, flushed after every step. A transcript leaves the
process (a file that outlives the run), so every line has its secrets redacted and the file is private."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, IO

from agent.state import open_private, state_dir
from tools.domain.redact import outgoing_value

TRANSCRIPT_VERSION = 1
OWN_FIELDS = {"redactions"}     # counts keyed by secret kind ("api_key": 2): ours, not telemetry; not redacted
__all__ = ["Transcript", "default_transcript_path", "read_transcript", "state_dir"]


def default_transcript_path(incident_id: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in incident_id)[:80]
    return state_dir() / "transcripts" / f"{stamp}-{safe}.jsonl"


class Transcript:
    """Append-only JSONL: a header line, then one line per event. None path = keep nothing."""

    def __init__(self, path: Path | None, header: dict[str, Any]):
        self.path = path
        self._f: IO[str] | None = None
        if path is not None:
            self._f = open_private(path)
        self.write("header", version=TRANSCRIPT_VERSION,
                   started=datetime.now(timezone.utc).isoformat(), **header)

    @classmethod
    def append(cls, path: Path) -> "Transcript":
        """Reopen a finished transcript to add later events (feedback on its report), without a new header."""
        t = cls.__new__(cls)
        t.path, t._f = path, open_private(path)
        return t

    def write(self, type_: str, **fields: Any) -> None:
        if self._f is None:
            return
        own = {k: fields.pop(k) for k in OWN_FIELDS & fields.keys()}
        line = outgoing_value(json.loads(json.dumps({"type": type_, **fields}, default=_default))) | own
        self._f.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    return str(o)


def read_transcript(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
