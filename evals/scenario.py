"""What surrounds a harder case's fault, as in real incidents: an unrelated bad deploy off the failing path with
errors of its own (a concurrent incident), a harmless change on the failing path just before the fault (a
herring), routine deploys, autoscaling and registry churn, certificates of which one expires soon."""
from __future__ import annotations

from evals.flow import Net
from evals.infra import infra_records
from evals.world import Failure, Stage, certificates_of, registrations, ts

CONCURRENT_MESSAGES = ["TypeError: Cannot read properties of undefined (reading 'id')",
                       "KeyError: 'currency' in serialize_line_items",
                       "java.lang.IllegalStateException: snapshot missing for tenant",
                       "ValueError: invalid literal for int() with base 10: ''"]
HARMLESS = [{"log.level": {"from": "info", "to": "debug"}},
            {"feature.new_checkout_banner": {"from": False, "to": True}},
            {"http.keepalive_s": {"from": 60, "to": 90}},
            {"metrics.export_interval_s": {"from": 30, "to": 15}}]


def related(net: Net, service: str) -> set[str]:
    """The service, everything that calls it (transitively) and everything it calls."""
    up, down = {service}, {service}
    for group, step in ((up, lambda s: net.w.callers(s)), (down, lambda s: net.w.calls.get(s, []))):
        todo = [service]
        while todo:
            for n in step(todo.pop()):
                if n not in group:
                    group.add(n)
                    todo.append(n)
    return up | down


def below(net: Net, service: str) -> set[str]:
    seen, todo = {service}, [service]
    while todo:
        for n in net.w.calls.get(todo.pop(), []):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def concurrent(st: Stage, net: Net, path: list[str]) -> dict | None:
    """A bad deploy of a service off the failing path, near the fault's time, with errors of its own; half the
    time rolled back. Preferably where its errors cannot reach the page; otherwise its callers fall back."""
    w, rng = net.w, st.rng
    near = related(net, st.root)
    cands = [s for s in w.services if w.services[s].tier in ("mid", "leaf") and s not in near]
    if not cands:
        return None
    off = [s for s in cands if s not in below(net, path[-1])]
    x = rng.choice(off or cands)
    if not off:
        for site in net.sites:
            if site.callee == x:
                site.critical = False
    start = st.onset + rng.randint(-14, 3)
    end = start + rng.randint(10, 18) if rng.random() < 0.5 else None
    st.fails[x] = Failure(start, round(rng.uniform(0.15, 0.35), 3), rng.sample(CONCURRENT_MESSAGES, 2), None,
                          {"error.type": "500", "http.status_code": 500}, True, None, end)
    v = rng.randint(20, 80)
    st.extra["deployments"].append({"time": ts(start - rng.uniform(1, 3)), "service": x, "kind": "deploy",
                                    "version": f"v3.{v + 1}.0", "previous_version": f"v3.{v}.0", "actor": "ci",
                                    "status": "succeeded", "description": f"release v3.{v + 1}.0"})
    if end:
        st.extra["deployments"].append({"time": ts(end - 1 + rng.random()), "service": x, "kind": "rollback",
                                        "version": f"v3.{v}.0", "previous_version": f"v3.{v + 1}.0",
                                        "actor": "oncall", "status": "succeeded", "description": "roll back"})
    return {"service": x, "kind": "deploy_regression", "onset": ts(start)[:16] + ":00Z",
            "rolled_back": ts(end)[:16] + ":00Z" if end else None}


def herring(st: Stage, path: list[str], page: str) -> str:
    """A harmless change on the failing path (between the page and the root cause) minutes before the fault."""
    rng = st.rng
    h = rng.choice(path[1:path.index(page) + 1])
    t = ts(st.onset - rng.uniform(1, 8))
    if rng.random() < 0.5:
        st.extra["deployments"].append({"time": t, "service": h, "kind": "config", "actor": "jane",
                                        "status": "succeeded", "description": "routine tuning",
                                        "changes": rng.choice(HARMLESS)})
    else:
        v = rng.randint(10, 60)
        st.extra["deployments"].append({"time": t, "service": h, "kind": "deploy", "version": f"v2.{v + 1}.0",
                                        "previous_version": f"v2.{v}.0", "actor": "ci", "status": "succeeded",
                                        "description": "bump dependencies"})
    return h


def records(st: Stage, net: Net, busy: set[str], window: int) -> tuple[dict[str, list[dict]], str | None]:
    """Deployments, scaling, certificates and registry: the fault's and the scenario's records plus routine
    activity of services not in `busy`; and the service whose certificate expires soon (a herring)."""
    w, rng = net.w, st.rng
    others = sorted(s for s in w.services if s not in busy)
    deployments = list(st.extra["deployments"])
    for _ in range(rng.randint(1, 2)):
        v = rng.randint(10, 90)
        deployments.append({"time": ts(rng.uniform(3, window - 3)), "service": rng.choice(others or list(w.services)),
                            "kind": "deploy", "version": f"2026.3.{v + 1}", "previous_version": f"2026.3.{v}",
                            "actor": "ci", "status": "succeeded", "description": "routine release"})
    scaling = list(st.extra["scaling"])
    if others:
        svc = rng.choice(others)
        n = len(w.services[svc].instances)
        scaling.append({"time": ts(rng.uniform(20, 60)), "service": svc, "action": "scale_up", "from_count": n,
                        "desired_count": n + 1, "actual_count": n + 1, "status": "succeeded",
                        "message": f"scaled up to {n + 1} replicas"})
    registry = registrations(w) + st.extra["registry"]
    if others:                    # a rolling restart somewhere else
        svc, t = rng.choice(others), rng.uniform(10, window - 10)
        for k, (inst, zone) in enumerate(w.services[svc].instances):
            registry += [{"time": ts(t + k), "service": svc, "instance": inst, "event": "deregister", "zone": zone},
                         {"time": ts(t + k + 0.5), "service": svc, "instance": inst, "event": "register",
                          "zone": zone}]
    certs = certificates_of(w, st.extra["certs"], rng)
    expiring = rng.choice(others) if others else None
    for c in certs:
        if c["service"] == expiring:
            c["not_after"] = ts(st.onset + rng.randint(8, 25) * 1440)
    return {"deployments": deployments, "scaling": scaling, "certificates": certs, "registry": registry,
            "infra_changes": infra_records(st, window, busy)}, expiring
