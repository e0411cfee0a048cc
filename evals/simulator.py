"""The incident simulator: v1 snapshots with truth.yaml, one fault per simulated root-cause kind.

A random topology in tiers (edge → gateways → mid-tier → leaves, databases, caches, and dependencies
outside the system) across three zones; traffic with an afternoon peak; a fault of one kind at one
service that propagates up the call graph with delays; and what makes RCA hard in real life: unrelated
deploys, background errors, certificates that expire later, a missing source, the page far from the
cause, callers whose connection errors point at a healthy callee. Messages are the phrasings real
systems use, never strings only this simulator emits. Deterministic: same (kind, seed, difficulty),
same bytes. The world (topology, traffic, telemetry) is evals/world.py; each kind's fault is here, registered
with @fault under its name in the taxonomy, whose record gives the truth's key evidence and other answers
graded correct. A kind of the taxonomy without a fault has no simulated cases.

    python -m evals.simulator corpus evals/incidents                 # the committed corpus, bit for bit
    python -m evals.simulator one --kind cert_expired --seed 7 --out /tmp/incident
"""
from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from evals.demo_incident import write as write_demo
from evals.world import (DIFFICULTIES, WINDOW, ZONES, Stage, World, build_world, change_records, telemetry, traffic,
                         ts)
from tools.domain.incident import claim_out_dir, write_snapshot
from tools.domain.taxonomy import BY_NAME, NAMES


@dataclass(frozen=True)
class Fault:
    """How the simulator stages one root-cause kind; the truth's key evidence comes from the taxonomy."""
    root: Callable[[World], str]               # picks the root-cause service
    stage: Callable[[Stage], None]
    summary: str                               # truth.yaml's summary; {root} is the root-cause service
    keeps: frozenset[str]                      # sources a hard case keeps besides the key evidence's


FAULTS: dict[str, Fault] = {}                  # kind → its fault; the corpus has cases of these kinds only


def fault(kind: str, *, root: Callable[[World], str], summary: str, keeps: tuple[str, ...] = ()):
    if kind not in BY_NAME:
        raise ValueError(f"no root-cause kind {kind!r} in the taxonomy")

    def register(stage: Callable[[Stage], None]) -> Callable[[Stage], None]:
        FAULTS[kind] = Fault(root, stage, summary, frozenset(keeps))
        return stage
    return register


def _with_callers(w: World, names: list[str]) -> list[str]:
    return [n for n in names if w.callers(n)]


def mid_or_leaf(w: World) -> str:
    return w.rng.choice(_with_callers(w, [s for s in w.services if w.services[s].tier in ("mid", "leaf")]))


def with_callees(w: World) -> str:
    """A mid-tier service or gateway that calls services of its own (a fault that shows on its calls)."""
    return w.rng.choice([n for n in w.calls if w.services[n].tier in ("mid", "gateway") and
                         any(c in w.services for c in w.calls[n])])


def external(w: World) -> str:
    return w.rng.choice(_with_callers(w, w.externals))


def database(w: World) -> str:
    return w.rng.choice(_with_callers(w, [s for s in w.services if w.services[s].tier == "db"]))


def mostly_external(w: World) -> str:
    return external(w) if w.rng.random() < 0.7 else mid_or_leaf(w)


@fault("deploy_regression", root=mid_or_leaf, summary="a deploy of {root} introduced errors in its own code")
def _deploy_regression(s: Stage) -> None:
    v = s.rng.randint(100, 400)
    s.extra["deployments"].append({"time": ts(s.onset - s.rng.randint(2, 6)), "service": s.root, "kind": "deploy",
                                   "version": f"v1.{v + 1}.0", "previous_version": f"v1.{v}.0", "actor": "ci",
                                   "status": "succeeded", "description": f"release v1.{v + 1}.0"})
    s.at_root([f"panic: runtime error: invalid memory address or nil pointer dereference [handler={s.root}]",
               "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"sku\" is null",
               "HTTP 500 Internal Server Error: unhandled exception in request handler"],
              span={"error.type": "500", "http.status_code": 500})


@fault("config_change", root=with_callees,
       summary="a config change deployed to {root} set a wrong value; its calls fail")
def _config_change(s: Stage) -> None:
    callee = s.callee
    key, old, new = s.rng.choice([("client.timeout_ms", 2000, 150), ("pool.max_connections", 50, 4),
                                  ("retry.max_attempts", 3, 0),
                                  ("upstream.endpoint", f"{callee}:8080", f"{callee}-v0:8080")])
    s.extra["deployments"].append({"time": ts(s.onset - s.rng.randint(1, 5)), "service": s.root, "kind": "config",
                                   "actor": s.rng.choice(["ops-bot", "jane", "terraform"]), "status": "succeeded",
                                   "description": f"tune {key}", "changes": {key: {"from": old, "to": new}}})
    msg = {"client.timeout_ms": f"call to {callee} failed: context deadline exceeded (timeout {new}ms)",
           "pool.max_connections": f"timeout waiting for a free connection to {callee} (pool size {new})",
           "retry.max_attempts": f"request to {callee} failed after 1 attempt: connection reset by peer",
           "upstream.endpoint": f"dial tcp: lookup {callee}-v0: no such host"}[key]
    s.at_root([msg], callee, {"error.type": "timeout" if "timeout" in msg else "connect"})


@fault("memory_leak", root=mid_or_leaf, summary="{root}'s memory grew until its processes were OOM-killed")
def _memory_leak(s: Stage) -> None:
    s.extra["metrics"][(s.root, "memory_utilization")] = lambda m: min(0.99, 0.42 + max(0, m - s.onset + 45) * 0.013)
    for k, (inst, zone) in enumerate(s.w.services[s.root].instances):       # each instance restarts
        t = s.onset + k
        s.extra["registry"] += [
            {"time": ts(t), "service": s.root, "instance": inst, "event": "deregister", "zone": zone},
            {"time": ts(t + 1), "service": s.root, "instance": inst, "event": "register", "zone": zone}]
    s.at_root(["Container was OOMKilled (exit code 137); restarting", "java.lang.OutOfMemoryError: Java heap space",
               "upstream connect error or disconnect/reset before headers. reset reason: connection termination"])


def _surge(s: Stage) -> None:
    """A traffic surge at the root saturates its CPU."""
    s.extra["surge"] = s.onset
    s.extra["metrics"][(s.root, "cpu_utilization")] = lambda m: (s.rng.uniform(0.95, 0.99) if m >= s.onset
                                                                 else 0.35 + 0.15 * traffic(m, s.onset) / 2.6)


def _overloaded(s: Stage) -> None:
    """The loud symptom of saturation: the root's calls to a healthy callee time out."""
    msgs = [f"connect to {s.callee}:{s.w.services[s.callee].port} timed out after 1000ms" if s.callee else
            "request timed out after 1000ms", "upstream request timeout", "503 Service Unavailable: server overloaded"]
    s.at_root(msgs, s.callee, {"error.type": "connect_timeout"})


@fault("failed_scale_up", root=with_callees,
       summary="{root} could not scale up into a surge (no capacity); CPU saturated; requests timed out")
def _failed_scale_up(s: Stage) -> None:
    _surge(s)
    n = len(s.w.services[s.root].instances)
    reason = s.rng.choice(["0/{n} nodes are available: {n} Insufficient cpu.",
                           "exceeded quota: compute-resources, requested: cpu=2, used: cpu=96, limited: cpu=96",
                           "FailedScheduling: 0/{n} nodes are available: {n} node(s) didn't match pod anti-affinity"])
    for k in range(s.rng.randint(2, 5)):
        s.extra["scaling"].append({"time": ts(s.onset - 3 + 2 * k), "service": s.root, "action": "scale_up",
                                   "from_count": n, "desired_count": 2 * n, "actual_count": n, "status": "failed",
                                   "message": reason.format(n=s.rng.randint(12, 40))})
    _overloaded(s)


@fault("resource_saturation", root=with_callees,
       summary="{root}'s CPU saturated under a traffic surge with no scaling failure")
def _resource_saturation(s: Stage) -> None:
    _surge(s)
    _overloaded(s)


@fault("cert_expired", root=mid_or_leaf, summary="{root}'s TLS certificate expired; its callers' handshakes fail",
       keeps=("spans",))
def _cert_expired(s: Stage) -> None:
    s.extra["certs"][s.root] = ts(s.onset - s.rng.uniform(0, 2))
    s.extra["silent"].add(s.root)
    s.at_callers(["tls: failed to verify certificate: x509: certificate has expired or is not yet valid "
                  "(connecting to {peer}:{port})", "remote error: tls: bad certificate"],
                 {"error.type": "tls_handshake", "exception.message": "x509: certificate has expired"})


@fault("registry_misroute", root=mid_or_leaf, summary="the registry sent {root}'s traffic to wrong or stale addresses",
       keeps=("spans",))
def _registry_misroute(s: Stage) -> None:
    rng = s.rng
    for inst, zone in s.w.services[s.root].instances:
        if rng.random() < 0.7:
            s.extra["registry"].append({"time": ts(s.onset - rng.uniform(0, 1)), "service": s.root, "instance": inst,
                                        "event": "update", "address": f"10.{rng.randint(100, 250)}."
                                        f"{rng.randint(0, 255)}.{rng.randint(2, 250)}:{s.port}", "zone": zone})
        else:
            s.extra["registry"].append({"time": ts(s.onset - rng.uniform(0, 1)), "service": s.root, "instance": inst,
                                        "event": "deregister", "zone": zone})
    s.extra["silent"].add(s.root)
    s.at_callers([f"dial tcp 10.{rng.randint(100, 250)}.3.7:{s.port}: connect: connection refused",
                  "no healthy upstream", "upstream connect error or disconnect/reset before headers. "
                  "reset reason: connection failure"], {"error.type": "connection_refused"})


@fault("network_partition", root=mid_or_leaf, summary="{root}'s instances in one zone became unreachable",
       keeps=("spans",))
def _network_partition(s: Stage) -> None:
    zone = s.rng.choice(ZONES)
    s.extra["zone_down"] = (s.root, zone)
    s.at_callers([f"dial tcp 10.{ZONES.index(zone)}.4.17:{{port}}: i/o timeout", "context deadline exceeded "
                  "while dialing {peer}", "no route to host"], {"error.type": "connect_timeout"})
    for c in s.w.callers(s.root):
        s.fails[c].share = s.share * 0.8


@fault("dns_failure", root=with_callees, summary="{root}'s name lookups for a dependency fail")
def _dns_failure(s: Stage) -> None:
    name = f"{s.callee}.svc.cluster.local"
    s.at_root([f"dial tcp: lookup {name} on 10.96.0.10:53: no such host",
               f"Temporary failure in name resolution: {name}", f"java.net.UnknownHostException: {name}"],
              s.callee, {"error.type": "dns"})


@fault("disk_full", root=mid_or_leaf, summary="{root}'s disk filled up; writes fail")
def _disk_full(s: Stage) -> None:
    s.extra["disk_everywhere"] = True          # every service reports disk use: the full one stands out by value
    s.extra["metrics"][(s.root, "disk_utilization")] = lambda m: min(1.0, 0.55 + max(0, m - s.onset + 40) * 0.0115)
    s.at_root(["write /var/lib/data/wal/000042.log: no space left on device",
               "failed to flush segment: ENOSPC: no space left on device"])


@fault("dependency_outage", root=external, summary="{root}, outside the system, is failing its callers")
def _dependency_outage(s: Stage) -> None:
    s.at_callers(["POST https://api.{peer}.example/v2/charge: 503 Service Unavailable",
                  "call to {peer} timed out after 5000ms", "upstream {peer} returned 502 Bad Gateway"],
                 {"http.status_code": 503, "error.type": "503"})


@fault("database_saturation", root=database, summary="{root} ran out of connections; callers time out acquiring them",
       keeps=("spans",))
def _database_saturation(s: Stage) -> None:
    rng, onset = s.rng, s.onset
    s.extra["metrics"][(s.root, "db_connections_in_use")] = lambda m: (200.0 if m >= onset else
                                                                      60 + 50 * traffic(m) / 1.8 + rng.uniform(-5, 5))
    s.extra["metrics"][(s.root, "latency_p99_ms")] = lambda m: (rng.uniform(4000, 9000) if m >= onset
                                                               else rng.uniform(8, 20))
    s.at_callers(["timeout acquiring connection from pool after 5000ms (pool exhausted)",
                  "FATAL: remaining connection slots are reserved for non-replication superuser connections",
                  "could not obtain connection to {peer} within 5s"],
                 {"db.system": "postgresql", "error.type": "pool_timeout"})


@fault("rate_limited", root=mostly_external, summary="{root} throttles its callers with 429s")
def _rate_limited(s: Stage) -> None:
    s.at_callers(["POST https://{peer}/v1/lookup returned 429 Too Many Requests (retry-after: 30)",
                  "rate limit exceeded calling {peer}; backing off", "HTTP 429 from {peer}: quota exceeded"],
                 {"http.status_code": 429, "error.type": "429"})


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
    out = claim_out_dir(out, force)
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


def build_corpus(out_dir: Path | str, seeds_per_kind: int = 5) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [write_demo(out_dir / "search-token-peak")]
    for kind in simulated_kinds():
        for seed in range(1, seeds_per_kind + 1):
            difficulty = DIFFICULTIES[(seed - 1) % 3]
            paths.append(simulate(kind, seed, difficulty, out_dir / f"{kind}-{seed:02d}-{difficulty}", force=True))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m evals.simulator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("out", type=Path)
    c.add_argument("--seeds", type=int, default=5)
    o = sub.add_parser("one")
    o.add_argument("--kind", required=True, choices=sorted(FAULTS))
    o.add_argument("--seed", type=int, default=1)
    o.add_argument("--difficulty", default="medium", choices=DIFFICULTIES)
    o.add_argument("--out", type=Path, required=True)
    o.add_argument("--force", action="store_true", help="replace the snapshot files of a non-empty --out")
    a = ap.parse_args()
    if a.cmd == "corpus":
        print(f"{len(build_corpus(a.out, a.seeds))} incidents in {a.out}")
    else:
        print(simulate(a.kind, a.seed, a.difficulty, a.out, a.force))


if __name__ == "__main__":
    main()
