"""Import the public Nezha RCA dataset (FSE 2023, repository IntelligentDDS/Nezha) as real-data eval cases.

One case per injected fault: a v1 snapshot (metrics, spans and logs around the injection, and a page that
names only the system's entry service) plus truth.yaml from the day's fault list. See docs/nezha.md.

    python -m evals.nezha import NEZHA_REPO_DIR --day 2022-08-22 --day 2023-01-29 --out evals/nezha-dev
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from tools.domain.incident import write_snapshot
from evals.nezha_read import (UTC, csv_rows, edge_metrics, logs, pod_metrics, row_time, service_of, spans,
                              write_jsonl_gz)

KIND = {"cpu_contention": "resource_saturation", "cpu_consumed": "resource_saturation",
        "network_delay": "network_delay", "exception": "application_error", "return": "application_error"}
SYSTEMS = {"ob": ("OnlineBoutique", "frontend"), "tt": ("TrainTicket", "ts-ui-dashboard")}
LOOKBACK = timedelta(minutes=30)      # the longest baseline wanted…
SETTLE = timedelta(minutes=6)         # …but none of the previous fault: its CPU/latency effects lasted 3–6 min
DETECTION = timedelta(minutes=3)      # the page's delay after the injection (see docs/nezha.md for the choice)
AFTER_PAGE = timedelta(minutes=3)
CLOCK_SLACK = timedelta(minutes=5)


@dataclass
class Fault:
    at: datetime                      # the injection, UTC
    pod: str
    type: str
    raw: dict
    clock: str | None = None          # how inject_time and inject_timestamp disagreed, if they did

    @property
    def service(self) -> str:
        return service_of(self.pod)


@dataclass
class Case:
    name: str
    counts: Counter = field(default_factory=Counter)
    bad: Counter = field(default_factory=Counter)
    lacks: list[str] = field(default_factory=list)

    def line(self) -> str:
        n = ", ".join(f"{s} {self.counts[s]:,}" for s in ("metrics", "spans", "logs"))
        bad = ", ".join(f"{k} {v}" for k, v in sorted(self.bad.items()))
        return (f"{self.name}: {n}" + (f"; problems: {bad}" if bad else "")
                + ("\n    lacks: " + "; ".join(self.lacks) if self.lacks else ""))


def read_faults(path: Path) -> tuple[list[Fault], list[str]]:
    """inject_time is UTC (file names and the data agree with it). inject_timestamp, where it is within a few
    minutes, is taken instead: the repo's own fix ("Timestamp and time did not match") found it the right one,
    and the spans of 2022-08-22 07:09:43 agree. Further off (TrainTicket's morning: 8 h early, local UTC+8
    taken as UTC) it is ignored and said so."""
    notes, out = [], []
    try:
        data = json.loads(path.read_text())
        groups = [g for g in data.values() if isinstance(g, list)] if isinstance(data, dict) else [data]
    except (OSError, ValueError, AttributeError) as e:
        return [], [f"{path}: not a readable fault list ({e})"]
    for f in (f for g in groups for f in g):
        try:
            stated = datetime.strptime(f["inject_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            fault = Fault(stated, str(f["inject_pod"]), str(f["inject_type"]), f)
        except (KeyError, TypeError, ValueError) as e:
            notes.append(f"fault {json.dumps(f, default=str)[:100]}: unreadable ({type(e).__name__}); skipped")
            continue
        try:
            epoch = datetime.fromtimestamp(int(f["inject_timestamp"]), UTC)
        except (KeyError, TypeError, ValueError, OverflowError):
            fault.clock = "no inject_timestamp; inject_time taken as UTC"
        else:
            gap = epoch - stated
            if abs(gap) <= CLOCK_SLACK:
                fault.at = epoch
                if gap:
                    fault.clock = f"inject_time {stated:%H:%M:%S} vs inject_timestamp {epoch:%H:%M:%S}: timestamp used"
            else:
                fault.clock = f"inject_timestamp is {_hm(gap)} off inject_time; inject_time (UTC) used"
        if fault.type not in KIND:
            notes.append(f"fault at {fault.at:%H:%M:%S}: unknown inject_type {fault.type!r}; skipped")
            continue
        out.append(fault)
    return sorted(out, key=lambda x: x.at), notes


def _hm(d: timedelta) -> str:
    """-7h59m20s, 8m13s: signed, hours only when there are some."""
    s = int(d.total_seconds())
    h, m, sec = abs(s) // 3600, abs(s) % 3600 // 60, abs(s) % 60
    return ("-" if s < 0 else "") + (f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s")


def minute_files(root: Path, day: str, kind: str) -> dict[datetime, list[Path]]:
    """`<HH>_<MM>_<kind>.csv` in rca_data/<day>/<kind>/ and construct_data/<day>/<kind>/ (the fault-free phase),
    by minute. A file covers about the minute before its name (its rows run from ~HH:MM-1:50 to ~HH:MM:20)."""
    out: dict[datetime, list[Path]] = {}
    for part in ("rca_data", "construct_data"):
        for p in sorted((root / part / day / kind).glob(f"??_??_{kind}.csv")):
            try:
                t = datetime.strptime(f"{day} {p.name[:5]}", "%Y-%m-%d %H_%M").replace(tzinfo=UTC)
            except ValueError:
                continue
            out.setdefault(t, []).append(p)
    return out


def plan_window(faults: list[Fault], i: int, data_start: datetime | None) -> tuple[datetime, datetime, datetime]:
    """(start, page, end). The page fires DETECTION after the injection, rounded up to the next whole minute
    (alert rules are evaluated on a tick). The tools take the first half of [start, page] as normal, so start
    is at least as far before the injection as the page is after it; otherwise up to LOOKBACK, but not into
    the previous fault's SETTLE time nor before the data begins. The end is AFTER_PAGE later, or the next
    injection."""
    at = faults[i].at
    page = at + DETECTION
    if page.second or page.microsecond:
        page = page.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = max([at - LOOKBACK, *([faults[i - 1].at + SETTLE] if i else []), *([data_start] if data_start else [])])
    start = min(start, at - (page - at))
    end = page + AFTER_PAGE
    if i + 1 < len(faults):
        end = max(page, min(end, faults[i + 1].at - timedelta(seconds=1)))
    return start, page, end


def data_start(metric_dir: Path | None) -> datetime | None:
    """When the day's metrics begin (first row of front_service.csv, or of a pod's file)."""
    if metric_dir is None:
        return None
    for p in [metric_dir / "front_service.csv", *sorted(metric_dir.glob("*_metric.csv"))[:1]]:
        for row in csv_rows(p, Counter(), "metrics"):
            t = row_time(row, Counter())
            if t is not None:
                return datetime.fromtimestamp(t, UTC)
            break
    return None


def import_day(root: Path, day: str, out: Path, say=print) -> list[Case]:
    rca = root / "rca_data" / day
    faults, notes = read_faults(rca / f"{day}-fault_list.json")
    for n in notes:
        say(f"{day}: {n}")
    if not faults:
        return []
    short = "tt" if faults[0].pod.startswith("ts-") else "ob"
    metric_dir = next((d for d in (rca / "metric", root / "construct_data" / day / "metric") if d.is_dir()), None)
    if metric_dir is None:
        say(f"{day}: no metric folder in rca_data or construct_data")
    elif (metric_dir / "dependency.csv").exists():
        say(f"{day}: dependency.csv not imported (a static call graph; spans carry the same edges)")
    files = {k: minute_files(root, day, k) for k in ("trace", "log", "traceid")}
    begins = data_start(metric_dir)
    say(f"{day}: spans have no status and no kind in the dataset (kind is inferred from parent/child services)")
    cases = []
    for i, fault in enumerate(faults):
        name = f"nezha-{short}-{day}-{fault.at:%H%M}-{fault.type}"
        cases.append(write_case(out / name, day, short, faults, i, metric_dir, files, begins))
        say(cases[-1].line())
    return cases


def write_case(dst: Path, day: str, short: str, faults: list[Fault], i: int, metric_dir: Path | None,
               files: dict[str, dict[datetime, list[Path]]], begins: datetime | None) -> Case:
    fault, (system, entry) = faults[i], SYSTEMS[short]
    start, page, end = plan_window(faults, i, begins)
    case = Case(dst.name)
    dst.mkdir(parents=True, exist_ok=True)
    for stale in (*dst.glob("*.jsonl.gz"), dst / "incident.yaml", dst / "truth.yaml"):   # a re-import replaces
        stale.unlink(missing_ok=True)
    if fault.clock:
        case.lacks.append(f"clock: {fault.clock}")
    if i > 0 and start < faults[i - 1].at + SETTLE:
        case.lacks.append(f"clean baseline: {_hm(fault.at - start)} before the injection, starting "
                          f"{_hm(start - faults[i - 1].at)} after the previous fault's")
    if begins and start < begins:
        case.lacks.append(f"baseline: the day's metrics begin at {begins:%H:%M:%S}, {_hm(fault.at - begins)} "
                          f"before the injection")
    near = (start - timedelta(seconds=30), end + timedelta(seconds=50))     # a file ends ~20 s past its minute
    minutes = sorted({m for k in files for m in files[k] if near[0] < m <= near[1]})
    for kind, source in (("trace", "spans"), ("log", "logs")):
        chosen = [p for m in minutes for p in files[kind].get(m, [])]
        missing = [f"{m:%H_%M}" for m in minutes if m not in files[kind]]
        rows = (spans if kind == "trace" else logs)(chosen, start, end, case.bad)
        case.counts[source] = write_jsonl_gz(dst / f"{source}.jsonl.gz", rows)
        if missing:
            case.lacks.append(f"{source}: {len(missing)} of {len(minutes)} minute files absent ({', '.join(missing)})")
        elif not case.counts[source]:
            case.lacks.append(f"{source}: none in the window")
    _write_metrics(dst, metric_dir, start, end, entry, case)
    incident = {"format": 1, "id": f"nezha-{short}-{day}-{page:%H%M}", "title": f"{system}: {entry} SLO burn",
                "window": {"start": _z(start), "end": _z(end)},
                "alert": {"at": _z(page), "service": entry, "summary": f"{entry} latency/error SLO burn",
                          "labels": {"severity": "page", "system": system}},
                "question": None}
    write_snapshot(dst, incident, truth(fault, system, day, case.counts), {})
    return case


def _write_metrics(dst: Path, metric_dir: Path | None, start: datetime, end: datetime, entry: str,
                   case: Case) -> None:
    if metric_dir is None:
        case.lacks.append("metrics: no metric folder")
        return

    def rows():
        for p in sorted(metric_dir.glob("*_metric.csv")):
            yield from pod_metrics(p, start, end, case.bad)
        if (p := metric_dir / "front_service.csv").exists():      # the system's entry, measured at its edge
            yield from pod_metrics(p, start, end, case.bad, service=entry, instance="front_service")
        for stem in ("source_50", "destination_50"):
            if (p := metric_dir / f"{stem}.csv").exists():
                yield from edge_metrics(p, start, end, case.bad)
    case.counts["metrics"] = write_jsonl_gz(dst / "metrics.jsonl.gz", rows())


def truth(fault: Fault, system: str, day: str, counts: Counter) -> dict:
    svc, kind = fault.service, KIND[fault.type]
    keys = []
    if kind == "resource_saturation":
        keys.append({"source": "metrics", "where": {"service": svc, "name": "cpu_utilization"}})
    if kind == "application_error" and counts["logs"]:
        keys.append({"source": "logs", "where": {"service": svc}})
    if kind in ("network_delay", "application_error") and counts["spans"]:
        keys.append({"source": "spans", "where": {"service": svc}})      # calls into it, slow or failing
    if not keys:
        keys.append({"source": "metrics", "where": {"service": svc}})
    return {"root_cause": {"service": svc, "kind": kind, "onset": _z(fault.at),
                           "summary": f"Nezha injected {fault.type} into pod {fault.pod} ({svc}) at "
                                      f"{fault.at:%H:%M:%S}Z"},
            "acceptable": [], "key_evidence": keys, "red_herrings": [], "difficulty": "real",
            "fault_type": fault.type, "system": system,
            "source": {"dataset": "Nezha (FSE 2023)", "day": day, **{k: fault.raw.get(k) for k in
                       ("inject_time", "inject_timestamp", "inject_pod", "inject_type")}}}


def _z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.nezha", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    imp = sub.add_parser("import", help="write one eval case per injected fault")
    imp.add_argument("repo", type=Path, help="a checkout of the Nezha repository (rca_data/, construct_data/)")
    imp.add_argument("--day", action="append", required=True, help="e.g. 2022-08-22; repeat for several")
    imp.add_argument("--out", type=Path, required=True, help="directory of cases to write")
    a = ap.parse_args(argv)
    missing = [d for d in a.day if not (a.repo / "rca_data" / d / f"{d}-fault_list.json").is_file()]
    if missing:
        print(f"error: {a.repo}: no rca_data/<day>/<day>-fault_list.json for {', '.join(missing)}", file=sys.stderr)
        return 2
    cases = [c for d in a.day for c in import_day(a.repo, d, a.out)]
    print(f"{len(cases)} cases written to {a.out}")
    return 0 if cases else 1


if __name__ == "__main__":
    sys.exit(main())
