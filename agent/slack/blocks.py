"""The report as Block Kit within Slack's limits (50 blocks, 3,000 characters a section).

Everything interpolated comes from telemetry or a model, so it is escaped for mrkdwn: a log line must not
be able to ping @channel, mention users or forge links; and its secrets are redacted. `mrkdwn_escape` is the
one way text reaches Slack (the report's blocks, its fallback text, "Show evidence", progress, failures)."""
from __future__ import annotations

from tools.domain.redact import outgoing
from tools.domain.evidence import EvidenceLedger
from agent.report import Report

MAX_BLOCKS, MAX_TEXT = 50, 3000


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters; `<!channel>`, `<@U…>` and `<url|label>` all need `<`. Escape
    sequences and control characters are left out (Slack shows them raw, and a client may not), secrets redacted."""
    return outgoing(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[: MAX_TEXT - 1] + ("…" if len(text) >= MAX_TEXT else "")}}


def report_blocks(report: Report, ledger: EvidenceLedger, key: str) -> list[dict]:
    e = mrkdwn_escape
    rc = report.root_cause
    head = ("*Inconclusive*: the evidence does not single out a cause." if report.inconclusive or rc is None else
            f"*Root cause: {e(rc.service)} — {e(rc.kind)}* ({e(rc.category)}, confidence {rc.confidence:.2f})\n"
            f"{e(rc.summary)}")
    blocks = [_section(head)]
    if ledger.failures:
        blocks.append(_section(":warning: *Data that could not be read* (the answer was reached without it)\n"
                               + "\n".join(f"• {e(f.error)} ({e(', '.join(f.tools))})" for f in ledger.failures[:6])))
    if report.chain:
        blocks.append(_section("*Why?*\n" + "\n".join(f"{i}. {e(w.claim)} `{e(', '.join(w.evidence))}`"
                                                      for i, w in enumerate(report.chain, 1))))
    ruled = [h for h in report.hypotheses if h.status == "ruled_out"]
    if ruled:
        blocks.append(_section("*Ruled out*\n" + "\n".join(f"• {e(h.service)} / {e(h.kind)}: {e(h.reason)}"
                                                           for h in ruled[:6])))
    if report.remediation or report.next_checks:
        blocks.append(_section("*Next*\n" + "\n".join(f"• {e(x)}" for x in (report.remediation + report.next_checks)[:8])))
    actions = {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "👍"}, "action_id": "feedback_up", "value": key},
        {"type": "button", "text": {"type": "plain_text", "text": "👎"}, "action_id": "feedback_down", "value": key},
        {"type": "button", "text": {"type": "plain_text", "text": "Show evidence"}, "action_id": "show_evidence",
         "value": key}]}
    return blocks[: MAX_BLOCKS - 1] + [actions]


def evidence_text(ledger: EvidenceLedger, limit: int = 40) -> str:
    """The evidence list for "Show evidence", within one message."""
    lines = [f"`{x.id}` {x.source} {e}: {mrkdwn_escape(x.summary)}"
             for x in ledger.items[:limit] for e in [mrkdwn_escape(x.service or "")]]
    if not lines:
        return "No evidence was collected."
    more = len(ledger.items) - limit
    text = "\n".join(lines) + (f"\n… and {more} more (in the attached report)" if more > 0 else "")
    return text[:MAX_TEXT]
