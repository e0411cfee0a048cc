"""A finished investigation as Markdown (for terminals, Slack, files) or as JSON."""
from __future__ import annotations

from typing import Any

from agent.evidence import EvidenceLedger
from agent.loop import RunResult
from agent.report import Report


def report_markdown(report: Report, ledger: EvidenceLedger, usage: Any = None, title: str = "") -> str:
    out: list[str] = []
    rc = report.root_cause
    if report.inconclusive or rc is None:
        out.append(f"# Inconclusive{': ' + title if title else ''}")
        out.append("The evidence does not single out a root cause; what was checked and what to check next follow.")
    else:
        out.append(f"# Root cause: {rc.service} — {rc.kind} ({rc.category})")
        out.append(f"**{rc.summary}**  ")
        out.append(f"onset {rc.onset.isoformat() if rc.onset else 'unknown'} · confidence {rc.confidence:.2f}")
    if report.chain:
        out.append("\n## Why? (symptom → root cause)")
        for i, w in enumerate(report.chain, 1):
            out.append(f"{i}. {w.claim} [{', '.join(w.evidence)}]")
    if report.hypotheses:
        out.append("\n## Hypotheses")
        out.append("| # | service | kind | status | why | evidence |\n|---|---|---|---|---|---|")
        for i, h in enumerate(report.hypotheses, 1):
            out.append(f"| {i} | {h.service} | {h.kind} | {h.status} | {_cell(h.reason)} | {', '.join(h.evidence)} |")
    for head, items in (("Next checks", report.next_checks), ("Remediation", report.remediation)):
        if items:
            out.append(f"\n## {head}")
            out += [f"- {x}" for x in items]
    cited = report.cited()
    if cited:
        out.append("\n## Evidence cited")
        out.append("| id | source | service | what |\n|---|---|---|---|")
        for eid in cited:
            ev = ledger.get(eid)
            if ev:
                out.append(f"| {ev.id} | {ev.source} | {ev.service or '-'} | {_cell(ev.summary)} |")
    if usage is not None:
        out.append(f"\n_{usage.steps} steps · {usage.tool_calls} tool calls · "
                   f"{usage.input_tokens + usage.output_tokens} tokens · {usage.wall_s:.1f} s_")
    return "\n".join(out)


def result_json(result: RunResult, **extra: Any) -> dict[str, Any]:
    return {**report_dict(result.report), **extra, "stop_reason": result.stop_reason,
            "evidence": [e.model_dump(mode="json", exclude={"rows"}) for e in result.ledger.items],
            "usage": result.usage.__dict__}


def report_dict(report: Report) -> dict[str, Any]:
    return report.model_dump(mode="json")


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")
