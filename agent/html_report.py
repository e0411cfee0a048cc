"""A self-contained HTML report: the Markdown report rendered, with the timeline as an inline PNG."""
from __future__ import annotations

import base64
import html
import io

from tools.domain.evidence import EvidenceLedger
from agent.render import report_markdown
from agent.report import Report
from agent.termtext import plain


def html_report(report: Report, ledger: EvidenceLedger, telemetry, usage=None) -> str:
    from markdown_it import MarkdownIt
    from agent.timeline import draw_timeline
    # report_markdown escapes all telemetry, so only its own Markdown is live and no raw HTML is let through
    # (HTML-escaping the source as well would escape twice: "\<" would show as "&lt;")
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(report_markdown(report, ledger, usage))
    rc = report.root_cause
    fig = draw_timeline(telemetry, None, root_service=rc.service if rc else None, onset=rc.onset if rc else None)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    img = base64.b64encode(buf.getvalue()).decode()
    inc = telemetry.incident
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}"
             "img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fivewhys: {html.escape(plain(inc.id))}</title>"
            f"<style>{style}</style></head><body><p><b>{html.escape(plain(inc.id))}</b>: {html.escape(plain(inc.title))}</p>"
            f"<img alt='timeline of the incident' src='data:image/png;base64,{img}'>{body}</body></html>")
