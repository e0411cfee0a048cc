"""A small seeded run of the fuzz campaign (benchmarks/fuzz_snapshots.py; the 1,000-mutation run is the
benchmark): mutated snapshots through `snapshot validate` and `investigate` in child processes end with no
traceback, no hang, no unexpected exit code, the two commands agreeing, no planted secret or escape code shown,
and memory under 2 GB (issue 16)."""
import json
import subprocess
import sys

from conftest import REPO
from factory import build


def test_thirty_mutations_of_a_small_snapshot_break_nothing(tmp_path):
    base = build(tmp_path / "base" / "mini", gz=True)
    out = tmp_path / "summary.json"
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "fuzz_snapshots.py"), "--mutations", "30",
                          "--seed", "7", "--base", str(base), "--timeout", "240", "--json", str(out)],
                         capture_output=True, text=True, timeout=1200, cwd=str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    s = json.loads(out.read_text())
    assert s["mutations"] == 30 and len(s["operators"]) >= 10
    assert (s["tracebacks"], s["hangs"], s["unexpected_exits"], s["disagreements"], s["secrets_shown"],
            s["escape_codes_shown"]) == (0, 0, 0, 0, 0, 0), s["problems"]
    assert max(s["peak_rss_mib"].values()) < 2048
