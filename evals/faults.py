"""One fault per simulated root-cause kind: where the cause sits and what fails, registered with @fault under
its name in the taxonomy (whose record gives the truth's key evidence and other answers graded correct).

A fault stages itself on a Stage (evals/world.py): failures at the root-cause service or on its callers' calls,
the records it leaves (deployments, scaling, registry, certificates) and the metrics it bends. The world then
propagates it: evals/world.py for easy/medium/hard, simulated requests for the harder level (evals/tracing.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from evals.infra import dns_change, network_change
from evals.world import DIFFICULTIES, HARDER_WINDOW, ZONES, Failure, Stage, World, traffic, ts
from tools.domain.taxonomy import BY_NAME


@dataclass(frozen=True)
class Fault:
    """How the simulator stages one root-cause kind; the truth's key evidence comes from the taxonomy."""
    root: Callable[[World], str]               # picks the root-cause service
    stage: Callable[[Stage], None]
    summary: str                               # truth.yaml's summary; {root} is the root-cause service
    keeps: frozenset[str]                      # sources a hard case keeps besides the key evidence's
    levels: tuple[str, ...] = DIFFICULTIES     # the difficulties it can be staged at


FAULTS: dict[str, Fault] = {}                  # kind → its fault; the corpus has cases of these kinds only


def fault(kind: str, *, root: Callable[[World], str], summary: str, keeps: tuple[str, ...] = (),
          levels: tuple[str, ...] = DIFFICULTIES):
    if kind not in BY_NAME:
        raise ValueError(f"no root-cause kind {kind!r} in the taxonomy")

    def register(stage: Callable[[Stage], None]) -> Callable[[Stage], None]:
        FAULTS[kind] = Fault(root, stage, summary, frozenset(keeps), levels)
        return stage
    return register


def ramp(start: int, minutes: int) -> Callable[[int], float]:
    """A share that grows from `start` to its full size over `minutes`."""
    return lambda m: min(1.0, max(0.0, (m - start + 1) / minutes))


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
    if s.harder:
        return _leak_sawtooth(s)
    s.extra["metrics"][(s.root, "memory_utilization")] = lambda m: min(0.99, 0.42 + max(0, m - s.onset + 45) * 0.013)
    for k, (inst, zone) in enumerate(s.w.services[s.root].instances):       # each instance restarts
        t = s.onset + k
        s.extra["registry"] += [
            {"time": ts(t), "service": s.root, "instance": inst, "event": "deregister", "zone": zone},
            {"time": ts(t + 1), "service": s.root, "instance": inst, "event": "register", "zone": zone}]
    s.at_root(["Container was OOMKilled (exit code 137); restarting", "java.lang.OutOfMemoryError: Java heap space",
               "upstream connect error or disconnect/reset before headers. reset reason: connection termination"])


def _leak_sawtooth(s: Stage) -> None:
    """Memory climbs for half an hour to the limit; from then on the processes are killed and climb again, each
    kill failing what was in flight (a retry may reach a live instance), and slow down near the limit."""
    climb, period = s.rng.randint(20, 30), s.rng.randint(8, 13)
    onset = s.onset

    def memory(m: int) -> float | None:
        if m < onset:
            return None if m < onset - climb else 0.5 + 0.45 * (m - onset + climb) / climb
        return 0.55 + 0.4 * ((m - onset) % period) / period
    s.extra["metrics"][(s.root, "memory_utilization")] = memory
    # near the limit the garbage collector runs all the time: requests slow down before the kills begin
    s.extra["slow"][s.root] = lambda m: 1.0 + 8.0 * max(0.0, (memory(m) or 0.0) - 0.8) / 0.15
    for kill in range(onset, HARDER_WINDOW, period):
        for k, (inst, zone) in enumerate(s.w.services[s.root].instances):
            t = kill + k * 0.3
            s.extra["registry"] += [
                {"time": ts(t), "service": s.root, "instance": inst, "event": "deregister", "zone": zone},
                {"time": ts(t + 0.4), "service": s.root, "instance": inst, "event": "register", "zone": zone}]
    s.sticky, s.shape = False, lambda m: 1.0 if (m - onset) % period < 2 else 0.2
    s.at_root(["Container was OOMKilled (exit code 137); restarting", "java.lang.OutOfMemoryError: Java heap space",
               "upstream connect error or disconnect/reset before headers. reset reason: connection termination"])


def _surge(s: Stage) -> None:
    """A traffic surge at the root saturates its CPU; at the harder level it comes from one caller (a batch job)
    and the flow saturates the CPU, queues and sheds load by itself."""
    if s.harder:
        callers = [c for c in s.w.callers(s.root) if c in s.w.services]
        s.extra["surge_from"] = (s.rng.choice(callers), lambda m: 1.0 + 1.6 * ramp(s.onset - 6, 8)(m))
        return
    s.extra["surge"] = s.onset
    s.extra["metrics"][(s.root, "cpu_utilization")] = lambda m: (s.rng.uniform(0.95, 0.99) if m >= s.onset
                                                                 else 0.35 + 0.15 * traffic(m, s.onset) / 2.6)


def _overloaded(s: Stage) -> None:
    """The loud symptom of saturation: the root's calls to a healthy callee time out."""
    if s.harder:
        return               # the flow's queueing makes its callers' calls time out instead
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
    if s.harder and s.variant % 2:
        return _cpu_hog(s)
    _surge(s)
    _overloaded(s)


def _cpu_hog(s: Stage) -> None:
    """A noisy neighbour or a hot loop holds the CPU at 85–92%, in a step or a slow climb: requests queue and
    slow down, but its callers' timeouts are long enough that almost nothing fails."""
    top, climb, onset = s.rng.uniform(0.85, 0.92), s.rng.choice((1, 12)), s.onset
    s.extra["summary"] = "{root}'s CPU was held near 90% by a CPU hog (a noisy neighbour, a hot loop): it slowed down"
    s.extra["steal"][s.root] = lambda m: (0.5 + (top - 0.5) * ramp(onset, climb)(m)) if m >= onset else 0.0


@fault("cert_expired", root=mid_or_leaf, summary="{root}'s TLS certificate expired; its callers' handshakes fail",
       keeps=("spans",))
def _cert_expired(s: Stage) -> None:
    s.extra["certs"][s.root] = ts(s.onset - s.rng.uniform(0, 2))
    s.extra["silent"].add(s.root)
    if s.harder:             # pooled connections keep working until they are recycled: the failures ramp up
        s.share, s.shape = s.rng.uniform(0.5, 0.9), ramp(s.onset, s.rng.randint(8, 20))
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
    if s.harder:
        _misrouted_share(s)
    s.at_callers([f"dial tcp 10.{rng.randint(100, 250)}.3.7:{s.port}: connect: connection refused",
                  "no healthy upstream", "upstream connect error or disconnect/reset before headers. "
                  "reset reason: connection failure"], {"error.type": "connection_refused"})


def _misrouted_share(s: Stage) -> None:
    """Calls reach a wrong address as often as the registry hands one out among the instances it still lists."""
    mine = [r for r in s.extra["registry"] if r["service"] == s.root]
    if not any(r["event"] == "update" for r in mine):
        mine[0].update(event="update", address=f"10.{s.rng.randint(100, 250)}.9.{s.rng.randint(2, 250)}:{s.port}")
    listed = len(s.w.services[s.root].instances) - sum(r["event"] == "deregister" for r in mine)
    s.share, s.sticky = sum(r["event"] == "update" for r in mine) / max(listed, 1), False


@fault("network_partition", root=mid_or_leaf, summary="{root}'s instances in one zone became unreachable",
       keeps=("spans",))
def _network_partition(s: Stage) -> None:
    zone = s.rng.choice(ZONES)
    s.extra["zone_down"] = (s.root, zone)
    network_change(s, zone)
    s.sticky = False                     # (read by the harder level) a retry may reach another zone
    s.at_callers([f"dial tcp 10.{ZONES.index(zone)}.4.17:{{port}}: i/o timeout", "context deadline exceeded "
                  "while dialing {peer}", "no route to host"], {"error.type": "connect_timeout"})
    for c in s.w.callers(s.root):
        s.fails[c].share = s.share * 0.8
        if s.harder:         # as many calls as the zone had instances fail to connect; a retry may go elsewhere
            inst = s.w.services[s.root].instances
            s.fails[c].share = sum(z == zone for _, z in inst) / len(inst)


@fault("dns_failure", root=with_callees, summary="{root}'s name lookups for a dependency fail")
def _dns_failure(s: Stage) -> None:
    name = f"{s.callee}.svc.cluster.local"
    dns_change(s)
    s.at_root([f"dial tcp: lookup {name} on 10.96.0.10:53: no such host",
               f"Temporary failure in name resolution: {name}", f"java.net.UnknownHostException: {name}"],
              s.callee, {"error.type": "dns"})


@fault("disk_full", root=mid_or_leaf, summary="{root}'s disk filled up; writes fail")
def _disk_full(s: Stage) -> None:
    s.extra["disk_everywhere"] = True          # every service reports disk use: the full one stands out by value
    s.extra["metrics"][(s.root, "disk_utilization")] = lambda m: min(1.0, 0.55 + max(0, m - s.onset + 40) * 0.0115)
    if s.harder:                               # a shorter window: it fills over the 18–28 minutes before
        start = s.onset - s.rng.randint(18, 28)
        s.extra["metrics"][(s.root, "disk_utilization")] = lambda m: min(1.0, 0.6 + 0.4 * max(0, m - start)
                                                                         / (s.onset - start))
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
    if s.harder:             # queries queue: the database's own time grows, its connections fill up
        slow, s.sticky = rng.uniform(25, 60), False
        s.extra["slow"][s.root] = lambda m: 1.0 + (slow - 1) * ramp(onset, 3)(m) if m >= onset else 1.0
        s.at_callers(["timeout acquiring connection from pool after 5000ms (pool exhausted)",
                      "could not obtain connection to {peer} within 5s"],
                     {"db.system": "postgresql", "error.type": "pool_timeout"})
        return
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
    s.sticky = False                     # (read by the harder level) a retry may fit the quota: and costs it
    s.at_callers(["POST https://{peer}/v1/lookup returned 429 Too Many Requests (retry-after: 30)",
                  "rate limit exceeded calling {peer}; backing off", "HTTP 429 from {peer}: quota exceeded"],
                 {"http.status_code": 429, "error.type": "429"})


HARDER = ("harder",)
EXCEPTIONS = ["java.lang.IllegalStateException: price list for region 'eu-central' is empty",
              "KeyError: 'discount_code' in apply_promotions", "panic: runtime error: index out of range [3] with "
              "length 3", "TypeError: Cannot read properties of undefined (reading 'amount')",
              "java.lang.ArithmeticException: / by zero at QuoteCalculator.perUnit(QuoteCalculator.java:57)"]


@fault("application_error", root=mid_or_leaf, levels=HARDER,
       summary="{root}'s own code started failing (exceptions or wrong results) with no deploy or config change")
def _application_error(s: Stage) -> None:
    if s.variant % 3 == 2:   # wrong results: it answers 200 and logs a warning; its callers reject what it returns
        s.at_callers(["invalid response from {peer}: field 'total' is NaN",
                      "failed to decode {peer} response: unexpected end of JSON input"],
                     {"error.type": "invalid_response"})
        s.fails[s.root] = Failure(s.onset, s.share, ["no exchange rate for currency 'XDR'; using 0",
                                                     "quote computed with empty price list"], level="warn")
        return
    picked = s.rng.sample(EXCEPTIONS, 3)
    s.at_root(picked, span={"http.status_code": 500, "error.type": "500", "exception.message": picked[0]})


@fault("network_delay", root=mid_or_leaf, levels=HARDER,
       summary="calls to and from {root} gained 100–300 ms on the wire; its own time did not change")
def _network_delay(s: Stage) -> None:
    """The client spans of calls to and from it grow, its own server spans do not; almost nothing fails."""
    ms, climb, onset = s.rng.uniform(100, 300), s.rng.choice((1, 1, 10)), s.onset
    s.extra["delay"][s.root] = lambda m: ms * ramp(onset, climb)(m) if m >= onset else 0.0
