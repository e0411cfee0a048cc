"""What the harder level's flow (evals/flow.py) leaves in metrics and logs, minute by minute; the sampled traces
and their logs are evals/tracing.py's. A service's error lines come in proportion to the share of its requests
that fail and why (its own fault, a callee's error, a timeout, a call lost on the way), its warnings in
proportion to its retries and fallbacks, all of it scaled by its load."""
from __future__ import annotations

import math
import statistics

from evals.flow import CONNECT_TIMEOUT_MS, MAX_DB_CONNECTIONS, Call, Minute, Net, level, poisson
from evals.tracing import SHED_MESSAGES, ROUTES, Tracer, timeout_messages, upstream_messages
from evals.world import Stage, ts

LOGGED_PER_MIN = 25      # requests a service's error log sees per minute at its usual load
ACCESS_PER_MIN = 2       # sampled access-log lines per minute at its usual load
CLIENT_ERRORS = 0.01     # share of requests that are the client's fault (404s): logged as warnings


def causes(net: Net, st: Stage, mn: Minute, s: str) -> list[tuple[str, float, list[str]]]:
    """(level, expected lines per request, messages): what the service's log says this minute, and how often."""
    f = st.fails.get(s)
    out = [("error", net.background[s], net.noise[s])]
    if f and f.peer is None:
        out.append((f.level, level(f, mn.m), f.messages))
    if mn.shed[s]:
        out.append(("error", mn.shed[s], SHED_MESSAGES))
    for site in net.out(s):
        c = mn.calls[(s, site.callee)]
        failed, retried = c.site.p * c.final, c.site.p * (c.attempts - 1)
        for share, msgs in zip(c.why, _why_messages(net, c)):
            if not msgs or share <= 0:
                continue
            out.append(("error", share * failed, msgs) if site.critical else
                       ("warn", share * failed, [f"{site.callee} unavailable ({m}); serving a degraded response"
                                                 for m in msgs]))
            if retried > 0:
                out.append(("warn", share * retried, [f"retrying call to {site.callee} (attempt 2/"
                                                      f"{site.retries + 1}): {m}" for m in msgs]))
    surge = st.extra["surge_from"]
    if surge and surge[0] == s and mn.batch:
        c = mn.calls[(s, st.root)]
        out.append(("error", mn.batch * c.final / max(mn.load[s], 1e-9),
                    [f"batch reindex: {m}" for share, ms in zip(c.why, _why_messages(net, c)) if share for m in ms]))
    return out


def _why_messages(net: Net, c: Call) -> tuple[list[str], list[str], list[str]]:
    d = c.site.callee
    port = net.w.services[d].port if d in net.w.services else 443
    return (c.edge.messages if c.edge else [], upstream_messages(d, port), timeout_messages(d, c.site.timeout_ms))


def usual_load(minutes: list[Minute], onset: int) -> dict[str, float]:
    """Each service's median load before the fault: what "usual" scales log volumes by."""
    before = minutes[:max(5, onset - 10)]
    return {s: statistics.median(mn.load[s] for mn in before) or 1.0 for s in before[0].load}


def minute_logs(net: Net, st: Stage, mn: Minute, up: dict[str, list[tuple[str, str]]],
                usual: dict[str, float]) -> list[dict]:
    rng, out = net.w.rng, []
    for s in net.order:
        lf = mn.load.get(s, 0.0) / usual[s]
        for _ in range(poisson(rng, ACCESS_PER_MIN * lf)):
            ms = mn.latency[s] * math.exp(rng.gauss(0, 0.4))
            out.append(_line(rng, s, mn.m, up[s], "info", f"{rng.choice(ROUTES)} 200 {ms:.0f}ms"))
        for _ in range(poisson(rng, LOGGED_PER_MIN * lf * CLIENT_ERRORS)):
            out.append(_line(rng, s, mn.m, up[s], "warn", f"GET /api/v1/items/{rng.randint(1, 99999)} 404 Not Found"))
        for lvl, share, msgs in causes(net, st, mn, s):
            for _ in range(poisson(rng, LOGGED_PER_MIN * lf * share)):
                out.append(_line(rng, s, mn.m, up[s], lvl, rng.choice(msgs)))
    return out


def _line(rng, s: str, m: int, up: list[tuple[str, str]], lvl: str, message: str) -> dict:
    inst, zone = rng.choice(up)
    return {"time": ts(m + rng.random()), "service": s, "level": lvl, "instance": inst, "zone": zone,
            "message": message}


def p99(net: Net, mn: Minute, s: str) -> float:
    """A service's p99 latency: its latency's tail, or the timeout its slow or lost calls wait out."""
    v = 2.6 * mn.latency[s]
    for site in net.out(s):
        c = mn.calls[(s, site.callee)]
        connect = c.edge is not None and "timeout" in str(c.edge.span_error.get("error.type"))
        if c.site.p * c.attempts * c.timeout > 0.01:
            v = max(v, site.timeout_ms)
        if connect and c.site.p * c.attempts * c.on_way > 0.01:
            v = max(v, CONNECT_TIMEOUT_MS * (1 + site.retries))
    return v


def minute_metrics(net: Net, st: Stage, mn: Minute, usual: dict[str, float], base_ms: dict[str, float]) -> list[dict]:
    rng, out = net.w.rng, []
    for s in net.order:
        svc = net.w.services[s]
        vals = {"cpu_utilization": round(mn.cpu[s], 3),
                "memory_utilization": round(net.memory[s] + rng.uniform(-0.015, 0.015), 3),
                "request_rate": round(mn.load[s] * rng.uniform(0.97, 1.03), 2),
                "error_rate": round(min(1.0, mn.fail[s] * rng.uniform(0.9, 1.1)), 4),
                "latency_p99_ms": round(p99(net, mn, s) * rng.uniform(0.92, 1.08), 1),
                "instance_count": float(len(svc.instances))}
        if svc.tier == "db":       # connections in use: requests in flight (load × time), up to the limit
            busy = mn.load[s] * mn.latency[s] / (usual[s] * base_ms[s])
            vals["db_connections_in_use"] = round(min(MAX_DB_CONNECTIONS, 45 * busy * rng.uniform(0.93, 1.07)), 1)
        if st.extra["disk_everywhere"] or svc.tier == "db":
            vals["disk_utilization"] = round(0.45 + rng.uniform(-0.01, 0.01), 3)
        for (svc_name, name), fn in st.extra["metrics"].items():
            if svc_name == s and (v := fn(mn.m)) is not None:
                vals[name] = round(v, 3)
        out += [{"time": ts(mn.m), "service": s, "name": k, "value": v} for k, v in vals.items()]
    return out


def telemetry(net: Net, st: Stage, minutes: list[Minute]) -> tuple[list[dict], list[dict], list[dict]]:
    """Logs, metrics and spans of every minute."""
    usual = usual_load(minutes, st.onset)
    base_ms = {s: statistics.median(mn.latency[s] for mn in minutes[:max(5, st.onset - 10)]) for s in net.order}
    logs: list[dict] = []
    metrics: list[dict] = []
    spans: list[dict] = []
    for mn in minutes:
        up = _taking_requests(st, mn.m)
        tracer = Tracer(net, st, mn, up)
        tracer.minute()
        logs += tracer.logs + minute_logs(net, st, mn, up, usual)
        spans += tracer.spans
        metrics += minute_metrics(net, st, mn, usual, base_ms)
    return logs, metrics, spans


def _taking_requests(st: Stage, m: int) -> dict[str, list[tuple[str, str]]]:
    """Each service's instances that take requests: not those in a zone cut off from the others."""
    down = st.extra["zone_down"]
    out = {}
    for s, svc in st.w.services.items():
        zone = down[1] if down and down[0] == s and m >= st.onset else None
        out[s] = [(i, z) for i, z in svc.instances if z != zone] or svc.instances[:1]
    return out
