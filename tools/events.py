"""Change and environment events: deployments, autoscaling, certificates, service registry."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

from tools.analysis import alert_time, baseline_end, detect_shift
from tools.backends.base import as_utc
from tools.common import base_filter, clip, no_data, nothing_found, table, time_range
from tools.infra import infra_section
from tools.results import (Certificate, Changes, Deployment, InstanceCount, Registry, RegistryGroup, RegistryMismatch, Scaling,
                           ScalingGroup, Status)
from tools.toolset import ToolContext, ToolResult, fmt_span, fmt_time, tool


def _changes(changes) -> str:
    if not isinstance(changes, dict) or not changes:
        return ""
    parts = []
    for k, v in list(changes.items())[:8]:
        parts.append(f"{k}: {v.get('from')!r}→{v.get('to')!r}" if isinstance(v, dict) else f"{k}: {v!r}")
    return "; ".join(parts)


@tool
def list_deployments(ctx: ToolContext, service: str | None = None, start: datetime | None = None,
                     end: datetime | None = None) -> ToolResult:
    """Deploys, rollbacks, config changes with diffs, then infrastructure changes (DNS, network policy, firewall,
    node drain, autoscaling min/max), oldest first."""
    f = base_filter(ctx, start, end, service)
    deploys = _deployments(ctx, f, service)
    infra = infra_section(ctx, f, service)
    if infra is None:
        return deploys
    data = Changes(deploys.data or [])
    data.infra = infra.data
    parts = {deploys.status, infra.status}
    status = Status.OK if Status.OK in parts else Status.EMPTY if Status.EMPTY in parts else Status.NO_DATA
    return ToolResult(text=deploys.text + "\n" + infra.text, evidence_ids=deploys.evidence_ids + infra.evidence_ids,
                      data=data, status=status)


def _deployments(ctx: ToolContext, f, service: str | None) -> ToolResult:
    if (nd := no_data(ctx, "deployments", "A deploy cannot be confirmed or ruled out from this snapshot.")):
        return nd
    found = ctx.telemetry.events("deployments", f, limit=61)
    if not found:
        return nothing_found(ctx, source="deployments", tool="list_deployments", service=service, start=f.start,
                             end=f.end, filters={"service": service}, data=[],
                             summary=f"no deployments of {service or 'any service'} {fmt_span(f.start, f.end)}",
                             text=f"no deployments for {service or 'any service'} {fmt_span(f.start, f.end)}")
    rows = [_deployment(ctx, r, service) for r in found[:60]]
    head = f"{len(rows)} deployments for {service or 'all services'} {fmt_span(f.start, f.end)}"
    if len(found) > 60:
        head += " (more left out: narrow by service or time)"
    text = head + "\n" + table(rows, ["evidence", "time", "service", "kind", "previous_version", "version",
                                      "status", "actor", "diff", "description"], limit=60)
    return ToolResult(text=text, evidence_ids=[r.evidence for r in rows], data=rows)


def _deployment(ctx: ToolContext, r: dict, service: str | None) -> Deployment:
    changes = r.get("changes") if isinstance(r.get("changes"), dict) else {}
    diff = _changes(changes)
    d = Deployment(r["time"], r["service"], r.get("kind") or ("config" if diff and not r.get("version") else "deploy"),
                   r.get("version"), r.get("previous_version"), r.get("status"), r.get("actor"),
                   r.get("description"), changes, diff)
    ev = ctx.ledger.add(source="deployments", tool="list_deployments", service=d.service, start=d.time, end=d.time,
                        filters={"service": service},
                        attributes={"kind": d.kind, "status": d.status, "version": d.version,
                                    "changed_keys": ",".join(changes) or None},
                        summary=f"{d.kind} of {d.service} at {fmt_time(d.time)} {d.previous_version or ''}→"
                                f"{d.version or ''} ({d.status or 'status unknown'}) {clip(diff or d.description, 160)}",
                        rows=[r])
    d.evidence = ev.id
    return d


@tool
def scaling_events(ctx: ToolContext, service: str | None = None, start: datetime | None = None,
                   end: datetime | None = None) -> ToolResult:
    """Autoscaling events by service, action and status (failed scale-ups stand out), and instance counts
    against usual."""
    f = base_filter(ctx, start, end, service)
    counts = instance_counts(ctx, f, service)
    usual = ("\ninstance_count vs. usual:\n" + table(counts, ["service", "usual", "min", "max", "last"])
             if counts else "")
    if (nd := no_data(ctx, "scaling")):
        nd.text += usual
        nd.data = Scaling([], counts)
        return nd
    groups: dict[tuple[str, str, str], ScalingGroup] = {}
    for r in ctx.telemetry.events("scaling", f, limit=2000):
        key = (r["service"], r.get("action") or "-", r.get("status") or "-")
        g = groups.setdefault(key, ScalingGroup(*key, events=0, first=r["time"], last=r["time"],
                                                desired=r.get("desired_count"), actual=r.get("actual_count"),
                                                message=r.get("message")))
        g.events += 1
        g.last = r["time"]
        g.actual = r.get("actual_count") if r.get("actual_count") is not None else g.actual
        g.desired = r.get("desired_count") if r.get("desired_count") is not None else g.desired
        if r.get("message"):
            g.message = clip(r["message"], 200)
    for g in sorted(groups.values(), key=lambda g: g.first):
        ev = ctx.ledger.add(source="scaling", tool="scaling_events", service=g.service, start=g.first, end=g.last,
                            filters={"service": service}, attributes={"action": g.action, "status": g.status},
                            summary=f"{g.events}× {g.action} {g.status} for {g.service} "
                                    f"{fmt_time(g.first)}–{fmt_time(g.last)}"
                                    + (f" (desired {g.desired}, actual {g.actual})"
                                       if g.desired is not None or g.actual is not None else "")
                                    + f": {clip(g.message, 120)}", rows=[asdict(g)])
        g.evidence = ev.id
    data = Scaling(sorted(groups.values(), key=lambda g: g.first), counts)
    if not groups:
        return nothing_found(ctx, source="scaling", tool="scaling_events", service=service, start=f.start, end=f.end,
                             filters={"service": service}, data=data,
                             summary=f"no scaling events for {service or 'any service'} {fmt_span(f.start, f.end)}",
                             text=f"no scaling events for {service or 'any service'} {fmt_span(f.start, f.end)}"
                                  + usual)
    text = (f"scaling events for {service or 'all services'} {fmt_span(f.start, f.end)}\n"
            + table(data.groups, ["evidence", "service", "action", "status", "events", "first", "last", "desired",
                                  "actual", "message"]) + usual)
    return ToolResult(text=text, evidence_ids=[g.evidence for g in data.groups], data=data)


def instance_counts(ctx: ToolContext, f, service: str | None) -> list[InstanceCount]:
    """instance_count per service from metrics: usual (baseline) vs. min, max and last."""
    if not ctx.telemetry.coverage("metrics").present:
        return []
    per: dict[str, list] = {}
    for r in ctx.telemetry.metric_series(f.but(name="instance_count"), by=("service",), agg="max"):
        per.setdefault(r["service"], []).append((r["bucket"], r["value"]))
    b_end = baseline_end(ctx.incident)
    rows = []
    for svc, pts in per.items():
        usual = detect_shift(pts, b_end, min_delta=0).baseline
        vals = [v for _, v in pts]
        rows.append(InstanceCount(svc, round(usual, 1), min(vals), max(vals), vals[-1]))
    return rows if service else [r for r in rows if r.min != r.max][:30]


@tool
def certificates(ctx: ToolContext, at: datetime | None = None, within_days: int = 30,
                 service: str | None = None) -> ToolResult:
    """TLS certificates expired at a time or expiring within N days of it, with owner and connection.

    Args:
        at: default the alert time
        within_days: also those expiring within this many days
    """
    if (nd := no_data(ctx, "certificates", "Certificate expiry cannot be ruled out from this snapshot.")):
        return nd
    when = as_utc(at or alert_time(ctx.incident))
    rows = ctx.telemetry.events("certificates", base_filter(ctx, None, None, service), limit=5000)
    flagged = [c for r in rows if (c := _judge(r, when, within_days)).status != "valid"]
    for c in flagged:
        ev = ctx.ledger.add(source="certificates", tool="certificates", service=c.service, start=c.not_after,
                            end=c.not_after, filters={"at": when.isoformat(), "within_days": within_days},
                            attributes={"status": c.status, "name": c.name, "purpose": c.purpose,
                                        "peer_service": c.peer_service},
                            summary=f"certificate {c.name or c.subject or '?'} of {c.service} "
                                    f"({c.purpose or 'purpose unknown'}"
                                    f"{', to ' + c.peer_service if c.peer_service else ''}) {c.status}: "
                                    f"not_after {c.not_after.isoformat()} ({c.expires_in})",
                            rows=[asdict(c)])
        c.evidence = ev.id
    expired = sum(c.status == "expired" for c in flagged)
    head = (f"{len(rows)} certificates; at {when.isoformat()}: {expired} expired, {len(flagged) - expired} expiring "
            f"within {within_days} days, {len(rows) - len(flagged)} valid")
    if not flagged:
        return nothing_found(ctx, source="certificates", tool="certificates", service=service, data=[],
                             filters={"at": when.isoformat(), "within_days": within_days},
                             summary=f"no certificate {'of ' + service + ' ' if service else ''}expired or expiring "
                                     f"within {within_days} days of {fmt_time(when)} ({len(rows)} checked)",
                             text=head)
    shown = [{**asdict(c), "not_after": c.not_after.strftime("%Y-%m-%d %H:%MZ")} for c in flagged]
    return ToolResult(text=head + "\n" + table(shown, ["evidence", "service", "name", "purpose", "peer_service",
                                                       "not_after", "status", "expires_in"]),
                      evidence_ids=[c.evidence for c in flagged], data=flagged)


def _judge(r: dict, when: datetime, within_days: int) -> Certificate:
    left = r["not_after"] - when
    status = "expired" if left <= timedelta(0) else "expiring" if left <= timedelta(days=within_days) else "valid"
    expires_in = (f"expired {_ago(-left)} before {fmt_time(when)}" if left <= timedelta(0) else
                  f"expires {_ago(left)} after {fmt_time(when)}")
    return Certificate(r["service"], r["not_after"], status, expires_in, r.get("name"), r.get("subject"),
                       r.get("purpose"), r.get("peer_service"))


def _ago(td: timedelta) -> str:
    s = td.total_seconds()
    return f"{s / 86400:.1f} days" if s >= 86400 else f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


@tool
def registry_changes(ctx: ToolContext, service: str | None = None, start: datetime | None = None,
                     end: datetime | None = None) -> ToolResult:
    """Registry events (register, deregister, health, address) by service and event, and endpoints that
    disagree with the instances seen in telemetry."""
    if (nd := no_data(ctx, "registry", "Discovery problems cannot be ruled out from this snapshot.")):
        return nd
    s, e = time_range(ctx, start, end)
    f = base_filter(ctx, None, e, service)   # from the beginning, to know each instance's state at the end
    state, groups = _replay_registry(ctx, ctx.telemetry.events("registry", f, limit=20_000), s)
    rows = []
    for g in sorted(groups.values(), key=lambda g: g["first"]):
        row = RegistryGroup(g["service"], g["event"], g["events"], g["first"], g["last"], len(g["instances"]),
                            g["moved"], _few(g["instances"], 6), _few(g["addresses"], 4))
        ev = ctx.ledger.add(source="registry", tool="registry_changes", service=row.service, start=row.first,
                            end=row.last, filters={"service": service}, attributes={"event": row.event},
                            summary=f"{row.events}× {row.event} for {row.service} ({row.n_instances} instances"
                                    f"{', ' + str(row.moved) + ' address changes' if row.moved else ''}) "
                                    f"{fmt_time(row.first)}–{fmt_time(row.last)}", rows=[asdict(row)])
        row.evidence = ev.id
        rows.append(row)
    mismatch = _registry_vs_telemetry(ctx, state, service, e)
    for m in mismatch:
        ev = ctx.ledger.add(source="registry", tool="registry_changes", service=m.service, start=s, end=e,
                            filters={"service": service}, attributes={"event": "mismatch"},
                            summary=f"{m.service}: registry disagrees with telemetry: registered but silent "
                                    f"{m.registered_silent or '-'}; serving but not registered "
                                    f"{m.serving_unregistered or '-'}; serving but marked unhealthy "
                                    f"{m.serving_unhealthy or '-'}", rows=[asdict(m)])
        m.evidence = ev.id
    head = f"registry events for {service or 'all services'} {fmt_span(s, e)} (routine initial registrations omitted)"
    if not rows and not mismatch:
        return nothing_found(ctx, source="registry", tool="registry_changes", service=service, start=s, end=e,
                             filters={"service": service}, data=Registry([], []),
                             summary=f"no registry changes for {service or 'any service'} {fmt_span(s, e)}, and the "
                                     f"registry agrees with the instances seen in telemetry",
                             text=head + "\nno registry changes; the registry agrees with telemetry")
    out = [head, table(rows, ["evidence", "service", "event", "events", "n_instances", "moved", "first", "last",
                              "instances", "addresses"]) if rows else "no registry changes"]
    if mismatch:
        out.append("endpoints that disagree with telemetry:\n" + table(
            mismatch, ["evidence", "service", "registered_silent", "serving_unregistered", "serving_unhealthy"]))
    return ToolResult(text="\n".join(out), evidence_ids=[x.evidence for x in [*rows, *mismatch]],
                      data=Registry(rows, mismatch))


def _replay_registry(ctx: ToolContext, events: list[dict], s: datetime) -> tuple[dict, dict]:
    """Replay registry events oldest first: each instance's state at the end, and the changes from `s` on grouped
    by (service, event)."""
    state: dict[tuple[str, str], dict] = {}
    groups: dict[tuple[str, str], dict] = {}
    for r in events:
        key = (r["service"], r["instance"])
        prev = state.get(key)
        st = state.setdefault(key, {"registered": True, "healthy": True, "address": r.get("address")})
        ev_name = r.get("event") or "update"
        if ev_name == "deregister":
            st["registered"] = False
        elif ev_name == "register":
            st.update(registered=True, healthy=True)
        elif ev_name in ("healthy", "unhealthy"):
            st["healthy"] = ev_name == "healthy"
        if r.get("address"):
            moved = prev is not None and st.get("address") not in (None, r["address"])
            st["address"] = r["address"]
        else:
            moved = False
        if r["time"] < s or (ev_name in ("register", "healthy") and r["time"] <= ctx.incident.window.start
                             + timedelta(minutes=5)):
            continue   # outside the range, or the state at the start of the window (initial registration)
        g = groups.setdefault((r["service"], ev_name), {"service": r["service"], "event": ev_name, "events": 0,
                                                         "first": r["time"], "last": r["time"], "instances": set(),
                                                         "addresses": set(), "moved": 0})
        g["events"] += 1
        g["last"] = r["time"]
        g["instances"].add(r["instance"])
        if r.get("address"):
            g["addresses"].add(r["address"])
        g["moved"] += moved
    return state, groups


def _few(values: set[str], n: int) -> str:
    return ", ".join(sorted(values)[:n]) + (" …" if len(values) > n else "")


def _registry_vs_telemetry(ctx: ToolContext, state: dict, service: str | None,
                           end: datetime) -> list[RegistryMismatch]:
    """Instances the registry calls live vs. instances that emitted logs or metrics in the last 15 minutes."""
    recent = base_filter(ctx, end - timedelta(minutes=15), end, service)
    seen: dict[str, set[str]] = {}
    for source in ("logs", "metrics"):
        if ctx.telemetry.coverage(source).present:
            for r in ctx.telemetry.count(source, recent, by=("service", "instance"), limit=20_000):
                if r["instance"]:
                    seen.setdefault(r["service"], set()).add(r["instance"])
    out = []
    for svc in sorted({k[0] for k in state}):
        if svc not in seen:
            continue   # no per-instance telemetry for it: nothing to compare against
        registered = {i for (s, i), st in state.items() if s == svc and st["registered"]}
        live = {i for i in registered if state[(svc, i)]["healthy"]}
        silent = sorted(live - seen[svc])
        unregistered = sorted(seen[svc] - registered)
        unhealthy = sorted(seen[svc] & (registered - live))
        if silent or unregistered or unhealthy:
            out.append(RegistryMismatch(svc, ", ".join(silent[:6]), ", ".join(unregistered[:6]),
                                        ", ".join(unhealthy[:6])))
    return out[:20]
