"""Infrastructure changes, shown by list_deployments beside deployments: DNS records and resolvers, network policies, firewalls and
security groups, node drains and cordons, autoscaling policy (min/max). dns_failure and network_partition can
otherwise only be argued from their symptoms."""
from __future__ import annotations

from tools.backends.base import Filter
from tools.common import clip, nothing_found, table
from tools.results import InfraChange
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time

SHOWN = 60


def infra_section(ctx: ToolContext, f: Filter, service: str | None) -> ToolResult | None:
    """list_deployments' second part: the infrastructure changes in `f`'s range, of `service` and of no one
    service (a node, a shared resolver); None when the snapshot has no such source (v1 snapshots before it)."""
    if not ctx.telemetry.coverage("infra_changes").present:
        return None
    found = [r for r in ctx.telemetry.events("infra_changes", f.but(services=None), limit=5000)
             if not service or r.get("service") in (service, None)]
    scope = f"{service or 'any service'} {fmt_span(f.start, f.end)}"
    if not found:
        return nothing_found(ctx, source="infra_changes", tool="list_deployments", service=service, start=f.start,
                             end=f.end, filters={"service": service}, data=[],
                             summary=f"no infrastructure changes for {scope}",
                             text=f"no infrastructure changes (DNS, network policy, firewall, nodes, autoscaling "
                                  f"policy) for {scope}")
    rows = [_row(ctx, r, service) for r in found[:SHOWN]]
    head = f"{len(found)} infrastructure changes for {scope}" + (
        " (more left out: narrow by service or time)" if len(found) > SHOWN else "")
    return ToolResult(text=head + "\n" + table(rows, ["evidence", "time", "kind", "service", "target", "zone",
                                                      "status", "actor", "diff", "description"], limit=SHOWN),
                      evidence_ids=[r.evidence for r in rows], data=rows)


def _row(ctx: ToolContext, r: dict, service: str | None) -> InfraChange:
    changes = r.get("changes") if isinstance(r.get("changes"), dict) else {}
    diff = "; ".join(f"{k}: {v.get('from')!r}→{v.get('to')!r}" if isinstance(v, dict) else f"{k}: {v!r}"
                     for k, v in list(changes.items())[:8])
    c = InfraChange(r["time"], r["kind"], r.get("service"), r.get("target"), r.get("zone"), r.get("status"),
                    r.get("actor"), r.get("description"), changes, diff)
    where = " ".join(x for x in (c.target, f"({c.service})" if c.service else "", f"in {c.zone}" if c.zone else "") if x)
    ev = ctx.ledger.add(source="infra_changes", tool="list_deployments", service=c.service, start=c.time, end=c.time,
                        filters={"service": service},
                        attributes={"kind": c.kind, "target": c.target, "zone": c.zone, "status": c.status,
                                    "changed_keys": ",".join(changes) or None},
                        summary=f"{c.kind} change {where} at {fmt_time(c.time)} ({c.status or 'status unknown'}) "
                                f"{clip(diff or c.description, 160)}", rows=[r])
    c.evidence = ev.id
    return c
