"""The built-in investigator that needs no LLM: "just another model" behind the same protocol.

It drives the same tools through the same loop (so its evidence, citations, transcripts and eval
scores mean the same as an LLM's), in four turns:
  1. orient: the page, error onsets, the call graph;
  2. walk the dependency chain from the paged service to the first failing system, and gather every
     change in the environment (deploys, scaling, certificates, registry) and the failing edges;
  3. look inside the candidates: resource metrics, new log templates, zones;
  4. score each (service, kind) hypothesis by strength of evidence × timing × place in the chain,
     and submit the best, the ruled-out ones, or "inconclusive" when nothing stands out.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generator

from agent.models.base import Message, ToolCall, ToolSpec, Turn
from agent.models.signatures import families
from agent.report import KINDS
from tools.domain.taxonomy import TAXONOMY

MIN = timedelta(minutes=1)
RESOURCE_METRICS = ("cpu_utilization", "memory_utilization", "disk_utilization", "db_connections_in_use",
                    "instance_count", "request_rate", "latency_p99_ms")
CONCLUDE_AT = 0.4          # below this best score, the report is inconclusive
MAX_CANDIDATES = 5


@dataclass
class Hypothesis:
    service: str
    kind: str
    strength: float                      # how specific the evidence is, 0..1
    began: datetime | None               # when the cause began
    evidence: list[str]
    claim: str                           # the root-cause link of the chain
    mechanism: list[tuple[str, list[str]]] = field(default_factory=list)   # links between symptom and cause
    slow: bool = False                   # builds up over a long time (leak, disk) before the symptom
    score: float = 0.0


class Investigator:
    """The state of one heuristic investigation: what the tools returned, and the reasoning over it."""

    def __init__(self) -> None:
        self.results: dict[str, list[tuple[dict, Message]]] = {}

    # ---- gathering -------------------------------------------------------------------------
    def run(self) -> Generator[list[ToolCall], list[Message], dict[str, Any]]:
        yield from self.ask([("describe_incident", {}), ("error_onsets", {}), ("service_map", {})])
        desc = self.one("describe_incident")
        self.incident = desc.data["incident"] if desc and desc.data else None
        if self.incident is None:
            return _inconclusive_args("the incident could not be described")
        self.onsets = {o.service: o for o in reversed(self.one("error_onsets").data or [])}
        self.edges = [e for e in (self.one("service_map").data or []) if e["calls"]]
        self.known = set(desc.data["services"])
        self.alert_service = self.incident.alert.service
        present = [s for s in ("logs", "spans", "metrics") if isinstance(desc.data["sources"].get(s), int)]
        early = desc.data.get("ends_early") or {}
        if present and all(s in early for s in present):
            return _inconclusive_args("the telemetry ends before the page (" + ", ".join(
                f"{s} at {t:%H:%M}" for s, t in early.items()) + "): the failure itself is not in the data",
                checks=["capture the telemetry up to and past the page, then investigate again"])
        yield from self.ask([("list_deployments", {}), ("scaling_events", {}), ("certificates", {}),
                             ("registry_changes", {}), ("trace_errors", {})])
        self.chain = self.walk_chain()
        self.t0 = self.onset_of(self.chain[-1]) if self.chain else None
        self.t0 = self.t0 or (min(o.onset for o in self.onsets.values()) if self.onsets else self.alert_at)
        cands = self.candidates()
        # Only series that exist: a metric known for no particular service (some backends) may be anyone's.
        have = desc.data.get("metrics") or {}
        yield from self.ask([("query_metric", {"name": m, "service": s}) for s in cands for m in RESOURCE_METRICS
                             if m in have and (not have[m] or s in have[m])]
                            + [("log_patterns", {"service": s, "level": "warn"}) for s in cands]
                            + [("zone_breakdown", {"service": s}) for s in cands[:3]])
        return self.conclude()

    def ask(self, calls: list[tuple[str, dict]]) -> Generator[list[ToolCall], list[Message], None]:
        tc = [ToolCall(id=f"hx{next(_ids)}", name=n, arguments=a) for n, a in calls]
        replies = yield tc
        for call, msg in zip(tc, replies):
            self.results.setdefault(call.name, []).append((call.arguments or {}, msg))

    def one(self, name: str) -> Message | None:
        got = self.results.get(name)
        return got[-1][1] if got else None

    def data(self, name: str) -> Any:
        m = self.one(name)
        return m.data if m is not None else None

    def metric(self, service: str, name: str) -> tuple[dict | None, str | None]:
        for a, m in self.results.get("query_metric", []):
            if a.get("service") == service and a.get("name") == name and m.data:
                return m.data["overall"], (m.evidence_ids or [None])[0]
        return None, None

    def patterns(self, service: str) -> tuple[list[dict], str | None]:
        for a, m in self.results.get("log_patterns", []):
            if a.get("service") == service and m.data:
                return m.data, (m.evidence_ids or [None])[0]
        return [], None

    @property
    def alert_at(self) -> datetime:
        inc = self.incident
        return inc.alert.at or (inc.window.start + (inc.window.end - inc.window.start) * 2 / 3)

    def onset_of(self, service: str) -> datetime | None:
        o = self.onsets.get(service)
        return o.onset if o else None

    # ---- where: the first failing system ---------------------------------------------------
    def walk_chain(self) -> list[str]:
        """From the paged service along callees whose own errors began no later than their caller's."""
        start = self.alert_service if self.alert_service in self.onsets else (
            min(self.onsets.values(), key=lambda o: o.onset).service if self.onsets else self.alert_service)
        if not start:
            return []
        if not self.edges and self.onsets:
            # No call graph (no spans): the earliest failing service stands in for the chain's end.
            first = min(self.onsets.values(), key=lambda o: o.onset).service
            return [start] if first == start else [start, first]
        path = [start]
        while True:
            cur = path[-1]
            t_cur = self.onset_of(cur)
            nxt = [e["callee"] for e in self.edges if e["caller"] == cur and e["callee"] in self.onsets
                   and e["callee"] not in path
                   and (t_cur is None or self.onsets[e["callee"]].onset <= t_cur + 2 * MIN)]
            if not nxt:
                return path
            path.append(min(nxt, key=lambda s: self.onsets[s].onset))

    def callees(self, service: str) -> list[str]:
        return [e["callee"] for e in self.edges if e["caller"] == service]

    def callers(self, service: str) -> list[str]:
        return [e["caller"] for e in self.edges if e["callee"] == service]

    def candidates(self) -> list[str]:
        """Services worth a closer look: the chain's end first, then the earliest failing others."""
        out = list(reversed(self.chain))[:1]
        end = self.chain[-1] if self.chain else None
        # the callees the chain's end fails to reach: healthy-looking targets of the loudest errors
        out += [r["peer_service"] for r in self.data("trace_errors") or [] if r["service"] == end and r["peer_service"]]
        out += [c for c in self.callees(end) if c in self.known] if end else []
        out += list(reversed(self.chain))[1:]
        out += [o.service for o in sorted(self.onsets.values(), key=lambda o: o.onset)]
        if self.alert_service:
            out.append(self.alert_service)
        seen = [s for s in dict.fromkeys(out) if s in self.known]
        return seen[:MAX_CANDIDATES]

    def place(self, service: str) -> float:
        """How well a service's position fits a root cause: the chain's end best, its neighbours next."""
        root = self.chain[-1] if self.chain else None
        if service == root:
            return 1.0
        if root and (service in self.callees(root) or service in self.callers(root)):
            return 0.85
        if service in self.chain:
            return 0.8
        if service in self.onsets:
            return 0.6
        return 0.4

    def timing(self, h: Hypothesis) -> float:
        if h.began is None:
            return 0.7
        lead = self.t0 - h.began
        if -3 * MIN <= lead <= timedelta(minutes=45) or (h.slow and -3 * MIN <= lead <= timedelta(hours=6)):
            return 1.0
        if lead > timedelta(minutes=45):
            return 0.6
        return 0.2          # it began after the symptom: an effect, not the cause

    # ---- why: hypotheses -------------------------------------------------------------------
    def error_texts(self, service: str) -> tuple[str, list[str]]:
        """New warn/error log templates of a service and the error messages on its failing calls."""
        texts, ids = [], []
        rows, eid = self.patterns(service)
        new = [r for r in rows if r["new"] or r["per_min_after"] > 3 * max(r["per_min_before"], 0.05)]
        if new and eid:
            texts += [f"{r['template']} {r['example']}" for r in new[:12]]
            ids.append(eid)
        for r in self.data("trace_errors") or []:
            if service in (r["service"], r["peer_service"]):
                texts.append(f"{r['what']} {r['logs']}")
                ids.append(r["evidence"])
        return " \n".join(texts), ids

    def hypotheses(self) -> list[Hypothesis]:
        hs: list[Hypothesis] = []
        hs += self.change_hypotheses()
        hs += self.environment_hypotheses()
        hs += self.dependency_hypotheses()
        for h in hs:
            h.score = round(h.strength * self.timing(h) * self.place(h.service), 3)
        return sorted(hs, key=lambda h: -h.score)

    def change_hypotheses(self) -> list[Hypothesis]:
        out = []
        for d in self.data("list_deployments") or []:
            svc, t = d["service"], d["time"]
            if d.get("status") == "failed" or not (self.t0 - timedelta(hours=2) <= t <= self.t0 + 5 * MIN):
                continue
            own = self.onset_of(svc)
            changed = isinstance(d.get("changes"), dict) and d["changes"]
            is_config = d.get("kind") == "config" or (changed and not _only_version(d["changes"]))
            # A deploy is a cause only if the deployed service's own errors rose after it.
            after = own is not None and t - 2 * MIN <= own <= t + timedelta(minutes=45)
            strength = 0.85 if after else 0.15
            kind = "config_change" if is_config else "deploy_regression"
            what = d.get("diff") or f"{d.get('previous_version') or '?'}→{d.get('version') or '?'}"
            mech = [(f"{svc}'s own errors rose at {_t(own)}, {_mins(own - t)} after the deploy", self.onset_ids(svc))] \
                if after else []
            out.append(Hypothesis(svc, kind, strength, t, [d["evidence"]],
                                  f"{'a config change' if is_config else 'a deploy'} of {svc} at {_t(t)} ({what})",
                                  mech))
        return out

    def environment_hypotheses(self) -> list[Hypothesis]:
        out = []
        for g in self.data("scaling_events") and self.data("scaling_events")["groups"] or []:
            if g["status"] == "failed" and g["action"] in ("scale_up", "-"):
                cpu, cpu_id = self.metric(g["service"], "cpu_utilization")
                rose = f"rose from {_t(cpu['shift_at'])} and " if cpu and cpu["shift_at"] else ""
                mech = [(f"{g['service']}'s CPU {rose}was saturated from {_t(cpu['near_peak_at'] or cpu['max_at'])} "
                         f"(max {cpu['max']:.2f}): without the new instances it could not serve the load", [cpu_id])] \
                    if cpu and cpu["max"] >= 0.85 else []
                stuck = (f"stayed at {g['actual']} instead of {g['desired']}" if g.get("actual") is not None
                         and g.get("desired") is not None else "could not grow")
                out.append(Hypothesis(g["service"], "failed_scale_up", 0.95 if mech else 0.8, g["first"],
                                      [g["evidence"]], f"autoscaling of {g['service']} failed {g['events']}× from "
                                      f"{_t(g['first'])} ({g.get('message') or 'no reason given'}) so capacity "
                                      f"{stuck}", mech))
        failed_up = {h.service for h in out}
        for svc in self.candidates():
            texts, text_ids = self.error_texts(svc)
            fam = families(texts)
            cpu, cpu_id = self.metric(svc, "cpu_utilization")
            if cpu and svc not in failed_up and cpu["max"] >= 0.88 and cpu["shift"] == "up":
                rate, rate_id = self.metric(svc, "request_rate")
                surge = rate and rate["shift"] == "up" and (rate["change_pct"] or 0) > 30
                out.append(Hypothesis(svc, "resource_saturation", 0.75, cpu["shift_at"], [cpu_id] + ([rate_id] if surge else []),
                                      f"{svc}'s CPU saturated at {cpu['max']:.2f} from {_t(cpu['near_peak_at'] or cpu['shift_at'])}"
                                      + (f" under a traffic surge (+{rate['change_pct']}% requests)" if surge else
                                         " with no failed scaling")))
            mem, mem_id = self.metric(svc, "memory_utilization")
            if mem and mem["shift"] == "up" and (mem["max"] >= 0.85 or "oom" in fam):
                ids = [mem_id] + (text_ids[:1] if "oom" in fam else [])
                out.append(Hypothesis(svc, "memory_leak", 0.9 if "oom" in fam else 0.75, mem["shift_at"], ids,
                                      f"{svc}'s memory grew from {mem['baseline']:.2f} to {mem['max']:.2f} "
                                      f"(from {_t(mem['shift_at'])})" + (", until processes were OOM-killed"
                                                                        if "oom" in fam else ""), slow=True))
            disk, disk_id = self.metric(svc, "disk_utilization")
            if (disk and disk["max"] >= 0.95 and disk["shift"] == "up") or "disk" in fam:
                ids = ([disk_id] if disk else []) + (text_ids[:1] if "disk" in fam else [])
                out.append(Hypothesis(svc, "disk_full", 0.9, disk["shift_at"] if disk else self.onset_of(svc), ids,
                                      f"{svc}'s disk filled up" + (f" (to {disk['max']:.0%})" if disk else "")
                                      + (": writes fail with no space left on device" if "disk" in fam else ""),
                                      slow=True))
            if "dns" in fam:
                out.append(Hypothesis(svc, "dns_failure", 0.85, self.onset_of(svc), text_ids[:2],
                                      f"name resolution failed for {svc}'s outgoing calls"))
            out += self.db_hypotheses(svc, fam, text_ids)
            if svc not in self.chain[:-1]:   # a caller's errors are explained by the next hop, not its zone
                out += self.zone_hypotheses(svc)
        out += self.cert_hypotheses()
        out += self.registry_hypotheses()
        return out

    def db_hypotheses(self, svc: str, fam: set[str], text_ids: list[str]) -> list[Hypothesis]:
        db, db_id = self.metric(svc, "db_connections_in_use")
        saturated = db and db["shift"] == "up" and db["last"] is not None and db["max"] > 0 and \
            db["last"] >= 0.9 * db["max"]
        if not (saturated or "db_pool" in fam):
            return []
        # The fix belongs to the database: a callee whose client spans carry OpenTelemetry's db.system,
        # or the service itself when it is the one reporting its connections.
        dbs = [r["peer_service"] for r in self.data("trace_errors") or []
               if r["service"] == svc and r["peer_service"] and "db.system=" in r["what"]]
        target = dbs[0] if dbs else svc
        ids = ([db_id] if saturated else []) + (text_ids[:1] if "db_pool" in fam else [])
        return [Hypothesis(target, "database_saturation", 0.85 if saturated else 0.7,
                           db["shift_at"] if saturated else self.onset_of(svc), ids,
                           f"{target} ran out of database connections" +
                           (f" ({db['max']:.0f} in use, pinned at the limit)" if saturated else
                            "; callers time out acquiring connections"))]

    def zone_hypotheses(self, svc: str) -> list[Hypothesis]:
        for a, m in self.results.get("zone_breakdown", []):
            if a.get("service") == svc and m.data and (m.data["concentrated"] or m.data["dropped"]):
                if m.data["concentrated"]:
                    claim = f"{svc}'s failures are confined to zone {m.data['top']['zone']}: connectivity there was lost"
                else:
                    claim = (f"{svc}'s instances in zone {m.data['dropped'][0]} stopped receiving traffic while "
                             f"its callers failed: that zone became unreachable")
                return [Hypothesis(svc, "network_partition", 0.7, self.onset_of(svc) or self.t0, m.evidence_ids,
                                   claim)]
        return []

    def cert_hypotheses(self) -> list[Hypothesis]:
        out = []
        for c in self.data("certificates") or []:
            if c["status"] != "expired":
                continue
            recent = c["not_after"] >= self.incident.window.start - timedelta(hours=6)
            users = [c["service"]] + ([c["peer_service"]] if c.get("peer_service") else [])
            tls = [(s, ids) for s in users for txt, ids in [self.error_texts(s)] if "tls" in families(txt)]
            for s in self.callers(c["service"]):
                txt, ids = self.error_texts(s)
                if "tls" in families(txt):
                    tls.append((s, ids))
            strength = (0.95 if tls else 0.8) if recent else (0.5 if tls else 0.2)
            mech = [(f"TLS handshakes on {c['service']}'s connections fail: certificate expired", tls[0][1][:2])] \
                if tls else []
            out.append(Hypothesis(c["service"], "cert_expired", strength, c["not_after"], [c["evidence"]],
                                  f"the {c.get('purpose') or ''} certificate {c.get('name') or ''} of {c['service']} "
                                  f"expired at {c['not_after'].isoformat()}", mech))
        return out

    def registry_hypotheses(self) -> list[Hypothesis]:
        reg = self.data("registry_changes") or {}
        out: dict[str, Hypothesis] = {}
        mismatch = {m["service"]: m["evidence"] for m in reg.get("mismatch", [])}
        for g in reg.get("groups", []):
            if g["event"] in ("healthy",) or not (self.t0 - timedelta(minutes=60) <= g["first"] <= self.t0 + 3 * MIN):
                continue
            svc = g["service"]
            restarts = self.restarting(svc)
            strong = g["moved"] or svc in mismatch or g["event"] == "update"
            strength = 0.85 if strong and not restarts else 0.45 if not restarts else 0.2
            h = out.get(svc)
            if h is None or strength > h.strength:
                ids = [g["evidence"]] + ([mismatch[svc]] if svc in mismatch else [])
                out[svc] = Hypothesis(svc, "registry_misroute", strength, g["first"], ids,
                                      f"the service registry changed {svc}'s endpoints at {_t(g['first'])} "
                                      f"({g['events']}× {g['event']}{', addresses moved' if g['moved'] else ''})"
                                      + (": it lists instances that do not serve" if svc in mismatch else ""))
        return list(out.values())

    def restarting(self, svc: str) -> bool:
        mem, _ = self.metric(svc, "memory_utilization")
        txt, _ = self.error_texts(svc)
        return bool(mem and mem["shift"] == "up" and mem["max"] >= 0.85) or "oom" in families(txt)

    def dependency_hypotheses(self) -> list[Hypothesis]:
        out = []
        for r in self.data("trace_errors") or []:
            peer = r["peer_service"]
            if not peer or peer == r["service"]:
                continue
            fam = families(f"{r['what']} {r['logs']}")
            external = peer not in self.known
            if "rate_limit" in fam:
                out.append(Hypothesis(peer, "rate_limited", 0.9, r["first"], [r["evidence"]],
                                      f"{peer} throttled {r['service']}'s calls (429 / rate limited) from {_t(r['first'])}"))
            elif external and not fam & {"tls", "dns"}:
                out.append(Hypothesis(peer, "dependency_outage", 0.85, r["first"], [r["evidence"]],
                                      f"{peer}, a dependency outside the observed system, failed {r['errors']} of "
                                      f"{r['service']}'s calls from {_t(r['first'])}"))
        return out

    # ---- the report ------------------------------------------------------------------------
    def onset_ids(self, service: str) -> list[str]:
        m = self.one("error_onsets")
        for ev_id, o in zip(m.evidence_ids if m else [], (m.data or []) if m else []):
            if o.service == service:
                return [ev_id]
        return []

    def edge_ids(self, caller: str, callee: str) -> list[str]:
        for r in self.data("trace_errors") or []:
            if r["service"] == caller and r["peer_service"] == callee:
                return [r["evidence"]]
        sm = self.one("service_map")
        return list(sm.evidence_ids) if sm and any(e["caller"] == caller and e["callee"] == callee
                                                    for e in self.edges) else []

    def conclude(self) -> dict[str, Any]:
        hs = self.hypotheses()
        desc_id = self.one("describe_incident").evidence_ids
        best = hs[0] if hs and hs[0].score >= CONCLUDE_AT else None
        ranked = _dedupe(hs)
        hyps = [{"service": h.service, "kind": h.kind,
                 "status": "confirmed" if h is best else ("open" if h.score >= CONCLUDE_AT * 0.75 else "ruled_out"),
                 "reason": f"{h.claim} (score {h.score:.2f}: strength {h.strength:.2f}, timing "
                           f"{self.timing(h):.2f}, place {self.place(h.service):.2f})" if h is best else
                           self.why_not(h), "evidence": h.evidence} for h in ranked[:6]]
        hyps += self.ruled_out_callees(ranked)
        if best is None:
            return _inconclusive_args("no hypothesis is backed strongly enough", hyps, self.next_checks(None))
        chain = self.chain_links(best, desc_id)
        onset = best.began or self.t0
        return {"inconclusive": False,
                "root_cause": {"service": best.service, "kind": best.kind, "category": KINDS[best.kind],
                               "onset": onset.isoformat(), "summary": best.claim[0].upper() + best.claim[1:] + ".",
                               "confidence": round(min(0.95, best.score), 2)},
                "chain": chain, "hypotheses": hyps, "next_checks": self.next_checks(best),
                "remediation": REMEDIATION[best.kind]}

    def chain_links(self, best: Hypothesis, desc_id: list[str]) -> list[dict]:
        inc = self.incident
        links = [{"claim": f"{inc.alert.service or 'the system'} was paged: {inc.alert.summary or inc.title}"
                           + (f"; its errors rose at {_t(self.onset_of(self.alert_service))}"
                              if self.onset_of(self.alert_service or "") else ""),
                  "service": inc.alert.service, "evidence": desc_id + self.onset_ids(self.alert_service or "")}]
        path = list(self.chain)
        for a, b in zip(path, path[1:]):
            links.append({"claim": f"{a}'s errors come from its calls to {b}, whose own errors began earlier "
                                   f"({_t(self.onset_of(b))})", "service": b,
                          "evidence": self.edge_ids(a, b) + self.onset_ids(b)})
        end = path[-1] if path else None
        if end and best.service != end:
            ids = self.edge_ids(end, best.service) or self.edge_ids(best.service, end)
            links.append({"claim": f"{end}'s failures trace to {best.service}", "service": best.service,
                          "evidence": ids or best.evidence})
        elif end:
            healthy = [c for c in self.callees(end) if c not in self.onsets and self.edge_ids(end, c)
                       and c in self.known and any(r["service"] == end and r["peer_service"] == c
                                                   for r in self.data("trace_errors") or [])]
            for c in healthy[:2]:
                links.append({"claim": f"{end}'s calls to {c} fail, but {c} itself shows no rise in errors: the "
                                       f"problem is on {end}'s side, not {c}'s", "service": end,
                              "evidence": self.edge_ids(end, c) + self.one("service_map").evidence_ids})
        for claim, ids in best.mechanism:
            links.append({"claim": claim, "service": best.service, "evidence": [i for i in ids if i]})
        links.append({"claim": best.claim[0].upper() + best.claim[1:], "service": best.service,
                      "evidence": best.evidence})
        return [l for l in links if l["evidence"]]

    def why_not(self, h: Hypothesis) -> str:
        t = self.timing(h)
        if h.kind in ("deploy_regression", "config_change") and h.strength < 0.5:
            return f"{h.claim}, but {h.service}'s own errors did not rise after it"
        if t <= 0.2:
            return f"{h.claim}, but that began after the symptom ({_t(self.t0)}): an effect, not the cause"
        if self.place(h.service) <= 0.6:
            return f"{h.claim}, but {h.service} is not on the failing dependency chain ({' → '.join(self.chain)})"
        return f"{h.claim}; weaker than the confirmed cause (score {h.score:.2f})"

    def ruled_out_callees(self, ranked: list[Hypothesis]) -> list[dict]:
        """The loudest symptom's target: a callee the failing calls point at that is itself healthy."""
        out = []
        end = self.chain[-1] if self.chain else None
        blamed = {h.service for h in ranked[:1]}
        for r in (self.data("trace_errors") or [])[:5]:
            c = r["peer_service"]
            if r["service"] == end and c in self.known and c not in self.onsets and c not in blamed:
                out.append({"service": c, "kind": "dependency_outage", "status": "ruled_out",
                            "reason": f"{end}'s calls to {c} fail, but {c} shows no rise in errors of its own",
                            "evidence": [r["evidence"]] + self.one("service_map").evidence_ids})
                blamed.add(c)
        for c in self.data("certificates") or []:
            if c["status"] == "expiring":
                out.append({"service": c["service"], "kind": "cert_expired", "status": "ruled_out",
                            "reason": f"certificate {c.get('name') or ''} of {c['service']} is still valid "
                                      f"at the alert ({c['expires_in']})", "evidence": [c["evidence"]]})
        return out[:4]

    def next_checks(self, best: Hypothesis | None) -> list[str]:
        if best is None:
            first = ", ".join(self.chain) or "the paged service"
            return [f"look at {first} beyond this telemetry (host, kernel and network events)",
                    "check for changes not recorded here (feature flags, infrastructure, upstream providers)",
                    "ask an LLM model for a free-form investigation (fivewhys investigate --model ...)"]
        return NEXT_CHECKS[best.kind]


def _only_version(changes: dict) -> bool:
    return all(any(w in k.lower() for w in ("image", "version", "tag", "digest", "commit", "sha")) for k in changes)


def _dedupe(hs: list[Hypothesis]) -> list[Hypothesis]:
    seen, out = set(), []
    for h in hs:
        if (h.service, h.kind) not in seen:
            seen.add((h.service, h.kind))
            out.append(h)
    return out


def _inconclusive_args(reason: str, hyps: list[dict] | None = None, checks: list[str] | None = None) -> dict:
    return {"inconclusive": True, "root_cause": None, "chain": [], "hypotheses": hyps or [],
            "next_checks": (checks or []) + [reason], "remediation": []}


def _t(t: datetime | None) -> str:
    return t.strftime("%H:%M") if t else "?"


def _mins(td: timedelta) -> str:
    return f"{td.total_seconds() / 60:.0f} min"


REMEDIATION = {k.name: list(k.remediation) for k in TAXONOMY}
NEXT_CHECKS = {k.name: list(k.next_checks) for k in TAXONOMY}

_ids = itertools.count(1)


class HeuristicModel:
    """Model protocol adapter around `Investigator`; restarts on each new user question."""

    name = "heuristic"

    def __init__(self) -> None:
        self._gen: Generator | None = None

    def turn(self, messages: list[Message], tools: list[ToolSpec], on_text=None) -> Turn:
        last_assistant = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
        replies = [m for m in messages[last_assistant + 1:] if m.role == "tool"]
        try:
            if self._gen is None or not replies:
                self._gen = Investigator().run()
                calls = next(self._gen)
            elif any(m.name == "submit_report" for m in replies):
                # Our report was rejected: nothing better to offer than an honest abstention.
                return Turn(tool_calls=[ToolCall(id=f"hx{next(_ids)}", name="submit_report", arguments=_inconclusive_args(
                    "the report did not validate: " + replies[-1].content[:300]))])
            else:
                calls = self._gen.send(replies)
        except StopIteration as stop:
            self._gen = None
            if on_text:
                on_text("")
            return Turn(tool_calls=[ToolCall(id=f"hx{next(_ids)}", name="submit_report", arguments=stop.value)])
        return Turn(tool_calls=calls)
