"""Which node each service's pods run on, where the telemetry says it (Nezha's log records carry the node's
address; others may carry k8s.node.name): a node's metric repeated per pod, or several services slowing at
once, point at one machine only if a reader can see they share it."""
from __future__ import annotations

from tools.backends.base import Filter, TelemetryError
from tools.domain.errors import QueryError
from tools.toolset import ToolContext

NODE_KEYS = ("node", "k8s.node.name", "node.name")    # record attributes that name the node
PER_SERVICE = 20                                       # log records read per service (a spread sample)
FIRST_LOOK = 200                                       # records of the whole window read before any per service


def nodes_of(ctx: ToolContext) -> dict[str, set[str]]:
    """service → the nodes its log records name (computed once per context; {} when none names one)."""
    if "nodes" in ctx._memo:
        return ctx._memo["nodes"]
    out: dict[str, set[str]] = {}
    w = ctx.incident.window
    if ctx.telemetry.coverage("logs").present:
        try:
            # A collector adds the node to all of a service's records or to none: when a spread of 200 over the
            # whole window names none, hardly any record does, and a sample per service costs a scan each (1.2 s
            # at 5M lines).
            named = any(_node(r) for r in ctx.telemetry.sample("logs", Filter(start=w.start, end=w.end),
                                                               limit=FIRST_LOOK, order="spread"))
            for svc in sorted(ctx.telemetry.services(w)) if named else ():
                for r in ctx.telemetry.sample("logs", Filter(start=w.start, end=w.end, services=(svc,)),
                                              limit=PER_SERVICE, order="spread"):
                    if (node := _node(r)):
                        out.setdefault(svc, set()).add(node)
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
