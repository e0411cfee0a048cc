"""Change and environment events: deployments, autoscaling, certificates, service registry."""
from __future__ import annotations

from datetime import datetime, timedelta

from tools.analysis import alert_time, baseline_end, detect_shift
from tools.backends.base import as_utc
from tools.common import base_filter, clip, no_data, table, time_range
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
    """Deployments, rollbacks and config changes, with their config diffs, oldest first.

    Args:
        service: only this service.
        start: from this time; default the window's start.
        end: until this time; default the window's end.
    """
    if (nd := no_data(ctx, "deployments")):
        return ToolResult(text=nd + " A deploy cannot be confirmed or ruled out from this snapshot.")
    f = base_filter(ctx, start, end, service)
    rows = ctx.telemetry.events("deployments", f, limit=61)
    ids = []
    for r in rows[:60]:
        r["diff"] = _changes(r.get("changes"))
        kind = r.get("kind") or ("config" if r["diff"] and not r.get("version") else "deploy")
        ev = ctx.ledger.add(source="deployments", tool="list_deployments", service=r["service"], start=r["time"],
                            end=r["time"], filters={"service": service},
                            attributes={"kind": kind, "status": r.get("status"), "version": r.get("version"),
                                        "changed_keys": ",".join(r["changes"]) if isinstance(r.get("changes"), dict) else None},
                            summary=f"{kind} of {r['service']} at {fmt_time(r['time'])} "
                                    f"{r.get('previous_version') or ''}→{r.get('version') or ''} "
                                    f"({r.get('status') or 'status unknown'}) {clip(r['diff'] or r.get('description'), 160)}",
                            rows=[r])
        r["evidence"] = ev.id
        ids.append(ev.id)
    head = f"{len(rows[:60])} deployments for {service or 'all services'} {fmt_span(f.start, f.end)}"
    if len(rows) > 60:
        head += " (more left out: narrow by service or time)"
    text = head + "\n" + table(rows, ["evidence", "time", "service", "kind", "previous_version", "version",
                                      "status", "actor", "diff", "description"], limit=60)
    return ToolResult(text=text, evidence_ids=ids, data=rows[:60])


@tool
def scaling_events(ctx: ToolContext, service: str | None = None, start: datetime | None = None,
                   end: datetime | None = None) -> ToolResult:
    """Autoscaling events grouped by service, action and status (failed scale-ups stand out), with the
    instance count compared with what is usual for the service.

    Args:
        service: only this service.
        start: from this time; default the window's start.
        end: until this time; default the window's end.
    """
    f = base_filter(ctx, start, end, service)
    out, ids, groups = [], [], {}
    if (nd := no_data(ctx, "scaling")):
        out.append(nd)
    else:
        for r in ctx.telemetry.events("scaling", f, limit=2000):
            g = groups.setdefault((r["service"], r.get("action") or "-", r.get("status") or "-"),
                                  {"service": r["service"], "action": r.get("action") or "-",
                                   "status": r.get("status") or "-", "events": 0, "first": r["time"],
                                   "last": r["time"], "desired": r.get("desired_count"),
                                   "actual": r.get("actual_count"), "message": r.get("message")})
            g["events"] += 1
            g["last"] = r["time"]
            g["actual"] = r.get("actual_count") if r.get("actual_count") is not None else g["actual"]
            g["desired"] = r.get("desired_count") if r.get("desired_count") is not None else g["desired"]
            if r.get("message"):
                g["message"] = clip(r["message"], 200)
        for g in sorted(groups.values(), key=lambda g: g["first"]):
            ev = ctx.ledger.add(source="scaling", tool="scaling_events", service=g["service"], start=g["first"],
                                end=g["last"], filters={"service": service},
                                attributes={"action": g["action"], "status": g["status"]},
                                summary=f"{g['events']}× {g['action']} {g['status']} for {g['service']} "
                                        f"{fmt_time(g['first'])}–{fmt_time(g['last'])}"
                                        + (f" (desired {g['desired']}, actual {g['actual']})"
                                           if g["desired"] is not None or g["actual"] is not None else "")
                                        + f": {clip(g['message'], 120)}", rows=[g])
            g["evidence"] = ev.id
            ids.append(ev.id)
        out.append(f"scaling events for {service or 'all services'} {fmt_span(f.start, f.end)}")
        out.append(table(list(groups.values()), ["evidence", "service", "action", "status", "events", "first",
                                                  "last", "desired", "actual", "message"]) if groups else "none")
    counts = instance_counts(ctx, f, service)
    if counts:
        out.append("instance_count vs. usual:\n" + table(counts, ["service", "usual", "min", "max", "last"]))
    return ToolResult(text="\n".join(out), evidence_ids=ids, data={"groups": list(groups.values()), "counts": counts})


def instance_counts(ctx: ToolContext, f, service: str | None) -> list[dict]:
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
        rows.append({"service": svc, "usual": round(usual, 1), "min": min(vals), "max": max(vals), "last": vals[-1]})
    return rows if service else [r for r in rows if r["min"] != r["max"]][:30]


@tool
def certificates(ctx: ToolContext, at: datetime | None = None, within_days: int = 30,
                 service: str | None = None) -> ToolResult:
    """TLS certificates that were expired at a time, or expire within N days of it, with the service that
    owns each and the connection it is used on (purpose client/server, peer_service).

    Args:
        at: the time to judge expiry at; default the alert time.
        within_days: also list certificates expiring within this many days after `at`.
        service: only certificates of this service.
    """
    if (nd := no_data(ctx, "certificates")):
        return ToolResult(text=nd + " Certificate expiry cannot be ruled out from this snapshot.")
    when = as_utc(at or alert_time(ctx.incident))
    rows = ctx.telemetry.events("certificates", base_filter(ctx, None, None, service), limit=5000)
    flagged, ids, valid = [], [], 0
    for r in rows:
        left = r["not_after"] - when
        r["status"] = "expired" if left <= timedelta(0) else (
            "expiring" if left <= timedelta(days=within_days) else "valid")
        r["expires_in"] = (f"expired {_ago(-left)} before {fmt_time(when)}" if left <= timedelta(0) else
                           f"expires {_ago(left)} after {fmt_time(when)}")
        if r["status"] == "valid":
            valid += 1
            continue
        ev = ctx.ledger.add(source="certificates", tool="certificates", service=r["service"], start=r["not_after"],
                            end=r["not_after"], filters={"at": when.isoformat(), "within_days": within_days},
                            attributes={"status": r["status"], "name": r.get("name"), "purpose": r.get("purpose"),
                                        "peer_service": r.get("peer_service")},
                            summary=f"certificate {r.get('name') or r.get('subject') or '?'} of {r['service']} "
                                    f"({r.get('purpose') or 'purpose unknown'}"
                                    f"{', to ' + r['peer_service'] if r.get('peer_service') else ''}) {r['status']}: "
                                    f"not_after {r['not_after'].isoformat()} ({r['expires_in']})",
                            rows=[r])
        r["evidence"] = ev.id
        ids.append(ev.id)
        flagged.append(r)
    head = (f"{len(rows)} certificates; at {when.isoformat()}: {sum(r['status'] == 'expired' for r in flagged)} "
            f"expired, {sum(r['status'] == 'expiring' for r in flagged)} expiring within {within_days} days, "
            f"{valid} valid")
    return ToolResult(text=head + ("\n" + table(flagged, ["evidence", "service", "name", "purpose", "peer_service",
                                                          "not_after", "status", "expires_in"]) if flagged else ""),
                      evidence_ids=ids, data=flagged)


def _ago(td: timedelta) -> str:
    s = td.total_seconds()
    return f"{s / 86400:.1f} days" if s >= 86400 else f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


@tool
def registry_changes(ctx: ToolContext, service: str | None = None, start: datetime | None = None,
                     end: datetime | None = None) -> ToolResult:
    """Service-registry (discovery) events: registrations, deregistrations, health flips and address updates,
    grouped by service and event; and endpoints that disagree with the instances seen in telemetry
    (registered but silent, or serving but not registered).

    Args:
        service: only this service.
        start: from this time; default the window's start.
        end: until this time; default the window's end.
    """
    if (nd := no_data(ctx, "registry")):
        return ToolResult(text=nd + " Discovery problems cannot be ruled out from this snapshot.")
    s, e = time_range(ctx, start, end)
    f = base_filter(ctx, None, e, service)   # from the beginning, to know each instance's state at the end
    events = ctx.telemetry.events("registry", f, limit=20_000)
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
    ids = []
    rows = []
    for g in sorted(groups.values(), key=lambda g: g["first"]):
        row = {**g, "instances": ", ".join(sorted(g["instances"])[:6]) + (" …" if len(g["instances"]) > 6 else ""),
               "addresses": ", ".join(sorted(g["addresses"])[:4]) + (" …" if len(g["addresses"]) > 4 else ""),
               "n_instances": len(g["instances"])}
        ev = ctx.ledger.add(source="registry", tool="registry_changes", service=g["service"], start=g["first"],
                            end=g["last"], filters={"service": service},
                            attributes={"event": g["event"]},
                            summary=f"{g['events']}× {g['event']} for {g['service']} ({row['n_instances']} instances"
                                    f"{', ' + str(g['moved']) + ' address changes' if g['moved'] else ''}) "
                                    f"{fmt_time(g['first'])}–{fmt_time(g['last'])}", rows=[row])
        row["evidence"] = ev.id
        ids.append(ev.id)
        rows.append(row)
    mismatch = _registry_vs_telemetry(ctx, state, service, e)
    out = [f"registry events for {service or 'all services'} {fmt_span(s, e)} (routine initial registrations omitted)",
           table(rows, ["evidence", "service", "event", "events", "n_instances", "moved", "first", "last",
                        "instances", "addresses"]) if rows else "no registry changes"]
    for m in mismatch:
        ev = ctx.ledger.add(source="registry", tool="registry_changes", service=m["service"], start=s, end=e,
                            filters={"service": service}, attributes={"event": "mismatch"},
                            summary=f"{m['service']}: registry disagrees with telemetry: registered but silent "
                                    f"{m['registered_silent'] or '-'}; serving but not registered "
                                    f"{m['serving_unregistered'] or '-'}", rows=[m])
        m["evidence"] = ev.id
        ids.append(ev.id)
    if mismatch:
        out.append("endpoints that disagree with telemetry:\n" + table(
            mismatch, ["evidence", "service", "registered_silent", "serving_unregistered"]))
    return ToolResult(text="\n".join(out), evidence_ids=ids, data={"groups": rows, "mismatch": mismatch})


def _registry_vs_telemetry(ctx: ToolContext, state: dict, service: str | None, end: datetime) -> list[dict]:
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
        live = {i for (s, i), st in state.items() if s == svc and st["registered"] and st["healthy"]}
        silent = sorted(live - seen[svc])
        unregistered = sorted(seen[svc] - live)      # serving, but deregistered/unhealthy/unknown
        if silent or unregistered:
            out.append({"service": svc, "registered_silent": ", ".join(silent[:6]),
                        "serving_unregistered": ", ".join(unregistered[:6])})
    return out[:20]
