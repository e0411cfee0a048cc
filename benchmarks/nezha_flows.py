"""A signal study, not the investigator: do broken log flows point at the faulty service on the Nezha cases?

    python benchmarks/nezha_flows.py [evals/nezha-dev] [--system tt]

Nezha's own truth for an exception or a wrong return value is a pair of log lines in the faulty service
(`TravelServiceImpl#451 → #457`): after the fault the second stops following the first. This script asks the
same of every service, from the snapshot alone, with the tools' baseline split (truth.yaml only scores it):
- stopped: line B followed line A in the same trace in ≥ FOLLOWED of the traces with A before the split,
  and in ≤ STOPPED of them after;
- new: a warn/error line B follows A in ≥ NEW_AFTER of the traces with A after, and ≤ NEW_BEFORE before.
A service's weight is the most traces (after the split) behind one of its changed flows. It prints, per case,
the top services and where the faulty one ranks; docs/nezha.md quotes its totals.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.analysis import baseline_end  # noqa: E402
from tools.domain.incident import load_incident  # noqa: E402

FOLLOWED, STOPPED = 0.8, 0.2
NEW_AFTER, NEW_BEFORE = 0.5, 0.05
MIN_BEFORE, MIN_AFTER = 3, 5           # traces with line A on each side
IDS = re.compile(r"(TraceID|SpanID|trace_id|span_id)[:=]\s*\S+", re.I)
LEAD = re.compile(r"^\s*\d[\d:.\-T ]*\s+")            # a leading timestamp
STATEMENT = re.compile(r"^[\w.$]+#\d+$")               # Class#line: the log statement itself


def template(message: str) -> str:
    """One template per log statement: ids and the timestamp dropped, words with digits masked (but Class#line)."""
    words = IDS.sub("", LEAD.sub("", message[:200])).split()
    return " ".join(w if STATEMENT.match(w) or not re.search(r"\d", w) else "<*>" for w in words[:8])


def traces(case: Path) -> tuple[dict, dict, dict]:
    """(before, after, level): service → trace → templates, split where the tools put the baseline's end."""
    inc = load_incident(case)
    split, page = baseline_end(inc), inc.alert.at
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    rows = con.execute(f"""SELECT CAST(time AS TIMESTAMPTZ), service, trace_id, message, coalesce(level, '-')
                             FROM read_json_auto('{case / "logs.jsonl.gz"}', format='newline_delimited')
                            WHERE trace_id IS NOT NULL AND CAST(time AS TIMESTAMPTZ) < ?""", [page]).fetchall()
    before, after = defaultdict(lambda: defaultdict(set)), defaultdict(lambda: defaultdict(set))
    level = {}
    for t, svc, tid, msg, lv in rows:
        k = template(msg)
        (before if t < split else after)[svc][tid].add(k)
        level[k] = lv
    return before, after, level


def _pairs(by_trace: dict) -> tuple[Counter, Counter]:
    a, ab = Counter(), Counter()
    for tpls in by_trace.values():
        for x in tpls:
            a[x] += 1
            ab.update((x, y) for y in tpls if y != x)
    return a, ab


def weights(before: dict, after: dict, level: dict) -> dict[str, int]:
    """Per service, the most traces (after the split) behind one of its stopped or new flows."""
    out: dict[str, int] = {}
    for svc in set(before) | set(after):
        (b_a, b_ab), (a_a, a_ab) = _pairs(before.get(svc, {})), _pairs(after.get(svc, {}))
        for (x, y), n in list(b_ab.items()) + list(a_ab.items()):
            if b_a[x] < MIN_BEFORE or a_a[x] < MIN_AFTER:
                continue
            was, now = b_ab[(x, y)] / b_a[x], a_ab[(x, y)] / a_a[x]
            stopped = level[y] not in ("error", "fatal") and was >= FOLLOWED and now <= STOPPED
            new = level[y] in ("warn", "error", "fatal") and now >= NEW_AFTER and was <= NEW_BEFORE
            if stopped or new:
                out[svc] = max(out.get(svc, 0), a_a[x])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", nargs="?", type=Path, default=Path("evals/nezha-dev"))
    ap.add_argument("--system", default="tt", help="ob or tt (the case names' prefix)")
    a = ap.parse_args(argv)
    cases = sorted(c for c in a.suite.glob(f"nezha-{a.system}-*") if (c / "logs.jsonl.gz").is_file())
    if not cases:
        print(f"error: no nezha-{a.system}-* cases with logs in {a.suite} (docs/nezha.md imports them)", file=sys.stderr)
        return 2
    first = other = 0
    for case in cases:
        truth = yaml.safe_load((case / "truth.yaml").read_text())["root_cause"]["service"]
        w = weights(*traces(case))
        ranked = sorted(w, key=lambda s: -w[s])
        first += bool(ranked) and ranked[0] == truth
        other += bool(ranked) and ranked[0] != truth
        rank = ranked.index(truth) + 1 if truth in ranked else "-"
        print(f"{case.name}: faulty {truth} rank {rank}; top " + ", ".join(f"{s} {w[s]}" for s in ranked[:3]))
    print(f"\n{len(cases)} cases: the faulty service first in {first}, another service first in {other}, "
          f"no changed flow in {len(cases) - first - other}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
