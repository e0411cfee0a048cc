"""The heuristic on the whole committed corpus, as `fivewhys eval evals/incidents` runs it in CI."""
from pathlib import Path

from evals.harness import find_cases, run_eval

CORPUS = Path(__file__).resolve().parent.parent / "evals" / "incidents"


def test_heuristic_on_the_corpus(tmp_path):
    res = run_eval(find_cases(CORPUS), ["heuristic"], concurrency=2, out_dir=tmp_path, use_cache=False)
    s = res["summary"]["heuristic"]
    assert s["n"] >= 66 and s["errors"] == 0
    assert s["ac1"] >= 0.85, s
    assert s["citation_validity"] == 1.0
    assert all(v["ac1"] >= 0.6 for v in s["by_kind"].values()), s["by_kind"]
