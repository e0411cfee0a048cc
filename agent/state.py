"""Where fivewhys keeps state (transcripts, saved chats, chat history, the serve journal, the eval cache), and
how it writes it: files 0600 in directories 0700, since they hold telemetry (redacted, but still the
incident's logs and names) that other users of the machine have no business reading."""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FILE_MODE, DIR_MODE = 0o600, 0o700


def state_dir() -> Path:
    """The user's state directory (XDG_STATE_HOME), where transcripts and chat history live."""
    base = os.environ.get("FIVEWHYS_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state"), "fivewhys")
    return Path(base)


def private_dir(path: Path) -> Path:
    """`path` as a directory, the parts of it that did not exist made 0700. Inside the state directory the
    state directory itself and `path` are made 0700 too (a version before this one made them 0755); a
    directory the user chose elsewhere keeps its mode."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(p, DIR_MODE)                  # mkdir's mode is masked by the umask; 0700 never needs more
    state = state_dir()
    for p in (state, path):
        if p.is_dir() and (p == state or p.is_relative_to(state)) and _mine(p):
            os.chmod(p, DIR_MODE)
    return path


def open_private(path: Path, mode: str = "a") -> IO[str]:
    """A text file opened for writing ("a" or "w"), created 0600 in a private directory; a file of ours that
    was already there is made 0600."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    if _mine(path):
        os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode, encoding="utf-8")


def write_private(path: Path, text: str) -> None:
    """`text` as the whole of `path`, written 0600 (see open_private)."""
    with open_private(path, "w") as f:
        f.write(text)


def _mine(path: Path) -> bool:
    try:
        return path.stat().st_uid == os.getuid()
    except OSError:
        return False
