"""Secrets found in telemetry are redacted before any text leaves the machine for an LLM."""
from __future__ import annotations

import re
from collections import Counter
from typing import Any

from tools.domain.controls import without_controls
from tools.domain.fold import Folded

QUOTE = "[\"']"
# A key whose last word names a credential: password, DB_PASSWORD, MYSQL_PWD, db.password, AWS_SECRET_ACCESS_KEY,
# client_secret, access_token, x-api-key, apikey. "max_tokens" or "token_bucket" end in another word.
SECRET_WORD = (r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|auth|credentials?|private[_-]?key[_-]?id"
               r"|(?:api|access|secret|private|signing|encryption|account|shared[_-]?access)[_-]?key)")
# Matched from where a name starts (also "--password"), never from inside one: that kept long "a-a-a…" linear.
KEY = r"(?<![\w.-])-{0,2}((?:[A-Za-z0-9]+[_.-])*)(" + SECRET_WORD + r")"
# One value: quoted (may hold spaces), or a bare run that is not a port ("token:8443" is host:port, not a secret).
VALUE = r"""(?:"[^"\n]+"|'[^'\n]+'|(?!(?<=:)\d{1,5}\b)[^\s,;&}"']{3,})"""
# A config diff shows the old and the new value ("db.password: 'a'→'b'"): both are secrets.
KEY_VALUE = re.compile(r"(?i)" + KEY + QUOTE + r"?\s*[:=]\s*(" + VALUE + r"(?:\s*(?:→|->|=>)\s*" + VALUE + r")*)")
ONE_VALUE = re.compile(VALUE)
# A bare "token: timeout" is about the service named token (the demo has one), not a credential.
WORDY_KEYS, WORDY_VALUE = {"token", "auth", "secret", "pass"}, re.compile(r"[A-Za-z]{1,15}")
# A key of a JSON object that names a credential: every value under it is a secret ({"DB_PASSWORD": "x"}).
SECRET_KEY = re.compile(r"(?i)-{0,2}(?:[A-Za-z0-9]+[_.-])*" + SECRET_WORD)
MASKED = re.compile(r"\[REDACTED[^\]]*\]|\*+|<redacted>", re.I)      # already hidden upstream: leave, don't count

PATTERNS: list[tuple[str, re.Pattern[str]]] = [(k, re.compile(p)) for k, p in [
    ("private_key", r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z ]+ )?PRIVATE KEY-----|$)"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("bearer_token", r"(?i)(?<=\bbearer )[A-Za-z0-9._~+/=-]{12,}"),
    ("basic_auth", r"(?i)\b(?:proxy-)?authorization" + QUOTE + r"?\s*[:=]\s*" + QUOTE + r"?basic\s+"
                   r"(?P<s>[A-Za-z0-9+/_-]{4,}={0,2})"),
    # Any other scheme ("Token …", "ApiKey …", AWS4-HMAC-SHA256 "Credential=…"), or none: what follows looks
    # like a credential (a digit in it, or 20 characters), so "authorization: failed because …" stays.
    ("auth_header", r"(?i)\b(?:proxy-)?authorization" + QUOTE + r"?\s*[:=]\s*" + QUOTE + r"?(?!(?:bearer|basic)\b)"
                    r"(?:[a-z][\w.-]*\s+)?(?P<s>(?=[^\s\"',;]{20}|[^\s\"',;]*\d)[^\s\"',;]{8,})"),
    # user:password@host (the user may be empty: redis://:pw@host), and the same cut short before its "@"
    # (a clipped line ends with "…" or at the line end)
    ("url_password", r"(?m)(?<=://)[^/\s:@\[\]]*:(?:[^/\s@]+(?=@)|(?!\d{1,5}\b)[^/\s@…]+(?=…|$))"),
    # 20 characters when whole; a clipped key keeps at least 12
    ("aws_access_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{8,16}\b"),
    # A bare AWS secret access key: 40 characters of base64 with upper and lower case and a digit. Not a hex
    # commit id (no upper case), not a URL path (starts with "/" or holds "//"), not part of a longer run.
    ("aws_secret_key", r"(?<![\w/+=.-])(?=[A-Za-z0-9/+]{40}(?![\w/+=.-]))(?!/)(?![A-Za-z0-9/+]{0,38}//)"
                       r"(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[0-9])"
                       r"[A-Za-z0-9/+]{40}"),
    ("api_key", r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|xox[abposr]-[A-Za-z0-9-]{10,}|gh[pousr]_[A-Za-z0-9]{20,}"
                r"|github_pat_[A-Za-z0-9_]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"
                r"|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20}"
                r"|xapp-\d-[A-Za-z0-9-]{10,}|hv[sbr]\.[A-Za-z0-9_-]{20,})"),       # Slack app-level, Vault
    ("webhook_url", r"\bhooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{8,}"),
    ("key_value_secret", KEY_VALUE.pattern),
]]
# A card number is written whole or in groups (4-4-4-4…, Amex 4-6-5): single digits apart are a series of counts
# (an edge_rates row of per-minute calls), not a card.
CARD = re.compile(r"\b(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{5})\b")
CARD_PREFIX = re.compile(r"[46]|5[1-5]|2[2-7]|3[04-9]")      # issuer ranges: epoch-ms timestamps start with 1
ID_BEFORE = re.compile(r"(?i)(?:(?<![a-z])id|span|trace|parent)\W{0,4}$")   # "span_id=0857…" is an id, not a card
# Bounded parts, starting where a run starts: an unbounded local part made long "a.a.a…" lines quadratic.
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}\b")


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for d in reversed(digits):
        n = int(d) * (2 if alt else 1)
        total += n - 9 if n > 9 else n
        alt = not alt
    return total % 10 == 0


def _is_card(m: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", m.group(0))
    s, before = m.string, m.string[max(0, m.start() - 12):m.start()]
    return (13 <= len(digits) <= 19 and bool(CARD_PREFIX.match(digits)) and _luhn(digits)
            and not ID_BEFORE.search(before)
            and s[m.end():m.end() + 1] != "-" and s[m.start() - 1:m.start()] != "-")    # a piece of a UUID


def safe_cut(text: str, n: int) -> int:
    """Where to cut text to at most n characters so that no secret is split: a cut secret no longer
    matches its pattern ("postgres://u:Sup3r…" lost its "@"), so a secret is kept whole or left out."""
    if len(text) <= n:
        return len(text)
    view = Folded(text)
    spans = [sp for _, rx in PATTERNS for sp in view.spans(rx)] + view.spans(EMAIL)
    spans += [view.span(*m.span()) for m in CARD.finditer(view.view) if _is_card(m)]
    spans = [(s, e) for s, e in spans if s < n]
    end, moved = n, True
    while moved:
        moved = False
        for s, e in spans:
            if s < end <= e:            # also at its very end: url_password needs the "@" after it
                end, moved = s, True
    return end


class Redactor:
    """Replaces secrets with [REDACTED:kind] and counts what it replaced."""

    def __init__(self, emails: bool = False):
        self.emails = emails
        self.counts: Counter[str] = Counter()

    def __call__(self, text: str) -> str:
        """Secrets are matched in the folded view of the text (tools/domain/fold.py: look-alike and invisible
        characters cannot hide one) and replaced in the text itself."""
        if not text:
            return text
        steps = [(rx, lambda m, k=kind: self._replace(k, m)) for kind, rx in PATTERNS]
        steps.append((CARD, lambda m: self._count("card_number", "[REDACTED:card_number]") if _is_card(m)
                      else m.group(0)))
        if self.emails:
            steps.append((EMAIL, lambda m: self._count("email", "[REDACTED:email]")))
        view = Folded(text)
        for rx, repl in steps:
            text, n = view.sub(rx, repl)
            if n:
                view = Folded(text)
        return text

    def value(self, obj: Any, secret: bool = False) -> Any:
        """Every string in a JSON-like value redacted (tool-call arguments, reports, transcripts): redacting
        the JSON text could cut an escape sequence and leave invalid JSON. Under a key that names a credential
        ({"AWS_SECRET_ACCESS_KEY": …}, a config diff's {"db.password": {"from": …, "to": …}}) every value is one."""
        if isinstance(obj, dict):
            return {k: self.value(v, secret or _secret_key(k, v)) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v, secret) for v in obj]
        if secret and isinstance(obj, (str, int, float)) and not isinstance(obj, bool) and obj != "" \
                and not MASKED.fullmatch(str(obj)):
            return self._count("key_value_secret", "[REDACTED:key_value_secret]")
        return self(obj) if isinstance(obj, str) else obj

    def _replace(self, kind: str, m: re.Match[str]) -> str:
        if kind == "key_value_secret":
            return self._key_value(m)
        if "s" in m.re.groupindex:          # only the named part is secret ("Authorization: Basic " stays)
            if MASKED.fullmatch(m.group("s")):
                return m.group(0)
            a, b = m.start("s") - m.start(), m.end("s") - m.start()
            return m.group(0)[:a] + self._count(kind, f"[REDACTED:{kind}]") + m.group(0)[b:]
        return self._count(kind, f"[REDACTED:{kind}]")

    def _key_value(self, m: re.Match[str]) -> str:
        prefix, word, values = m.group(1), m.group(2), m.group(3)
        if not prefix and word.lower() in WORDY_KEYS and WORDY_VALUE.fullmatch(values):
            return m.group(0)
        return m.group(0)[:m.start(3) - m.start()] + ONE_VALUE.sub(self._one_value, values)

    def _one_value(self, v: re.Match[str]) -> str:
        s = v.group(0)
        quoted = s[0] in "\"'" and s[-1] == s[0] and len(s) > 1
        inner = s[1:-1] if quoted else s
        if MASKED.fullmatch(inner):
            return s
        mark = self._count("key_value_secret", "[REDACTED:key_value_secret]")
        return s[0] + mark + s[-1] if quoted else mark

    def _count(self, kind: str, replacement: str) -> str:
        self.counts[kind] += 1
        return replacement


def _secret_key(key: object, value: Any) -> bool:
    k = str(key)
    if not SECRET_KEY.fullmatch(k):
        return False
    # {"token": "timeout"} is about the service named token (see WORDY_KEYS), not a credential
    return not (k.lower() in WORDY_KEYS and isinstance(value, str) and WORDY_VALUE.fullmatch(value))


def outgoing(text: str) -> str:
    """`text` as it may leave the process (a terminal, a report, Slack, a transcript, a file): without escape
    sequences or control characters, and with its secrets redacted. Controls go first, so that one inside a
    secret cannot break its pattern."""
    return Redactor()(without_controls(text)) if text else text


def outgoing_value(obj: Any) -> Any:
    """Every string of a JSON-like value (a report's JSON, a transcript line, an eval row) with its secrets
    redacted. Control characters stay: JSON escapes them (\\u001b), so they are data there, not commands."""
    return Redactor().value(obj)
