"""Secrets found in telemetry are redacted before any text leaves the machine for an LLM."""
from __future__ import annotations

import re
from collections import Counter

QUOTE = "[\"']"
PATTERNS: list[tuple[str, re.Pattern[str]]] = [(k, re.compile(p)) for k, p in [
    ("private_key", r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z ]+ )?PRIVATE KEY-----|$)"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("bearer_token", r"(?i)(?<=\bbearer )[A-Za-z0-9._~+/=-]{12,}"),
    ("url_password", r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),
    ("aws_access_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("api_key", r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|xox[abposr]-[A-Za-z0-9-]{10,}|gh[pousr]_[A-Za-z0-9]{20,}"
                r"|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20})"),
    ("key_value_secret", r"(?i)(?<![A-Za-z0-9_])((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
                         r"secret[_-]?key|client[_-]?secret|auth)" + QUOTE + r"?\s*[:=]\s*" + QUOTE + r"?)"
                         r"(?!\d{1,5}\b)([^\s,;&}" + QUOTE[1:-1] + r"]{3,})"),      # not host:port
]]
CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for d in reversed(digits):
        n = int(d) * (2 if alt else 1)
        total += n - 9 if n > 9 else n
        alt = not alt
    return total % 10 == 0


class Redactor:
    """Replaces secrets with [REDACTED:kind] and counts what it replaced."""

    def __init__(self, emails: bool = False):
        self.emails = emails
        self.counts: Counter[str] = Counter()

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for kind, rx in PATTERNS:
            if kind == "key_value_secret":
                text = rx.sub(lambda m: self._count(kind, m.group(1) + f"[REDACTED:{kind}]"), text)
            else:
                text = rx.sub(lambda m, k=kind: self._count(k, f"[REDACTED:{k}]"), text)
        text = CARD.sub(self._card, text)
        if self.emails:
            text = EMAIL.sub(lambda m: self._count("email", "[REDACTED:email]"), text)
        return text

    def _count(self, kind: str, replacement: str) -> str:
        self.counts[kind] += 1
        return replacement

    def _card(self, m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits):
            return self._count("card_number", "[REDACTED:card_number]")
        return m.group(0)
