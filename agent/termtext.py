"""Text from telemetry, a model or the user, made safe to print on a terminal.

Log lines, alert titles and file names can carry escape sequences that clear the screen, retitle the
window or plant a hidden hyperlink; on a terminal they must arrive as text, not as commands.
"""
from __future__ import annotations

import re

from rich.markup import escape as _markup_escape

# Whole sequences first (OSC/DCS strings with their terminator, CSI with its parameters, two-byte escapes),
# so that colour codes in a log line vanish instead of leaving "[31m" behind; then any stray control
# character. \n and \t are layout and stay.
_SEQUENCE = re.compile(r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
                       r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                       r"|\x1b[ -/]*[0-~]")
# Bidi overrides and isolates reorder what is displayed ("Trojan Source"): a log line could show one thing
# and hold another. Zero-width characters hide text inside what looks like a single word.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def plain(text: object) -> str:
    """`text` without terminal escape sequences or control characters (except newline and tab)."""
    return _CONTROL.sub("", _SEQUENCE.sub("", str(text)))


def escape(text: object) -> str:
    """`text` for interpolation into Rich markup: plain, with markup escaped. Print it with emoji=False,
    or ":x:" in a log line becomes an emoji."""
    return _markup_escape(plain(text))
