"""The heuristic on the whole committed corpus, as `fivewhys eval evals/incidents` runs it in CI."""
from pathlib import Path

from evals.harness import find_cases, run_eval, summarise

CORPUS = Path(__file__).resolve().parent.parent / "evals" / "incidents"
# The harder level (issue 12 item 8): measured AC@1 0.969 (31 of 32), the whole corpus 0.990 (the target
# is 0.95 for the corpus). The floors sit a case or two below what is measured, to catch regressions.
HARDER_FLOOR = 0.9
CORPUS_FLOOR = 0.97


def test_heuristic_on_the_corpus(tmp_path):
    res = run_eval(find_cases(CORPUS), ["heuristic"], concurrency=2, out_dir=tmp_path, use_cache=False)
    rows = res["rows"]
    assert res["summary"]["heuristic"]["n"] >= 98 and res["summary"]["heuristic"]["errors"] == 0
    assert res["summary"]["heuristic"]["citation_validity"] == 1.0
    assert res["summary"]["heuristic"]["ac1"] >= CORPUS_FLOOR, res["summary"]["heuristic"]
    classic = summarise([r for r in rows if r["difficulty"] != "harder"])
    assert classic["n"] >= 66 and classic["ac1"] >= 0.98, classic
    assert all(v["ac1"] >= 0.6 for v in classic["by_kind"].values()), classic["by_kind"]
    harder = summarise([r for r in rows if r["difficulty"] == "harder"])
    assert harder["n"] >= 32 and harder["ac1"] >= HARDER_FLOOR, harder
