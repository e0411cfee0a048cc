"""Text from telemetry, a model or the user, made safe to print on a terminal.

Log lines, alert titles and file names can carry escape sequences that clear the screen, retitle the
window or plant a hidden hyperlink; on a terminal they must arrive as text, not as commands. They can also
carry secrets (a password in a config diff, a token in a scaling message): `plain` is the one way such text
reaches a terminal, a Markdown or HTML report or the timeline, so it redacts them too.
"""
from __future__ import annotations

import re

from rich.markup import escape as _markup_escape

from tools.domain.redact import outgoing

# Bidi overrides and isolates reorder what is displayed ("Trojan Source"): a log line could show one thing
# and hold another. Zero-width characters hide text inside what looks like a single word.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def plain(text: object) -> str:
    """`text` without terminal escape sequences or control characters (except newline and tab), and with its
    secrets redacted."""
    return _INVISIBLE.sub("", outgoing(str(text)))


def escape(text: object) -> str:
    """`text` for interpolation into Rich markup: plain, with markup escaped. Print it with emoji=False,
    or ":x:" in a log line becomes an emoji."""
    return _markup_escape(plain(text))
