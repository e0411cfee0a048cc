"""Escape sequences and control characters, which telemetry may carry and no reader should receive:
a terminal obeys them (agent/termtext.py), and a model, an MCP client or Slack is shown them raw."""
from __future__ import annotations

import re

# Whole sequences first (OSC/DCS strings with their terminator, CSI with its parameters, two-byte escapes),
# so that colour codes in a log line vanish instead of leaving "[31m" behind; then any stray control
# character. \n and \t are layout and stay.
ESCAPE_SEQUENCE = re.compile(r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
                             r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                             r"|\x1b[ -/]*[0-~]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")          # C0 and C1, but \n and \t


def without_controls(text: str) -> str:
    """`text` without escape sequences or control characters (newline and tab stay)."""
    return CONTROL.sub("", ESCAPE_SEQUENCE.sub("", text))
