"""Rules over a service mesh's per-edge latency: the same call timed by the caller and by the callee.

A service mesh (Istio, Linkerd) reports each caller→callee edge twice: the client-side proxy's latency and the
server-side proxy's. Time the client waits that the server never saw was spent between them, on the network.
So an edge whose client-side latency rose while its server-side latency did not is network delay, and the
service that the slowed edges share is where it is; a callee that got slower shows on both sides (its queue,
its CPU), which is not the network. This needs no spans: the mesh's metrics alone tell it."""
from __future__ import annotations

from agent.heuristic.facts import Facts
from agent.heuristic.rules import WIRE_SLOW_MS, Hypothesis, _before_page, _t
from tools.results import MetricChange

# (client-side, server-side, factor to milliseconds): per-edge latency metrics, one series per caller with
# labels.peer_service = the callee. Nezha's OnlineBoutique export names Istio's p50 by reporter, in seconds.
EDGE_LATENCY = [("source_50", "destination_50", 1000.0)]
# The server side may rise a little with the client (more concurrent calls waiting); the network's share is
# what the server never saw. At most this share of the client's rise may show at the server.
SERVER_SHARE = 1 / 3
CALLER_SHARE = 0.9       # a lone slow edge: its callee is blamed (a slow caller would slow all of its edges)


def edge_metric_names(metrics: dict) -> list[str]:
    """The per-edge latency metrics this incident has (both sides needed to tell the network from the callee)."""
    return [m for c, s, _ in EDGE_LATENCY if c in metrics and s in metrics for m in (c, s)]


def mesh_delay(f: Facts) -> list[Hypothesis]:
    """network_delay from per-edge client vs server latency: the service the slowed edges share."""
    gaps = _edge_gaps(f)
    if not gaps:
        return []
    added: dict[str, float] = {}
    for (caller, callee), (gain, _, _) in gaps.items():
        added[callee] = added.get(callee, 0.0) + gain
        added[caller] = added.get(caller, 0.0) + CALLER_SHARE * gain
    svc = max(added, key=lambda s: added[s])
    edges = {k: v for k, v in gaps.items() if svc in k}
    (caller, callee), (gain, row, _) = max(edges.items(), key=lambda kv: kv[1][0])
    began = min(r.at for _, r, _ in edges.values() if r.at)
    if not _before_page(f, began):
        return []
    ids = [e for _, r, sid in edges.values() for e in (r.evidence, sid) if e]
    return [Hypothesis(svc, "network_delay", 0.8, began, list(dict.fromkeys(ids))[:4],
                       f"calls between {caller} and {callee} wait {gain:.0f} ms longer at the caller "
                       f"({row.baseline * _factor(row.name):.3g} → {row.level * _factor(row.name):.3g} ms from "
                       f"{_t(row.at)}) while {callee} does not see them take longer: the time is lost on the "
                       f"network around {svc}")]


def _edge_gaps(f: Facts) -> dict[tuple[str, str], tuple[float, MetricChange, str | None]]:
    """(caller, callee) → (ms the client-side latency rose beyond the server side's, the client row, the
    server row's evidence) for edges where that is at least WIRE_SLOW_MS."""
    out = {}
    for client, server, factor in EDGE_LATENCY:
        server_up = {(r.service, r.peer_service): r for r in f.changes(server) if r.direction == "up" and r.peer_service}
        for r in f.changes(client):
            if r.direction != "up" or not r.peer_service or r.at is None or not r.evidence:
                continue
            rise = (r.level - r.baseline) * factor
            s = server_up.get((r.service, r.peer_service))
            seen = (s.level - s.baseline) * factor if s else 0.0
            if rise >= WIRE_SLOW_MS and seen <= SERVER_SHARE * rise:
                out[(r.service, r.peer_service)] = (rise - max(seen, 0.0), r, s.evidence if s else None)
    return out


def _factor(name: str) -> float:
    return next((k for c, s, k in EDGE_LATENCY if name in (c, s)), 1.0)
