"""Which node each service's pods run on, where the telemetry says it (Nezha's log records carry the node's
address; others may carry k8s.node.name): a node's metric repeated per pod, or several services slowing at
once, point at one machine only if a reader can see they share it."""
from __future__ import annotations

from tools.backends.base import Filter, TelemetryError
from tools.domain.errors import QueryError
from tools.toolset import ToolContext

NODE_KEYS = ("node", "k8s.node.name", "node.name")    # record attributes that name the node
PER_SERVICE = 20                                       # log records read per service (first, then a spread)


def nodes_of(ctx: ToolContext) -> dict[str, set[str]]:
    """service → the nodes its log records name (computed once per context; {} when none names one)."""
    if "nodes" in ctx._memo:
        return ctx._memo["nodes"]
    out: dict[str, set[str]] = {}
    w = ctx.incident.window
    if ctx.telemetry.coverage("logs").present:
        try:
            for svc in sorted(ctx.telemetry.services(w)):
                f = Filter(start=w.start, end=w.end, services=(svc,))
                # A collector adds the node to all of a service's records or to none: its first records say
                # which, and only a service whose records name one is sampled over the window for the rest (a
                # spread is a scan each: 1.2 s for 30 services at 5M lines; the first records, ~5 ms each).
                first = ctx.telemetry.sample("logs", f, limit=PER_SERVICE)
                if any(_node(r) for r in first):
                    spread = ctx.telemetry.sample("logs", f, limit=PER_SERVICE, order="spread")
                    out[svc] = {n for r in first + spread if (n := _node(r))}
        except (TelemetryError, QueryError, NotImplementedError):
            out = {}
    ctx._memo["nodes"] = out
    return out


def _node(record: dict) -> str | None:
    attrs = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
    return next((str(attrs[k]) for k in NODE_KEYS if attrs.get(k)), None)


def shared_node(ctx: ToolContext, services: list[str]) -> str | None:
    """The one node every one of `services` runs on only, if the records say so."""
    nodes = nodes_of(ctx)
    held = [nodes.get(s) for s in services]
    return next(iter(held[0])) if all(h and len(h) == 1 and h == held[0] for h in held) else None


def by_node_line(ctx: ToolContext) -> str:
    """describe_incident's line: the services on each node ('' when no record names a node)."""
    per: dict[str, list[str]] = {}
    for svc, nodes in sorted(nodes_of(ctx).items()):
        for n in nodes:
            per.setdefault(n, []).append(svc)
    if not per:
        return ""
    rest = len(ctx.telemetry.services(ctx.incident.window)) - len(nodes_of(ctx))
    return (f"services by node ({len(per)} nodes, from the node their log records name"
            + (f"; none for {rest} more services" if rest else "") + "): "
            + "; ".join(f"{n}: {', '.join(s)}" for n, s in sorted(per.items())))
