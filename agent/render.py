"""A finished investigation as Markdown (for terminals, Slack, files) or as JSON."""
from __future__ import annotations

import re
from typing import Any

from tools.domain.evidence import EvidenceLedger
from agent.loop import RunResult
from agent.report import Report
from agent.termtext import plain
from tools.domain.redact import outgoing_value


def report_markdown(report: Report, ledger: EvidenceLedger, usage: Any = None, title: str = "") -> str:
    out: list[str] = []
    rc = report.root_cause
    if report.inconclusive or rc is None:
        out.append(f"# Inconclusive{': ' + md(title) if title else ''}")
        out.append("The evidence does not single out a root cause; what was checked and what to check next follow.")
    else:
        out.append(f"# Root cause: {md(rc.service)} — {rc.kind} ({rc.category})")
        out.append(f"**{md(rc.summary)}**  ")
        out.append(f"onset {rc.onset.isoformat() if rc.onset else 'unknown'} · confidence {rc.confidence:.2f}")
    if ledger.failures:
        out.append("\n## Data that could not be read")
        out.append("What follows was found without it: a source that could not be read rules nothing out.")
        out += [f"- {md(f.error)} (tools: {md(', '.join(f.tools))})" for f in ledger.failures]
    if report.chain:
        out.append("\n## Why? (symptom → root cause)")
        for i, w in enumerate(report.chain, 1):
            out.append(f"{i}. {md(w.claim)} [{md(', '.join(w.evidence))}]")
    if report.hypotheses:
        out.append("\n## Hypotheses")
        out.append("| # | service | kind | status | why | evidence |\n|---|---|---|---|---|---|")
        for i, h in enumerate(report.hypotheses, 1):
            out.append(f"| {i} | {md(h.service)} | {h.kind} | {h.status} | {md(h.reason)} | "
                       f"{md(', '.join(h.evidence))} |")
    for head, items in (("Next checks", report.next_checks), ("Remediation", report.remediation)):
        if items:
            out.append(f"\n## {head}")
            out += [f"- {md(x)}" for x in items]
    cited = report.cited()
    if cited:
        out.append("\n## Evidence cited")
        out.append("| id | source | service | what |\n|---|---|---|---|")
        for eid in cited:
            ev = ledger.get(eid)
            if ev:
                out.append(f"| {ev.id} | {ev.source} | {md(ev.service) if ev.service else '-'} | {md(ev.summary)} |")
    if usage is not None:
        out.append(f"\n_{usage.steps} steps · {usage.tool_calls} tool calls · "
                   f"{usage.input_tokens + usage.output_tokens} tokens · {usage.wall_s:.1f} s_")
    return "\n".join(out)


def result_json(result: RunResult, **extra: Any) -> dict[str, Any]:
    """The run as `--json` prints it; telemetry in it (the report's text, the evidence) has its secrets redacted."""
    return outgoing_value({**report_dict(result.report), **extra, "stop_reason": result.stop_reason.value,
                           "error": result.error,
                           "failures": [f.model_dump(mode="json") for f in result.ledger.failures],
                           "evidence": [e.model_dump(mode="json", exclude={"rows"}) for e in result.ledger.items],
                           "usage": result.usage.__dict__})


def report_dict(report: Report) -> dict[str, Any]:
    return report.model_dump(mode="json")


# Text from telemetry or a model is shown literally: a log line's [text](url) must not become a link with its
# URL hidden, nor **x** bold, nor <tag> vanish. Backslash-escape what can start inline Markdown (and "|", which
# ends a table cell); "_" inside a word cannot, so snake_case names stay readable in saved reports.
_MD_INLINE = re.compile(r"[\\`*\[\]<&~|]|(?<![^\W_])_+|_+(?![^\W_])")
# ... and what would start a block (heading, quote, list) where the text begins a list item, or close a heading
_MD_BLOCK = re.compile(r"^(?:[#>+-]|\d{1,9}[.)])|#$")


def md(text: str) -> str:
    """Telemetry or model text for interpolation into report Markdown: one line, no control characters, literal."""
    s = _MD_INLINE.sub(lambda m: "".join("\\" + c for c in m.group()), plain(text).replace("\n", " ").strip())
    return _MD_BLOCK.sub(lambda m: m.group()[:-1] + "\\" + m.group()[-1], s)
