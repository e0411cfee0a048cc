"""The simulator's infrastructure changes (the snapshot's infra_changes source): the change a dns_failure or
network_partition fault came from, and one routine change elsewhere in every case, so the source's presence
gives nothing away. Drawn from a random stream of their own, so adding them left every other record as it was."""
from __future__ import annotations

import random

from evals.world import ZONES, Stage, ts


def dns_change(s: Stage) -> None:
    """What broke the root's lookups: its pods' resolver settings."""
    s.extra["infra"].append({"at": s.onset - 2, "kind": "dns", "service": s.root,
                             "target": f"dnsConfig of {s.root}", "actor": "platform-ci", "status": "succeeded",
                             "changes": {"dnsConfig.nameservers": {"from": ["10.96.0.10"], "to": ["10.96.0.53"]}},
                             "description": f"pod DNS settings of {s.root} rolled out (new resolver)"})


def network_change(s: Stage, zone: str) -> None:
    """What cut the root's instances in `zone` off: a security group rule narrowed to the other zones."""
    others = ", ".join(f"10.{ZONES.index(z)}.0.0/16" for z in ZONES if z != zone)
    s.extra["infra"].append({"at": s.onset - 1, "kind": "security_group", "service": s.root, "zone": zone,
                             "target": f"sg-{s.root}-{zone}", "actor": "terraform", "status": "succeeded",
                             "changes": {"ingress.tcp": {"from": "10.0.0.0/8", "to": others}},
                             "description": f"ingress rules of {s.root} in {zone} replaced"})


def infra_records(st: Stage, window: int, busy: set[str]) -> list[dict]:
    """The fault's changes, and one routine change of a service not in `busy` (or of a node)."""
    rng = random.Random(f"infra/{st.root}/{st.onset}/{window}")
    out = [{"time": ts(r["at"] + rng.uniform(0, 0.9)), **{k: v for k, v in r.items() if k != "at"}}
           for r in st.extra["infra"]]
    others = sorted(s for s in st.w.services if s not in busy and s != st.root)
    t = ts(rng.uniform(5, window - 5))
    if others and rng.random() < 0.5:
        svc = rng.choice(others)
        n = len(st.w.services[svc].instances)
        out.append({"time": t, "kind": "autoscaling_policy", "service": svc, "target": f"hpa/{svc}",
                    "actor": "terraform", "status": "succeeded",
                    "changes": {"maxReplicas": {"from": n + 2, "to": n + 4}},
                    "description": f"autoscaling maximum of {svc} raised"})
    else:
        zone = rng.choice(ZONES)
        node = f"ip-10-{ZONES.index(zone)}-{rng.randint(1, 9)}-{rng.randint(10, 250)}"
        out.append({"time": t, "kind": "node_drain", "service": None, "zone": zone, "target": f"node {node}",
                    "actor": "node-upgrader", "status": "succeeded",
                    "description": f"node {node} drained for a kernel upgrade; its pods rescheduled"})
    return [{k: v for k, v in r.items() if v is not None} for r in out]
