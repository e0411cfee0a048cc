"""One rule per root-cause kind: what in the facts makes a (service, kind) hypothesis, and how strongly.

A rule returns hypotheses with a `strength` (how specific the evidence is, 0..1), when the cause began, the
evidence ids and the sentence for the chain; scoring (strength × timing × place) happens in score.py. The
thresholds are named here so they can be read and tuned in one place."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from agent.heuristic.facts import MIN, Facts
from agent.heuristic.signatures import families

CPU_SATURATED = 0.88             # a CPU this busy at its peak, after rising, is saturated
CPU_SATURATED_MECHANISM = 0.85   # … and this busy explains a failed scale-up's errors
CPU_JUMP = 2.0                   # a CPU level this many times its baseline (and per request) jumped
CPU_JUMP_ABS = 0.2               # … by at least this much of a core's share
WIRE_SLOW_X = 3.0                # time on the wire this many times the usual: the network is slow
WIRE_SLOW_MS = 100.0             # … and this many ms more on one edge: confidently the network
WIRE_SHARE = 0.5                 # … on at least this share of the service's edges
WIRE_TOGETHER = 2 * MIN          # … all stepping within this of each other (30 s buckets): one episode
WIRE_LONE_STRENGTH = 0.39        # one slow edge into a leaf: just under CONCLUDE_AT (0.4), a lead, never the answer
# New errors with nothing else behind them are weak evidence alone: real systems throw new errors all the time.
APP_ERROR_STRENGTH = 0.45
APP_CRASH_STRENGTH = 0.6        # ... and when the new errors are the code's own exceptions or panics
LOG_HISTORY = timedelta(minutes=10)       # logs before an onset needed to call an error template new
# Error families with a cause outside the service's own code (rules of their own judge them).
INFRA_FAMILIES = {"tls", "dns", "rate_limit", "oom", "disk", "db_pool", "conn_refused", "timeout"}
MEMORY_HIGH = 0.85
DISK_FULL = 0.95
SURGE_PCT = 30                   # request rate up this much: a traffic surge
DB_PINNED = 0.9                  # connections in use stay this close to their maximum
DEPLOY_LOOKBACK = timedelta(hours=2)
DEPLOY_EFFECT = timedelta(minutes=45)     # the deployed service's own errors rise within this after it
REGISTRY_LOOKBACK = timedelta(minutes=60)
CERT_RECENT = timedelta(hours=6)          # expired this long before the window: long-standing, weak


@dataclass
class Hypothesis:
    service: str
    kind: str
    strength: float
    began: datetime | None
    evidence: list[str]
    claim: str                                                              # the root-cause link of the chain
    mechanism: list[tuple[str, list[str]]] = field(default_factory=list)   # links between symptom and cause
    slow: bool = False               # builds up over a long time (leak, disk) before the symptom
    lead: bool = False               # worth a person's look, never the answer (its score is capped)
    score: float = 0.0


Rule = Callable[[Facts], list[Hypothesis]]


def changes(f: Facts) -> list[Hypothesis]:
    """deploy_regression / config_change: a change of a service whose own errors rose after it."""
    out = []
    for d in f.data("list_deployments", []):
        if d.status == "failed" or not (f.t0 - DEPLOY_LOOKBACK <= d.time <= f.t0 + 5 * MIN):
            continue
        # The chain's end may fail only in its callers' view (no telemetry of its own): that view dates it.
        own = f.failing_at(d.service) if d.service == f.end else f.onset_of(d.service)
        is_config = d.kind == "config" or (bool(d.changes) and not _only_version(d.changes))
        after = own is not None and d.time - 2 * MIN <= own <= d.time + DEPLOY_EFFECT
        what = d.diff or f"{d.previous_version or '?'}→{d.version or '?'}"
        mech = [(f"{d.service}'s own errors rose at {_t(own)}, {_mins(own - d.time)} after the deploy",
                 f.onset_ids(d.service))] if after else []
        out.append(Hypothesis(d.service, "config_change" if is_config else "deploy_regression",
                              0.85 if after else 0.15, d.time, [d.evidence],
                              f"{'a config change' if is_config else 'a deploy'} of {d.service} at {_t(d.time)} "
                              f"({what})", mech))
    return out


def failed_scale_up(f: Facts) -> list[Hypothesis]:
    out = []
    for g in f.scaling.groups:
        if g.status != "failed" or g.action not in ("scale_up", "-"):
            continue
        cpu, cpu_id = f.metric(g.service, "cpu_utilization")
        mech = []
        if cpu and (cpu.max or 0) >= CPU_SATURATED_MECHANISM:
            rose = f"rose from {_t(cpu.shift_at)} and " if cpu.shift_at else ""
            mech = [(f"{g.service}'s CPU {rose}was saturated from {_t(cpu.near_peak_at or cpu.max_at)} "
                     f"(max {cpu.max:.2f}): without the new instances it could not serve the load", [cpu_id])]
        stuck = (f"stayed at {g.actual} instead of {g.desired}" if g.actual is not None and g.desired is not None
                 else "could not grow")
        out.append(Hypothesis(g.service, "failed_scale_up", 0.95 if mech else 0.8, g.first, [g.evidence],
                              f"autoscaling of {g.service} failed {g.events}× from {_t(g.first)} "
                              f"({g.message or 'no reason given'}) so capacity {stuck}", mech))
    return out


def resource_saturation(f: Facts, svc: str) -> list[Hypothesis]:
    cpu, cpu_id = f.metric(svc, "cpu_utilization")
    if not cpu or (cpu.max or 0) < CPU_SATURATED or cpu.shift != "up" or svc in _failed_up(f):
        return []
    rate, rate_id = f.metric(svc, "request_rate")
    surge = rate and rate.shift == "up" and (rate.change_pct or 0) > SURGE_PCT
    return [Hypothesis(svc, "resource_saturation", 0.75, cpu.shift_at, [cpu_id] + ([rate_id] if surge else []),
                       f"{svc}'s CPU saturated at {cpu.max:.2f} from {_t(cpu.near_peak_at or cpu.shift_at)}"
                       + (f" under a traffic surge (+{rate.change_pct}% requests)" if surge else
                          " with no failed scaling"))]


def cpu_jump(f: Facts) -> list[Hypothesis]:
    """resource_saturation found across every service, errors or not: the CPU that jumped (contention, a hog).
    A CPU that rose only as much as its traffic did is load, not a fault of its own: the CPU per request must
    have jumped too, unless the CPU is near full."""
    out = []
    load = {r.service: r for r in f.changes("request_rate") if r.direction == "up"}
    for r in f.rises("cpu_utilization")[:3]:
        full = (r.peak or 0) >= CPU_SATURATED
        ratio = r.level / max(r.baseline, 1e-3)
        traffic = load[r.service].level / max(load[r.service].baseline, 1e-9) if r.service in load else 1.0
        if r.service in _failed_up(f) or r.level - r.baseline < CPU_JUMP_ABS or not _before_page(f, r.at):
            continue
        if not full and (ratio < CPU_JUMP or ratio / max(traffic, 1.0) < CPU_JUMP):
            continue
        out.append(Hypothesis(r.service, "resource_saturation", 0.8 if full else 0.7, r.at,
                              [r.evidence] + ([load[r.service].evidence] if r.service in load else []),
                              f"{r.service}'s CPU jumped from {r.baseline:.2f} to {r.level:.2f} at {_t(r.at)} "
                              f"(peak {r.peak:.2f})" + (f", more than its traffic (×{traffic:.1f})" if traffic > 1.2
                                                        else " with no rise in traffic") + " and no failed scaling"))
    return out


def network_delay(f: Facts) -> list[Hypothesis]:
    """Time on the wire rose on calls to or from one service while nothing failed: the network around it.
    A delay at a service shows on every edge that touches it, so the endpoint the slow edges share is blamed
    (the callee of a lone slow edge: a slow caller would slow all of its edges)."""
    slow = [r for r in f.latency if r.view == "wire" and r.ratio >= WIRE_SLOW_X and r.peer_service]
    added: dict[str, float] = {}         # milliseconds on the wire the slow edges touching a service gained
    for r in slow:
        gain = r.level_ms - r.baseline_ms
        added[r.peer_service] = added.get(r.peer_service, 0.0) + gain
        added[r.service] = added.get(r.service, 0.0) + 0.9 * gain      # a lone slow edge: blame its callee
    if not added:
        return []
    svc = max(added, key=lambda s: added[s])
    edges = [r for r in slow if svc in (r.service, r.peer_service)]
    worst = max(edges, key=lambda r: r.level_ms - r.baseline_ms)
    gain = worst.level_ms - worst.baseline_ms
    # The network around a service slows its edges at once: an edge that stepped minutes away from the worst
    # one is another episode (an outlier row has no change time of its own and is kept).
    if worst.shape != "outlier" and worst.at:
        edges = [r for r in edges if r.shape == "outlier" or r.at is None or abs(r.at - worst.at) <= WIRE_TOGETHER]
    # A delay at a service slows most of the calls that touch it, not one edge among many.
    touching = {(e.caller, e.callee) for e in f.edges if svc in (e.caller, e.callee)}
    if gain < WIRE_SLOW_MS / 3 or len(edges) < WIRE_SHARE * len(touching):
        return []
    # The network delays a service's packets both ways; slow calls only into it are its queue (saturation).
    calls_out = any(e.caller == svc for e in f.edges)
    if calls_out and not (any(r.service == svc for r in edges) and any(r.peer_service == svc for r in edges)):
        return []
    # An outlier row (no baseline: vs other edges) has no change time; its `at` is only where its spans begin.
    began = (min((r.at for r in edges if r.at and r.shape != "outlier"), default=None)
             or min((r.at for r in edges if r.at), default=None))
    if not _before_page(f, began):
        return []
    # One slow edge, into a service that calls nobody: the time between the caller's span and the callee's may
    # as well be the callee's request queue (Java servers start their span after it), so it is a lead only.
    lone = len(edges) == 1 and not calls_out
    strength = WIRE_LONE_STRENGTH if lone else 0.8 if gain >= WIRE_SLOW_MS else 0.45
    return [Hypothesis(svc, "network_delay", strength, began,
                       [r.evidence for r in edges[:4] if r.evidence],
                       f"calls to and from {svc} spend far longer on the wire ({worst.service}→{worst.peer_service} "
                       f"{worst.baseline_ms:.3g} → {worst.level_ms:.3g} ms) while {svc} itself is not slower: "
                       f"network latency around {svc}", lead=lone)]


def application_error(f: Facts, svc: str) -> list[Hypothesis]:
    """Errors that begin in a service's own code with no recorded change and no infrastructure cause."""
    o = f.onsets.get(svc)
    # An error-rate metric alone is what a caller of the fault sees too, unless the service is the chain's end.
    if (o is None or (":" in o.signal and svc != f.end) or svc in f.chain[:-1]
            or f.own_families(svc) & INFRA_FAMILIES):
        return []
    if any(d.service == svc for d in f.data("list_deployments", [])):
        return []            # a change of its own: the deploy and config rules judge it
    # A new kind of error, not more of the usual ones (background errors rise with traffic too); "new" means
    # something only against enough history.
    logs = next((s for s in f.overview.sources if s.source == "logs"), None)
    if not logs or not logs.first or o.onset - logs.first < LOG_HISTORY:
        return []
    rows, pid = f.patterns(svc)
    new = [r for r in rows if r.new and ("error" in r.levels or "fatal" in r.levels)]
    if not new or not pid:
        return []
    crash = "exception" in families(" ".join(f"{r.template} {r.example}" for r in new))
    return [Hypothesis(svc, "application_error", APP_CRASH_STRENGTH if crash else APP_ERROR_STRENGTH, o.onset,
                       f.onset_ids(svc) + [pid],
                       f"{svc}'s own errors began at {_t(o.onset)} with a new error ({new[0].template[:120]}) and no "
                       f"deploy, config change or infrastructure failure behind them: a fault in its own code path")]


def memory_leak(f: Facts, svc: str) -> list[Hypothesis]:
    mem, mem_id = f.metric(svc, "memory_utilization")
    texts, text_ids = f.error_texts(svc)
    oom = "oom" in f.families_of(svc)
    if not mem or mem.shift != "up" or not ((mem.max or 0) >= MEMORY_HIGH or oom):
        return []
    return [Hypothesis(svc, "memory_leak", 0.9 if oom else 0.75, mem.shift_at, [mem_id] + (text_ids[:1] if oom else []),
                       f"{svc}'s memory grew from {mem.baseline:.2f} to {mem.max:.2f} (from {_t(mem.shift_at)})"
                       + (", until processes were OOM-killed" if oom else ""), slow=True)]


def disk_full(f: Facts, svc: str) -> list[Hypothesis]:
    disk, disk_id = f.metric(svc, "disk_utilization")
    said = "disk" in f.families_of(svc)
    filled = disk and (disk.max or 0) >= DISK_FULL and disk.shift == "up"
    if not (filled or said):
        return []
    ids = ([disk_id] if disk else []) + (f.error_texts(svc)[1][:1] if said else [])
    return [Hypothesis(svc, "disk_full", 0.9, disk.shift_at if disk else f.onset_of(svc), ids,
                       f"{svc}'s disk filled up" + (f" (to {disk.max:.0%})" if disk else "")
                       + (": writes fail with no space left on device" if said else ""), slow=True)]


def dns_failure(f: Facts, svc: str) -> list[Hypothesis]:
    if "dns" not in f.families_of(svc):
        return []
    return [Hypothesis(svc, "dns_failure", 0.85, f.onset_of(svc), f.error_texts(svc)[1][:2],
                       f"name resolution failed for {svc}'s outgoing calls")]


def database_saturation(f: Facts, svc: str) -> list[Hypothesis]:
    db, db_id = f.metric(svc, "db_connections_in_use")
    pool = "db_pool" in f.own_families(svc)
    saturated = bool(db and db.shift == "up" and db.last is not None and (db.max or 0) > 0
                     and db.last >= DB_PINNED * db.max)
    if not (saturated or pool):
        return []
    # The fix belongs to the database: a callee whose client spans carry OpenTelemetry's db.system,
    # or the service itself when it is the one reporting its connections.
    dbs = [r.peer_service for r in f.edge_errors if r.service == svc and r.peer_service and "db.system=" in r.what]
    target = dbs[0] if dbs else svc
    ids = ([db_id] if saturated else []) + (f.error_texts(svc)[1][:1] if pool else [])
    return [Hypothesis(target, "database_saturation", 0.85 if saturated else 0.7,
                       db.shift_at if saturated else f.onset_of(svc), ids,
                       f"{target} ran out of database connections" +
                       (f" ({db.max:.0f} in use, pinned at the limit)" if saturated else
                        "; callers time out acquiring connections"))]


def network_partition(f: Facts, svc: str) -> list[Hypothesis]:
    if svc in f.chain[:-1]:      # a caller's errors are explained by the next hop, not its zone
        return []
    z, ids = f.zones(svc)
    if not z or not (z.concentrated or z.dropped or z.peer_concentrated):
        return []
    # The callers' view decides when the cut zone still serves its own zone (no zone falls silent) and the
    # reporter's zones are even: every caller zone's failed calls name svc's instances in one zone.
    claim = (f"{svc}'s failures are confined to zone {z.top.zone}: connectivity there was lost" if z.concentrated
             else f"{svc}'s instances in zone {z.dropped[0]} stopped receiving traffic while its callers failed: "
                  f"that zone became unreachable" if z.dropped
             else f"the calls to {svc} that fail all name its instances in zone {z.peer_concentrated}, from "
                  f"the callers' zones: that zone became unreachable")
    return [Hypothesis(svc, "network_partition", 0.7, f.onset_of(svc) or f.t0, ids, claim)]


def cert_expired(f: Facts) -> list[Hypothesis]:
    out = []
    for c in f.data("certificates", []):
        if c.status != "expired":
            continue
        recent = c.not_after >= f.incident.window.start - CERT_RECENT
        users = [c.service] + ([c.peer_service] if c.peer_service else []) + f.callers(c.service)
        tls = [ids for s in users for txt, ids in [f.error_texts(s)] if "tls" in f.families_of(s)]
        strength = (0.95 if tls else 0.8) if recent else (0.5 if tls else 0.2)
        mech = [(f"TLS handshakes on {c.service}'s connections fail: certificate expired", tls[0][:2])] if tls else []
        out.append(Hypothesis(c.service, "cert_expired", strength, c.not_after, [c.evidence],
                              f"the {c.purpose or ''} certificate {c.name or ''} of {c.service} expired at "
                              f"{c.not_after.isoformat()}", mech))
    return out


def registry_misroute(f: Facts) -> list[Hypothesis]:
    out: dict[str, Hypothesis] = {}
    mismatch = {m.service: m.evidence for m in f.registry.mismatch}
    for g in f.registry.groups:
        if g.event == "healthy" or not (f.t0 - REGISTRY_LOOKBACK <= g.first <= f.t0 + 3 * MIN):
            continue
        restarts = f.restarting(g.service)
        strong = g.moved or g.service in mismatch or g.event == "update"
        strength = 0.85 if strong and not restarts else 0.45 if not restarts else 0.2
        h = out.get(g.service)
        if h is None or strength > h.strength:
            ids = [g.evidence] + ([mismatch[g.service]] if g.service in mismatch else [])
            out[g.service] = Hypothesis(g.service, "registry_misroute", strength, g.first, ids,
                                        f"the service registry changed {g.service}'s endpoints at {_t(g.first)} "
                                        f"({g.events}× {g.event}{', addresses moved' if g.moved else ''})"
                                        + (": it lists instances that do not serve" if g.service in mismatch else ""))
    return list(out.values())


def dependency(f: Facts) -> list[Hypothesis]:
    """rate_limited / dependency_outage: what a caller's failing calls to a peer say about the peer."""
    out = []
    for r in f.edge_errors:
        peer = r.peer_service
        if not peer or peer == r.service:
            continue
        fam = families(f"{r.what} {r.logs}")
        if "rate_limit" in fam:
            out.append(Hypothesis(peer, "rate_limited", 0.9, r.first, [r.evidence],
                                  f"{peer} throttled {r.service}'s calls (429 / rate limited) from {_t(r.first)}"))
        elif peer not in f.known and not fam & {"tls", "dns"}:
            out.append(Hypothesis(peer, "dependency_outage", 0.85, r.first, [r.evidence],
                                  f"{peer}, a dependency outside the observed system, failed {r.errors} of "
                                  f"{r.service}'s calls from {_t(r.first)}"))
    return out


INFRA_EFFECT = timedelta(minutes=30)      # an infrastructure change this long before the symptom can explain it
NETWORK_CHANGES = {"network_policy", "firewall", "security_group"}


def infra_change(f: Facts) -> list[Hypothesis]:
    """dns_failure / network_partition backed by the infrastructure change just before the symptom (issue 13
    item 11): a DNS change of a service whose lookups fail; a network change of a service whose callers' calls
    to it time out or are refused."""
    out = []
    for c in getattr(f.data("list_deployments"), "infra", []):
        svc = c.service
        if not svc or c.status == "failed" or c.evidence is None:
            continue
        began = [t for t in [f.onset_of(svc)] + [f.onset_of(x) for x in f.callers(svc)] if t]
        if not began or not (timedelta(0) <= min(began) - c.time <= INFRA_EFFECT):
            continue
        what = f"a {c.kind.replace('_', ' ')} change of {svc} at {_t(c.time)} ({c.diff or c.description or c.target})"
        fam = f.families_of(svc)
        if c.kind == "dns" and "dns" in fam:
            out.append(Hypothesis(svc, "dns_failure", 0.9, c.time, [c.evidence] + f.error_texts(svc)[1][:1],
                                  f"{what} preceded {svc}'s failing name lookups"))
        elif c.kind in NETWORK_CHANGES and fam & {"timeout", "conn_refused"}:
            zone_ids = f.zones(svc)[1]
            out.append(Hypothesis(svc, "network_partition", 0.85, c.time,
                                  [c.evidence] + (zone_ids or f.error_texts(svc)[1])[:1],
                                  f"{what} cut {svc} off" + (f" in {c.zone}" if c.zone else "")
                                  + ": its callers' connections to it time out or are refused"))
    return out


# Rules over the whole incident, then rules asked of each candidate service, in this order.
INCIDENT_RULES: list[Rule] = [changes, failed_scale_up]
SERVICE_RULES: list[Callable[[Facts, str], list[Hypothesis]]] = [
    resource_saturation, memory_leak, disk_full, dns_failure, database_saturation, network_partition,
    application_error]
LATE_RULES: list[Rule] = [cert_expired, registry_misroute, dependency, cpu_jump, network_delay, infra_change]


def hypotheses(f: Facts) -> list[Hypothesis]:
    hs = [h for rule in INCIDENT_RULES for h in rule(f)]
    hs += [h for svc in f.candidates() for rule in SERVICE_RULES for h in rule(f, svc)]
    return hs + [h for rule in LATE_RULES for h in rule(f)]


def _before_page(f: Facts, began: datetime | None) -> bool:
    """A change found by scanning every service (no failing call leads to it) is tied to the page by its timing
    alone: it must have begun before the page. One that began with or after it is another episode, or an effect."""
    return began is not None and began < f.alert_at


def _failed_up(f: Facts) -> set[str]:
    return {g.service for g in f.scaling.groups if g.status == "failed" and g.action in ("scale_up", "-")}


def _only_version(changes: dict) -> bool:
    return all(any(w in k.lower() for w in ("image", "version", "tag", "digest", "commit", "sha")) for k in changes)


def _t(t: datetime | None) -> str:
    return t.strftime("%H:%M") if t else "?"


def _mins(td: timedelta) -> str:
    return f"{td.total_seconds() / 60:.0f} min"


# Rules in modules of their own build on Hypothesis and the helpers above, so they are registered last.
from agent.heuristic.mesh import mesh_delay  # noqa: E402
from agent.heuristic.own_errors import errors_reaching_callers, own_new_errors  # noqa: E402
from agent.heuristic.stopped_lines import new_lines, stopped_calls, stopped_lines  # noqa: E402
from agent.heuristic.wrong_results import wrong_results  # noqa: E402

LATE_RULES += [mesh_delay, own_new_errors, errors_reaching_callers, stopped_lines, stopped_calls, wrong_results,
               new_lines]
