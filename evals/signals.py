"""What the harder level's simulated requests (evals/tracing.py) leave in metrics, minute by minute: each
service's load, errors and latency as the requests it answered had them, scaled to the traffic, with its CPU
and memory, connections in use for a database, and what the fault bends (a filling disk, a leak)."""
from __future__ import annotations

import statistics

from evals.flow import MAX_DB_CONNECTIONS, Minute, Net
from evals.tracing import run
from evals.world import HARDER_WINDOW, Stage, ts

MIN_SAMPLES = 3          # answered requests a minute needs for its latency and error rate to be reported


def usual(minutes: list[Minute], onset: int, value) -> dict[str, float]:
    """Each service's median of `value(minute, service)` before the fault."""
    before = minutes[:max(5, onset - 10)]
    return {s: statistics.median(value(mn, s) for mn in before) or 1.0 for s in before[0].load}


def minute_metrics(net: Net, st: Stage, mn: Minute, before: Minute, load: dict[str, float],
                   busy: dict[str, float]) -> list[dict]:
    """One minute's metrics; rates and latency over the last two minutes, as a rate()[2m] query gives them."""
    rng, out, both = net.w.rng, [], (before, mn)
    for s in net.order:
        svc = net.w.services[s]
        arrivals = sum(m.tally.arrivals[s] for m in both)
        vals = {"cpu_utilization": round(mn.cpu[s], 3),
                "memory_utilization": round(net.memory[s] + rng.uniform(-0.015, 0.015), 3),
                "request_rate": round((before.load[s] + mn.load[s]) / 2, 2),
                "instance_count": float(len(svc.instances))}
        if arrivals >= MIN_SAMPLES:      # no requests, no error rate or latency to report
            ms = sorted(before.tally.ms.get(s, []) + mn.tally.ms.get(s, []))
            vals["error_rate"] = round(sum(m.tally.errors[s] for m in both) / arrivals, 4)
            vals["latency_p99_ms"] = round(ms[int(0.99 * (len(ms) - 1))], 1)
        if svc.tier == "db":       # connections in use: requests in flight (load × time), up to the limit
            in_flight = mn.load[s] * mn.mean_ms(s) / (load[s] * busy[s])
            vals["db_connections_in_use"] = round(min(MAX_DB_CONNECTIONS, 45 * in_flight * rng.uniform(0.93, 1.07)),
                                                  1)
        if st.extra["disk_everywhere"] or svc.tier == "db":
            vals["disk_utilization"] = round(0.45 + rng.uniform(-0.01, 0.01), 3)
        for (name_of, name), fn in st.extra["metrics"].items():
            if name_of == s and (v := fn(mn.m)) is not None:
                vals[name] = round(v, 3)
        out += [{"time": ts(mn.m), "service": s, "name": k, "value": v} for k, v in vals.items()]
    return out


def telemetry(net: Net, st: Stage) -> tuple[list[Minute], list[dict], list[dict], list[dict]]:
    """The simulated minutes, and the logs, metrics and spans they left."""
    minutes, spans, logs = run(net, st, HARDER_WINDOW, taking_requests)
    load = usual(minutes, st.onset, lambda mn, s: mn.load[s])
    busy = usual(minutes, st.onset, Minute.mean_ms)
    metrics = [row for before, mn in zip(minutes[:1] + minutes, minutes)
               for row in minute_metrics(net, st, mn, before, load, busy)]
    return minutes, logs, metrics, spans


def taking_requests(st: Stage, m: int) -> dict[str, list[tuple[str, str]]]:
    """Each service's instances that take requests: not those in a zone cut off from the others."""
    down = st.extra["zone_down"]
    out = {}
    for s, svc in st.w.services.items():
        zone = down[1] if down and down[0] == s and m >= st.onset else None
        out[s] = [(i, z) for i, z in svc.instances if z != zone] or svc.instances[:1]
    return out
