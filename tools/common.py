"""What several tools need: the time range a call covers and the table text they print."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable

from tools.domain.redact import safe_cut
from tools.backends.base import Filter, as_utc
from tools.results import Status
from tools.toolset import ToolContext, ToolResult, fmt_time


def time_range(ctx: ToolContext, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """Defaults to the incident window; naive times are UTC; start after end is swapped."""
    w = ctx.incident.window
    s = as_utc(start) if start else w.start
    e = as_utc(end) if end else w.end
    return (e, s) if s > e else (s, e)


def base_filter(ctx: ToolContext, start: datetime | None, end: datetime | None,
                service: str | None = None, **kw: Any) -> Filter:
    s, e = time_range(ctx, start, end)
    return Filter(start=s, end=e, services=(service,) if service else None, **kw)


def no_data(ctx: ToolContext, source: str, hint: str = "") -> ToolResult | None:
    """What a tool returns when a source is absent: 'no data', never 'nothing happened' (and no evidence id:
    an absent source cannot rule anything out)."""
    if ctx.telemetry.coverage(source).present:
        return None
    return ToolResult(text=f"NO DATA: this incident has no {source} source, so nothing can be concluded from "
                           f"{source} (absence of data is not absence of problems).{' ' + hint if hint else ''}",
                      status=Status.NO_DATA)


def nothing_found(ctx: ToolContext, *, source: str, tool: str, summary: str, text: str, data=None,
                  service: str | None = None, start: datetime | None = None, end: datetime | None = None,
                  filters: dict[str, Any] | None = None) -> ToolResult:
    """An empty result is a finding ("no certificate expired"): it gets an evidence id, so a report can cite
    it when it rules something out."""
    ev = ctx.ledger.add(source=source, tool=tool, summary=summary, service=service, start=start, end=end,
                        filters=filters, attributes={"result": "empty"})
    return ToolResult(text=f"[{ev.id}] {text}", evidence_ids=[ev.id], data=data, status=Status.EMPTY)


def table(rows: Iterable[dict[str, Any]], cols: list[str], limit: int = 30) -> str:
    rows = list(rows)
    shown = rows[:limit]
    out = [" | ".join(cols)]
    for r in shown:
        out.append(" | ".join(_cell(_get(r, c)) for c in cols))
    if len(rows) > limit:
        out.append(f"… {len(rows) - limit} more rows left out")
    return "\n".join(out)


def _get(row: Any, col: str) -> Any:
    return row.get(col) if isinstance(row, dict) else getattr(row, col, None)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, datetime):
        return fmt_time(v)
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    s = str(v).replace("\n", " ")
    return s if len(s) <= 160 else clip(s, 160)


# An exception named in the part of a line a cut leaves out ("… nested exception is java.lang.IllegalStateException:
# No instances available for ts-basic-service]"): the cause of the line, kept after the cut.
# Bounded parts (a package of at most 12 names): "a.a.a…" lines must stay linear.
CAUSE = re.compile(r"\b(?:[A-Za-z_$][\w$]{0,60}\.){0,12}[A-Z][\w$]{0,80}(?:Exception|Error)\b(?::[^\]\n\\]{0,160})?")


def clip(text: str | None, n: int = 300) -> str:
    """At most about n characters, and the exception the rest names (a Java servlet error names its cause after
    ~300 characters); a cut never splits a secret (redaction happens later, on what is sent)."""
    s = (text or "").replace("\n", "\\n")
    if len(s) <= n:
        return s
    k = safe_cut(s, n - 1)
    probe = s.replace("\\n", "\n\n")      # same positions; an escaped newline ends a cause, starts no class name
    # A cut inside a cause (a line cut once already, cut again to fit a table cell) moves to before it.
    inside = next((m for m in CAUSE.finditer(probe, max(0, k - 400)) if m.start() < k < m.end()), None)
    if inside is not None and ":" in inside.group(0) and inside.start() > n // 3:
        k = safe_cut(s, inside.start())
    cause = next((m for m in CAUSE.finditer(probe, k) if ":" in m.group(0)), None) or CAUSE.search(probe, k)
    if cause is None:
        return s[:k] + f"… (+{len(s) - k} chars)"
    c0, c1 = cause.start(), safe_cut(s, cause.end())
    return s[:k] + f" … {s[c0:c1]} … (+{len(s) - k - (c1 - c0)} chars)"
