"""The eval's Markdown and HTML reports list every case, not only the totals (issue 14, item 8)."""
from evals.harness import run_eval
from evals.leaderboard import html_page, markdown
from evals.simulator import simulate


def test_reports_list_each_case_with_its_answer(tmp_path):
    case = simulate("disk_full", 1, "easy", tmp_path / "disk")
    res = run_eval([case], ["heuristic"], out_dir=tmp_path / "out")
    row = res["rows"][0]
    md = markdown(res)
    assert "(1 case × 1 trial, prompt " in md                       # not "1 cases × 1 trial(s)"
    line = next(x for x in md.splitlines() if x.startswith("| disk |"))
    pred = row["predicted"]
    assert f"| {pred['service']}/{pred['kind']} |" in line and "| ✓ |" in line and "| submitted |" in line
    page = html_page(res)
    assert "<h3>Cases</h3>" in page and "<td>disk</td>" in page
