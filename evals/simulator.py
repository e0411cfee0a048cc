"""The incident simulator: v1 snapshots with truth.yaml, one fault per simulated root-cause kind.

A random topology in tiers (edge → gateways → mid-tier → leaves, databases, caches, and dependencies
outside the system) across three zones; traffic with an afternoon peak; a fault of one kind at one
service that propagates up the call graph with delays; and what makes RCA hard in real life: unrelated
deploys, background errors, certificates that expire later, a missing source, the page far from the
cause, callers whose connection errors point at a healthy callee. Messages are the phrasings real
systems use, never strings only this simulator emits. Deterministic: same (kind, seed, difficulty),
same bytes. The world (topology, traffic, telemetry) is evals/world.py; each kind's fault is in
evals/faults.py, registered with @fault under its name in the taxonomy, whose record gives the truth's key
evidence and other answers graded correct. A kind of the taxonomy without a fault has no simulated cases.
The harder level (evals/harder.py) walks requests through the call graph instead (evals/tracing.py), with what
real incidents add: the cause deep below the page, a concurrent incident, a herring on the failing path,
retries, ramps, faults that show only as latency or CPU, the root cause's own telemetry missing.

    python -m evals.simulator corpus evals/incidents                 # the committed corpus, bit for bit
    python -m evals.simulator one --kind cert_expired --seed 7 --out /tmp/incident
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

from evals.demo_incident import write as write_demo
from evals.faults import FAULTS
from evals.harder import simulate_harder
from evals.world import DIFFICULTIES, LEVELS, WINDOW, Stage, World, build_world, change_records, telemetry, ts
from tools.domain.incident import claim_out_dir, write_snapshot
from tools.domain.taxonomy import BY_NAME, NAMES

HARDER_CASES = 2             # harder cases per kind in the corpus (3 for a kind with no classic cases)


def stage_fault(w: World, kind: str, root: str, onset: int, difficulty: str) -> Stage:
    """The failures the fault causes, propagated up the call graph, and the records it leaves behind."""
    share = {"easy": 0.35, "medium": 0.22, "hard": 0.12}[difficulty]
    svc_callees = [c for c in w.calls.get(root, []) if c in w.services]
    stage = Stage(w, root, onset, share, w.rng.choice(svc_callees) if svc_callees else None)
    FAULTS[kind].stage(stage)
    stage.propagate()
    return stage


def simulate(kind: str, seed: int, difficulty: str = "medium", out: Path | str = "incident",
             force: bool = False) -> Path:
    """One synthetic incident written to `out`: a new or empty directory, or with `force` one whose snapshot
    files are replaced (tools.domain.incident.claim_out_dir)."""
    if kind not in FAULTS:
        why = f"no simulator fault for kind {kind!r} yet" if kind in BY_NAME else f"unknown kind {kind!r}"
        raise ValueError(f"{why}; simulated kinds: {', '.join(FAULTS)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; one of {', '.join(DIFFICULTIES)}")
    if difficulty not in FAULTS[kind].levels:
        raise ValueError(f"{kind} is simulated at difficulty {', '.join(FAULTS[kind].levels)} only")
    out = claim_out_dir(out, force)
    if difficulty == "harder":
        return simulate_harder(kind, seed, out)
    rng = random.Random(f"{kind}/{seed}/{difficulty}")
    w = build_world(rng, difficulty)
    root = FAULTS[kind].root(w)
    onset = rng.randint(92, 112)
    st = stage_fault(w, kind, root, onset, difficulty)
    logs, metrics, spans = telemetry(st, difficulty)
    changes, red = change_records(st, difficulty)
    tables = {"logs": logs, "metrics": metrics, "spans": spans, **changes}
    record = BY_NAME[kind]
    key = record.truth_selectors(root)
    # what the page says: the edge (far from the cause) when hard, else the nearest failing caller
    failing_known = sorted((f.start, s) for s, f in st.fails.items() if s in w.services)
    if difficulty == "hard":
        alert_service = failing_known[-1][1]
        # one source goes missing, never one the key evidence or the fault's own signal is in
        droppable = {"spans", "deployments", "registry"} - {k["source"] for k in key} - FAULTS[kind].keeps
        if droppable:
            tables.pop(rng.choice(sorted(droppable)))
    else:
        alert_service = root if root in w.services and root not in st.extra["silent"] else failing_known[0][1]
    truth = {"root_cause": {"service": root, "kind": kind, "onset": ts(onset)[:16] + ":00Z",
                            "summary": FAULTS[kind].summary.format(root=root)},
             "acceptable": record.accepted_answers(root, w.callers(root)),
             "key_evidence": [k for k in key if k["source"] in tables],
             "red_herrings": red, "difficulty": difficulty}
    alert_at = failing_known[0][0] + rng.randint(4, 8) if failing_known else onset + 5
    incident = {"format": 1, "id": f"{kind}-{seed:02d}-{difficulty}",
                "title": f"{alert_service} errors above SLO",
                "window": {"start": ts(0)[:19] + "Z", "end": ts(WINDOW)[:19] + "Z"},
                "alert": {"at": ts(alert_at)[:19] + "Z", "service": alert_service,
                          "summary": f"{alert_service}: error rate above 2% for 5m", "labels": {"severity": "page"}},
                "question": None}
    return write_snapshot(out, incident, truth, tables)


def simulated_kinds() -> list[str]:
    """The kinds with a fault, in the taxonomy's order."""
    return [k for k in NAMES if k in FAULTS]


def build_corpus(out_dir: Path | str, seeds_per_kind: int = 5, harder: int = HARDER_CASES) -> list[Path]:
    """The demo incident; per kind, `seeds_per_kind` cases over easy, medium and hard (seeds 1, 2, …) where its
    fault has them, then `harder` harder cases (the seeds after those)."""
    out_dir = Path(out_dir)
    paths = [write_demo(out_dir / "search-token-peak")]
    for kind in simulated_kinds():
        classic = seeds_per_kind if set(LEVELS) <= set(FAULTS[kind].levels) else 0
        for seed in range(1, classic + 1):
            difficulty = LEVELS[(seed - 1) % 3]
            paths.append(simulate(kind, seed, difficulty, out_dir / f"{kind}-{seed:02d}-{difficulty}", force=True))
        for seed in range(classic + 1, classic + harder + 1 + (not classic)):
            paths.append(simulate(kind, seed, "harder", out_dir / f"{kind}-{seed:02d}-harder", force=True))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m evals.simulator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("out", type=Path)
    c.add_argument("--seeds", type=int, default=5)
    c.add_argument("--harder", type=int, default=HARDER_CASES)
    o = sub.add_parser("one")
    o.add_argument("--kind", required=True, choices=sorted(FAULTS))
    o.add_argument("--seed", type=int, default=1)
    o.add_argument("--difficulty", default="medium", choices=DIFFICULTIES)
    o.add_argument("--out", type=Path, required=True)
    o.add_argument("--force", action="store_true", help="replace the snapshot files of a non-empty --out")
    a = ap.parse_args()
    if a.cmd == "corpus":
        print(f"{len(build_corpus(a.out, a.seeds, a.harder))} incidents in {a.out}")
    else:
        print(simulate(a.kind, a.seed, a.difficulty, a.out, a.force))


if __name__ == "__main__":
    main()
