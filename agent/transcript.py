"""Every run is a replayable, versioned JSONL transcript, flushed after every step."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, IO

TRANSCRIPT_VERSION = 1


def state_dir() -> Path:
    """The user's state directory (XDG_STATE_HOME), where transcripts and chat history live."""
    base = os.environ.get("FIVEWHYS_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state"), "fivewhys")
    return Path(base)


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
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(path, "a", encoding="utf-8")
        self.write("header", version=TRANSCRIPT_VERSION,
                   started=datetime.now(timezone.utc).isoformat(), **header)

    @classmethod
    def append(cls, path: Path) -> "Transcript":
        """Reopen a finished transcript to add later events (feedback on its report), without a new header."""
        t = cls.__new__(cls)
        t.path, t._f = path, open(path, "a", encoding="utf-8")
        return t

    def write(self, type_: str, **fields: Any) -> None:
        if self._f is None:
            return
        self._f.write(json.dumps({"type": type_, **fields}, default=_default, ensure_ascii=False) + "\n")
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
