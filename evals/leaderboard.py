"""The leaderboard, as Markdown and as a self-contained HTML page, from a results dict."""
from __future__ import annotations

import html
from typing import Any


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(results: dict[str, Any]) -> str:
    s = results["summary"]
    out = [f"## Leaderboard ({_n(results['cases'], 'case')} × {_n(results['trials'], 'trial')}, "
           f"prompt {results['prompt_version']})",
           "", "| model | AC@1 (95% CI) | AC@3 | service | kind | abstain | citations valid | key evidence | "
               "red herring blamed | errors | tool calls | tokens in/out | cost / investigation | latency p50 |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, v in sorted(s.items(), key=lambda kv: -(kv[1]["ac1"] or 0)):
        lo, hi = v["ac1_ci95"]
        out.append(f"| {m} | {_pct(v['ac1'])} ({_pct(lo)}–{_pct(hi)}) | {_pct(v['ac3'])} | "
                   f"{_pct(v['service_accuracy'])} | {_pct(v['kind_accuracy'])} | {_pct(v['abstention_rate'])} | "
                   f"{_pct(v['citation_validity'])} | {_pct(v['key_evidence_recall'])} | "
                   f"{_pct(v['red_herring_blame_rate'])} | {v['errors']} | {v['tool_calls']:.1f} | "
                   f"{v['input_tokens']:.0f}/{v['output_tokens']:.0f} | ${v['cost_per_investigation_usd']:.4f} | "
                   f"{v['wall_s_p50']:.2f} s |")
    for group in ("kind", "difficulty"):
        groups = sorted({g for v in s.values() for g in v[f"by_{group}"]})
        out += ["", f"### AC@1 by {group}", "", "| " + group + " | " + " | ".join(s) + " |",
                "|---|" + "---|" * len(s)]
        for g in groups:
            cells = [s[m][f"by_{group}"].get(g) for m in s]
            out.append(f"| {g} | " + " | ".join(f"{_pct(c['ac1'])} (n={c['n']})" if c else "-" for c in cells) + " |")
    return "\n".join(out + case_rows(results.get("rows", []))) + "\n"


def case_rows(rows: list[dict[str, Any]]) -> list[str]:
    """One line per run: what each case was, what the model answered, and whether that was right."""
    out = ["", "### Cases", "", "| case | kind | difficulty | model | trial | answer | AC@1 | AC@3 | stop | error |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pred = r.get("predicted") or {}
        answer = f"{pred['service']}/{pred['kind']}" if pred else ("inconclusive" if r.get("abstained") else "-")
        cells = [r["case"], r.get("kind"), r.get("difficulty"), r["model"], r.get("trial"), answer,
                 "✓" if r.get("ac1") else "✗", "✓" if r.get("ac3") else "✗", r.get("stop_reason") or "-",
                 str(r.get("error") or "")[:80]]
        out.append("| " + " | ".join(str(c if c is not None else "-").replace("|", "/") for c in cells) + " |")
    return out


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def html_page(results: dict[str, Any]) -> str:
    """The same tables as HTML (a small Markdown-table converter keeps the two in step)."""
    body, table = [], []

    def flush():
        if table:
            head, *rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-"}]
            cells = lambda r: [html.escape(c.strip()) for c in r.strip().strip("|").split("|")]  # noqa: E731
            body.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in cells(head)) + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells(r)) + "</tr>" for r in rows)
                        + "</tbody></table>")
            table.clear()
    for line in markdown(results).splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("### "):
            body.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
    flush()
    style = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
             "th{background:#f4f4f4}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fivewhys eval</title><style>{style}</style>"
            f"</head><body><h1>fivewhys eval</h1>{''.join(body)}</body></html>")
