"""How long redaction and clipping take on long hostile lines (shaped to make a backtracking pattern slow).

    python benchmarks/redact.py [--runs 3]

Prints the median time per line over --runs runs. tests/test_redact.py checks what comes out of them; how
long it takes is measured here, not asserted there.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]

from test_redact import HOSTILE  # noqa: E402
from tools.common import clip  # noqa: E402
from tools.domain.redact import Redactor  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    redact = Redactor(emails=True)
    for name, text in HOSTILE.items():
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            redact(text)
            clip(text, 300)
            times.append(time.perf_counter() - t)
        print(f"{name:10} {len(text):8,} chars  median {statistics.median(times) * 1000:8.1f} ms  "
              f"max {max(times) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
