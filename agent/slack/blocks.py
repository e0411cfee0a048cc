"""The report as Block Kit within Slack's limits (50 blocks, 3,000 characters a section)."""
from __future__ import annotations

from agent.evidence import EvidenceLedger
from agent.report import Report

MAX_BLOCKS, MAX_TEXT = 50, 3000


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[: MAX_TEXT - 1] + ("…" if len(text) >= MAX_TEXT else "")}}


def report_blocks(report: Report, ledger: EvidenceLedger, key: str) -> list[dict]:
    rc = report.root_cause
    head = ("*Inconclusive*: the evidence does not single out a cause." if report.inconclusive or rc is None else
            f"*Root cause: {rc.service} — {rc.kind}* ({rc.category}, confidence {rc.confidence:.2f})\n{rc.summary}")
    blocks = [_section(head)]
    if report.chain:
        blocks.append(_section("*Why?*\n" + "\n".join(f"{i}. {w.claim} `{', '.join(w.evidence)}`"
                                                      for i, w in enumerate(report.chain, 1))))
    ruled = [h for h in report.hypotheses if h.status == "ruled_out"]
    if ruled:
        blocks.append(_section("*Ruled out*\n" + "\n".join(f"• {h.service} / {h.kind}: {h.reason}" for h in ruled[:6])))
    if report.remediation or report.next_checks:
        blocks.append(_section("*Next*\n" + "\n".join(f"• {x}" for x in (report.remediation + report.next_checks)[:8])))
    blocks.append({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "👍"}, "action_id": "feedback_up", "value": key},
        {"type": "button", "text": {"type": "plain_text", "text": "👎"}, "action_id": "feedback_down", "value": key},
        {"type": "button", "text": {"type": "plain_text", "text": "Show evidence"}, "action_id": "show_evidence",
         "value": key}]})
    return blocks[:MAX_BLOCKS]
