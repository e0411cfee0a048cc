"""Compare two result files: which cases flipped, and an exact McNemar test on the discordant pairs."""
from __future__ import annotations

from math import comb
from typing import Any


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b = right→wrong, c = wrong→right."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n)


def check_results(results: Any, metric: str = "ac1") -> None:
    """ValueError unless `results` has what compare reads: a results file of the wrong shape is not a KeyError."""
    rows = results.get("rows") if isinstance(results, dict) else None
    need = {"model", "case", "trial", metric}
    if not isinstance(rows, list) or not all(isinstance(r, dict) and need <= r.keys() for r in rows):
        raise ValueError("not eval results (want the file written by `fivewhys eval --json`: "
                         f"rows with {', '.join(sorted(need))})")


def compare(before: dict[str, Any], after: dict[str, Any], metric: str = "ac1") -> dict[str, Any]:
    check_results(before, metric)
    check_results(after, metric)
    key = lambda r: (r["case"], r["trial"]) if len({x["model"] for x in before["rows"]}) == 1 and \
        len({x["model"] for x in after["rows"]}) == 1 else (r["model"], r["case"], r["trial"])  # noqa: E731
    a = {key(r): bool(r[metric]) for r in before["rows"]}
    b = {key(r): bool(r[metric]) for r in after["rows"]}
    common = sorted(a.keys() & b.keys())
    fixed = [k for k in common if not a[k] and b[k]]
    broke = [k for k in common if a[k] and not b[k]]
    return {"paired": len(common), "before": sum(a[k] for k in common), "after": sum(b[k] for k in common),
            "fixed": fixed, "broke": broke, "p_value": mcnemar_exact(len(broke), len(fixed)),
            "only_before": sorted(a.keys() - b.keys()), "only_after": sorted(b.keys() - a.keys())}


def render(c: dict[str, Any], metric: str = "ac1") -> str:
    n = c["paired"] or 1
    lines = [f"{c['paired']} paired runs: {metric} {c['before']}/{c['paired']} ({c['before'] / n:.1%}) → "
             f"{c['after']}/{c['paired']} ({c['after'] / n:.1%})",
             f"fixed {len(c['fixed'])}, broke {len(c['broke'])}; exact McNemar p = {c['p_value']:.4f} "
             f"({'significant' if c['p_value'] < 0.05 else 'not significant'} at 0.05)"]
    lines += [f"  + {' / '.join(map(str, k))}" for k in c["fixed"]]
    lines += [f"  - {' / '.join(map(str, k))}" for k in c["broke"]]
    if c["only_before"] or c["only_after"]:
        lines.append(f"unpaired: {len(c['only_before'])} only before, {len(c['only_after'])} only after")
    return "\n".join(lines)
