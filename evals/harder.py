"""The harder level (issue 12 item 8): a fault staged the way real incidents come, all of it one simulation.

The root cause sits 2–3 hops below the paged service, on a path its failure or slowness travels up through
fan-out, retries (which multiply the calls a failing callee gets), fallbacks and timeouts: simulated requests
(evals/flow.py, evals/tracing.py) give every metric, log line and span. Around it: background errors
everywhere, routine deploys, autoscaling and registry churn; in half the cases a concurrent bad deploy off
that path with errors of its own, in 60% a harmless change on the path minutes before the fault
(evals/scenario.py). The fault may ramp instead of stepping; some faults show only as latency or CPU, and
then the page is on latency (so are a quarter of the others'); in about a third of the cases the root cause's
own telemetry is missing, all of it that the key evidence does not need. truth.yaml's `staged` says which."""
from __future__ import annotations

import random
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from evals.faults import FAULTS, Fault, ramp
from evals.flow import Minute, Net, build_net, demand
from evals.scenario import below, concurrent, herring, records
from evals.signals import telemetry
from evals.world import HARDER_WINDOW, Stage, build_world, ts
from tools.domain.incident import write_snapshot
from tools.domain.taxonomy import BY_NAME

MIN_REACH = 0.45          # calls the root cause gets per request entering the system: it is on a busy path
ERROR_RISE = 0.02         # a page on errors: the error share rose this much (and doubled) for 3 minutes
LATENCY_RISE = 1.4        # a page on latency: p99 this many times its usual for 3 minutes
OWN = ("logs", "metrics", "spans")
CONCURRENT = 0.5          # share of cases with a concurrent incident off the failing path
HERRING = 0.6             # … with a harmless change on the failing path just before the fault
DARK = 0.35               # … where the root cause's own telemetry is missing
PAGE_WITHIN = 15          # minutes after the fault's onset its symptom must show to page
ATTEMPTS = 8              # worlds to try for a fault whose symptom pages someone


def path_up(net: Net, root: str) -> list[str]:
    """The root cause and up to three callers above it, each the one sending the most calls to the one below."""
    reach, path = net.reach(), [root]
    while len(path) < 4:
        callers = [s for s in net.w.callers(path[-1]) if s in net.w.services and s not in path]
        if not callers:
            break
        path.append(max(callers, key=lambda c: (reach[c] * net.site(c, path[-1]).p, c)))
    return path


def deep_root(net: Net, fault: Fault) -> str:
    """The fault's own choice of service, redrawn until it sits two hops or more below a caller on a busy path."""
    reach, best, best_key = net.reach(), None, None
    for _ in range(40):
        r = fault.root(net.w)
        key = (min(len(path_up(net, r)) - 1, 2), reach.get(r, 0.0) >= MIN_REACH, reach.get(r, 0.0))
        if key[:2] == (2, True):
            return r
        if best_key is None or key > best_key:
            best, best_key = r, key
    return best


def bottleneck(net: Net, root: str) -> None:
    """A surge saturates the service with the least headroom: the root runs at about half its CPU at the usual
    peak, the services it calls at a fifth of theirs, so the root is the one that saturates."""
    for s in below(net, root) - {root}:
        if s in net.cpu_per_rps:
            net.cpu_per_rps[s] *= 0.45
    net.cpu_per_rps[root] = net.w.rng.uniform(0.45, 0.55) / max(net.reached[root] * net.entry_rps * demand(60), 0.01)


def _stage(net: Net, kind: str, root: str, seed: int) -> tuple[Stage, int]:
    rng = net.w.rng
    onset = rng.randint(40, 46)
    callees = [c for c in net.w.calls.get(root, []) if c in net.w.services]
    callee = rng.choice(callees) if callees else None
    climb = rng.choice((0, 0, 6, 12))
    st = Stage(net.w, root, onset, round(rng.uniform(0.2, 0.45), 3), callee, harder=True, variant=seed,
               shape=ramp(onset, climb) if climb else None)
    FAULTS[kind].stage(st)
    return st, climb


def symptoms(minutes: list[Minute], s: str, onset: int) -> tuple[int | None, int | None, float, float]:
    """When the service's error share and its p99 latency rose for 3 minutes in a row; its usual error share and
    p99."""
    before = minutes[5:onset - 8]
    f0 = statistics.median(mn.error_rate(s) for mn in before)
    l0 = statistics.median(mn.p99(s) for mn in before)

    def first(rose) -> int | None:
        return next((m for m in range(onset - 5, onset + PAGE_WITHIN) if all(rose(minutes[m + i]) for i in range(3))),
                    None)
    return (first(lambda mn: mn.error_rate(s) >= f0 + max(ERROR_RISE, f0)),
            first(lambda mn: mn.p99(s) >= LATENCY_RISE * l0), f0, l0)


def choose_page(minutes: list[Minute], path: list[str], st: Stage, quiet: bool) -> dict | None:
    """The farthest service up the path (3 or 2 hops, else 1) where the symptom shows, and what pages: latency
    when the fault raises no errors of its own, and a quarter of the other times when latency rose too."""
    rng = st.rng
    first = rng.choice((3, 2))
    on_latency = quiet or rng.random() < 0.25
    for hops in [h for h in (first, 5 - first, 1) if h < len(path)]:
        err, lat, errors, p99_ms = symptoms(minutes, path[hops], st.onset)
        for what, at in (("latency", lat), ("errors", err)) if on_latency else (("errors", err), ("latency", lat)):
            if at is not None:      # an SLO above the usual level, as a real alert's would be
                return {"service": path[hops], "hops": hops, "on": what, "at": at + rng.randint(4, 7),
                        "threshold": (max(50, round(LATENCY_RISE * p99_ms, -1)) if what == "latency" else
                                      max(2, round(100 * (errors + max(ERROR_RISE, errors)))))}
    return None


def darken(tables: dict[str, list[dict]], root: str, key: list[dict]) -> list[str]:
    """The root cause's own logs, metrics and spans go missing, except what its key evidence is made of."""
    keep = {k["source"] for k in key if k["where"].get("service") == root}
    gone = [s for s in OWN if s not in keep]
    for s in gone:
        tables[s] = [r for r in tables[s] if r.get("service") != root]
    return gone


@dataclass
class Run:
    """A harder case's world, fault and simulated minutes, with the page they caused."""
    net: Net
    st: Stage
    path: list[str]
    climb: int
    other: dict | None
    minutes: list[Minute]
    tables: dict[str, list[dict]]
    page: dict


def simulate_run(kind: str, seed: int, rng: random.Random) -> Run:
    """A world, the fault in it and every minute simulated; drawn again (a new world) when the fault's symptom
    shows at no service above it: an incident nobody was paged for is not a case."""
    for _ in range(ATTEMPTS):
        net = build_net(build_world(rng, "harder"))
        root = deep_root(net, FAULTS[kind])
        path = path_up(net, root)
        st, climb = _stage(net, kind, root, seed)
        quiet = not st.fails and not st.extra["surge_from"]       # no errors of its own: it pages on latency
        if st.extra["surge_from"]:
            bottleneck(net, root)
        for caller, callee in zip(path[1:], path):
            net.site(caller, callee).critical = True        # the page heard of the fault through these calls
        if (f := st.fails.get(root)) and f.peer:
            net.site(root, f.peer).critical = True          # … and the root's own failing calls fail its requests
        other = concurrent(st, net, path) if rng.random() < CONCURRENT else None
        minutes, logs, metrics, spans = telemetry(net, st)
        page = choose_page(minutes, path, st, quiet)
        if page:
            return Run(net, st, path, climb, other, minutes, {"logs": logs, "metrics": metrics, "spans": spans}, page)
    raise ValueError(f"no {kind} fault with a page in {ATTEMPTS} worlds (seed {seed})")


def simulate_harder(kind: str, seed: int, out: Path) -> Path:
    rng = random.Random(f"{kind}/{seed}/harder")
    r = simulate_run(kind, seed, rng)
    st, root, net, tables, other = r.st, r.st.root, r.net, r.tables, r.other
    staged_herring = herring(st, r.path, r.page["service"]) if rng.random() < HERRING else None
    record = BY_NAME[kind]
    key = record.truth_selectors(root)
    gone = darken(tables, root, key) if rng.random() < DARK and root in net.w.services else []
    changes, expiring = records(st, net, set(r.path) | ({other["service"]} if other else set()), HARDER_WINDOW)
    tables.update(changes)
    red = [{"source": "deployments", "where": {"service": s}} for s in
           ([other["service"]] if other else []) + ([staged_herring] if staged_herring else [])]
    red += [{"source": "certificates", "where": {"service": expiring}}] if expiring else []
    staged = {"path": list(reversed(r.path[:r.page["hops"] + 1])), "page_on": r.page["on"],
              "onset": f"ramp over {r.climb} min" if r.climb else "step",
              "root_telemetry": ("outside the system" if root not in net.w.services else
                                 f"missing: {', '.join(gone)}" if gone else "complete"),
              "herring": staged_herring, "concurrent": other}
    truth = {"root_cause": {"service": root, "kind": kind, "onset": ts(st.onset)[:16] + ":00Z",
                            "summary": st.extra.get("summary", FAULTS[kind].summary).format(root=root)},
             "acceptable": record.accepted_answers(root, net.w.callers(root)), "key_evidence": key,
             "red_herrings": red, "difficulty": "harder", "staged": staged}
    return _write(out, kind, seed, r.page, tables, truth)


def _write(out: Path, kind: str, seed: int, page: dict, tables: dict, truth: dict) -> Path:
    svc = page["service"]
    summary = (f"{svc}: p99 latency above {page['threshold']:.0f}ms for 5m" if page["on"] == "latency" else
               f"{svc}: error rate above {page['threshold']:.0f}% for 5m")
    incident = {"format": 1, "id": f"{kind}-{seed:02d}-harder",
                "title": f"{svc} {'latency' if page['on'] == 'latency' else 'errors'} above SLO",
                "window": {"start": ts(0)[:19] + "Z", "end": ts(HARDER_WINDOW)[:19] + "Z"},
                "alert": {"at": ts(page["at"])[:19] + "Z", "service": svc, "summary": summary,
                          "labels": {"severity": "page"}}, "question": None}
    if out.exists():
        shutil.rmtree(out)
    return write_snapshot(Path(out), incident, truth, tables)
