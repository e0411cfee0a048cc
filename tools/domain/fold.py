"""Text as a reader sees it, for matching secrets and prompt markers.

A model reads "＜/tool-result＞", "<\u200b/tool-result>" and "</tool\u2011result>" as the closing marker, and
"AKIA\u200bIOSFODNN7EXAMPLE" as the key it hides; a pattern written in ASCII sees none of them. So patterns
are matched in a folded view of the text (NFKC, so fullwidth and other compatibility forms become ASCII;
every kind of dash a "-"; zero-width, bidi and other format characters and combining marks removed), and
what they find is replaced in the original text, which is otherwise kept exactly as it was.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from typing import Callable

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_KEPT = {"…"}         # NFKC would make it "...", and a clipped value's "…" is what url_password looks for


def _fold_char(c: str) -> str:
    if c in _KEPT:
        return c
    if unicodedata.category(c) in ("Cf", "Mn", "Me"):     # zero-width, bidi, soft hyphen, BOM; combining marks
        return ""
    return "".join("-" if unicodedata.category(x) == "Pd" or x == "\u2212" else x
                   for x in unicodedata.normalize("NFKC", c))


class _FoldTable(dict):
    """str.translate table, filled as characters are met: folding a run of text is then one C loop."""

    def __missing__(self, code: int) -> str:
        self[code] = folded = _fold_char(chr(code))
        return folded


_TABLE = _FoldTable()


class Folded:
    """The folded view of a text, with the way back from a span of the view to a span of the original.

    The view is built of segments: runs of text that folds to itself, and single characters that fold to
    something else (zero or more characters). `_fstart[i]`/`_ostart[i]` are where segment i starts in the
    view and in the original; `_run[i]` whether it is a run (offsets map one to one)."""

    def __init__(self, text: str):
        self.text = text
        self._fstart: list[int] = []
        self._ostart: list[int] = []
        self._run: list[bool] = []
        if text.isascii():
            self.view = text
            return
        parts, pos, at = [], 0, 0          # the view so far; where it is in the original, and in the view
        for m in _NON_ASCII.finditer(text):
            if m.group().translate(_TABLE) == m.group():
                continue                        # folds to itself (東京, é): part of the surrounding run
            if m.start() > pos:
                self._segment(at, pos, True)
                parts.append(text[pos:m.start()])
                at += m.start() - pos
            for i, c in enumerate(m.group(), m.start()):
                folded = c.translate(_TABLE)
                self._segment(at, i, False)
                parts.append(folded)
                at += len(folded)
            pos = m.end()
        if pos < len(text):
            self._segment(at, pos, True)
            parts.append(text[pos:])
        view = "".join(parts)
        self.view = text if view == text else view

    def _segment(self, fstart: int, ostart: int, run: bool) -> None:
        self._fstart.append(fstart)
        self._ostart.append(ostart)
        self._run.append(run)

    @property
    def changed(self) -> bool:
        return self.view is not self.text

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the view's [start, end)."""
        if not self.changed:
            return start, end
        if end == start:
            return (at := self._orig(start, False)), at
        return self._orig(start, False), self._orig(end - 1, True)

    def _orig(self, fpos: int, after: bool) -> int:
        if not self._fstart:
            return fpos
        i = max(bisect_right(self._fstart, fpos) - 1, 0)
        if self._run[i]:
            return self._ostart[i] + fpos - self._fstart[i] + after
        return self._ostart[i] + after

    def sub(self, rx: re.Pattern[str], repl: Callable[[re.Match[str]], str] | str) -> tuple[str, int]:
        """rx.sub(repl, text), matched in the view; each replacement takes the place of its original span.
        Returns the new text and the number of replacements."""
        if not self.changed:
            return rx.subn(repl, self.text)
        out, last, n = [], 0, 0
        for m in rx.finditer(self.view):
            start, end = self.span(*m.span())
            if start < last:              # two matches inside one character's expansion ("ﬁ" is "fi")
                continue
            out += [self.text[last:start], repl(m) if callable(repl) else m.expand(repl)]
            last, n = end, n + 1
        out.append(self.text[last:])
        return "".join(out), n

    def spans(self, rx: re.Pattern[str]) -> list[tuple[int, int]]:
        """The original spans of rx's matches in the view."""
        return [self.span(*m.span()) for m in rx.finditer(self.view)]
