"""What the tools returned, gathered once, and the questions the rules ask of it (typed, no text parsing).

Where the first failing system is: the chain walked from the paged service along callees whose own errors
began no later than their caller's; the candidates worth a closer look; how well a service's place and a
cause's timing fit."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.heuristic.signatures import families
from agent.models.base import Message
from tools.results import (Edge, EdgeErrors, ErrorOnset, LatencyChange, LogTemplate, LoggedFailure, MetricChange,
                           MetricSummary, Overview, Registry, Scaling, ZoneBreakdown)

MIN = timedelta(minutes=1)
MAX_CANDIDATES = 5
CHAIN_SLACK = 2 * MIN            # a callee's errors may begin this much after its caller's and still lead
RECENT_CHANGE = timedelta(minutes=45)     # a cause this long before the symptom is on time
SLOW_CHANGE = timedelta(hours=6)          # for causes that build up (a leak, a filling disk)
TRAFFIC_FELL_PCT = 15.0          # a request rate this much (%) below its baseline fell, beyond noise
RISE_Z = 3.0                     # a metric this many robust spreads above its baseline rose clearly


@dataclass
class Facts:
    results: dict[str, list[tuple[dict, Message]]] = field(default_factory=dict)
    chain: list[str] = field(default_factory=list)    # the paged service … the first failing system
    t0: datetime | None = None                        # when the symptom began at the chain's end

    @property
    def end(self) -> str | None:
        return self.chain[-1] if self.chain else None

    # ---- the raw results, typed ------------------------------------------------------------
    def add(self, name: str, arguments: dict, reply: Message) -> None:
        self.results.setdefault(name, []).append((arguments, reply))

    def one(self, name: str) -> Message | None:
        got = self.results.get(name)
        return got[-1][1] if got else None

    def data(self, name: str, default: Any = None) -> Any:
        m = self.one(name)
        return m.data if m is not None and m.data is not None else default

    def ids(self, name: str) -> list[str]:
        m = self.one(name)
        return list(m.evidence_ids) if m else []

    @property
    def overview(self) -> Overview | None:
        return self.data("describe_incident")

    @property
    def onsets(self) -> dict[str, ErrorOnset]:
        """Each service's earliest error onset."""
        return {o.service: o for o in reversed(self.data("error_onsets", []))}

    @property
    def edges(self) -> list[Edge]:
        return [e for e in self.data("service_map", []) if e.calls]

    @property
    def known(self) -> set[str]:
        return set(self.overview.services) if self.overview else set()

    @property
    def edge_errors(self) -> list[EdgeErrors]:
        return [r for r in self.data("trace_errors", []) if isinstance(r, EdgeErrors)]

    @property
    def logged_failures(self) -> list[LoggedFailure]:
        """Spans without status: services whose errors reached a caller in the same trace (from logs)."""
        return [r for r in self.data("trace_errors", []) if isinstance(r, LoggedFailure)]

    @property
    def failure_reached_callers(self) -> set[str]:
        return {r.service for r in self.logged_failures if r.reached_callers > r.reached_before}

    def edge_onset(self, caller: str, callee: str) -> datetime | None:
        """When `caller`'s calls to `callee` began to fail (edge_rates), if they did."""
        for r in self.data("edge_rates", []):
            if r.caller == caller and r.callee == callee:
                return r.errors_rose_at
        return None

    @property
    def scaling(self) -> Scaling:
        return self.data("scaling_events", Scaling([], []))

    @property
    def registry(self) -> Registry:
        return self.data("registry_changes", Registry([], []))

    @property
    def latency(self) -> list[LatencyChange]:
        return self.data("latency_by_service", [])

    def changes(self, name: str) -> list[MetricChange]:
        """Every change-point metric_changes found in metric `name`, the biggest first."""
        return [r for a, m in self.results.get("metric_changes", []) if a.get("name") == name for r in m.data or []]

    def rises(self, name: str) -> list[MetricChange]:
        """Services whose metric `name` rose clearly."""
        return [r for r in self.changes(name) if r.direction == "up" and r.z >= RISE_Z]

    def downstream(self, service: str | None) -> set[str]:
        """Every service reachable from `service` through the call graph: where its symptom can come from."""
        return _reach(service, self.callees)

    def metric(self, service: str, name: str) -> tuple[MetricSummary | None, str | None]:
        for a, m in self.results.get("query_metric", []):
            if a.get("service") == service and a.get("name") == name and m.data:
                return m.data.overall, (m.evidence_ids or [None])[0]
        return None, None

    def patterns(self, service: str) -> tuple[list[LogTemplate], str | None]:
        for a, m in self.results.get("log_patterns", []):
            if a.get("service") == service and m.data:
                return m.data, (m.evidence_ids or [None])[0]
        return [], None

    def zones(self, service: str) -> tuple[ZoneBreakdown | None, list[str]]:
        for a, m in self.results.get("zone_breakdown", []):
            if a.get("service") == service and m.data:
                return m.data, list(m.evidence_ids)
        return None, []

    # ---- the incident ----------------------------------------------------------------------
    @property
    def incident(self):
        return self.overview.incident

    @property
    def alert_service(self) -> str | None:
        return self.incident.alert.service

    @property
    def alert_at(self) -> datetime:
        inc = self.incident
        return inc.alert.at or (inc.window.start + (inc.window.end - inc.window.start) * 2 / 3)

    def onset_of(self, service: str | None) -> datetime | None:
        o = self.onsets.get(service or "")
        return o.onset if o else None

    def failing_at(self, service: str | None) -> datetime | None:
        """When a service began failing: its own errors, or else its callers' calls to it (a service that is
        unreachable, misrouted or without telemetry of its own fails only in its callers' view)."""
        if not service:
            return None
        return self.onset_of(service) or min(
            (t for c in self.callers(service) if (t := self.failing_since(c, service))), default=None)

    def symptom_onset(self) -> datetime:
        """When what was paged for began: the chain's end failing; else the earliest error onset on a path of
        slowed calls from the paged service, when there is one (an onset off it is another incident's), or
        anywhere; else the page. An episode that was over well before the page is an earlier one, not it."""
        end, onsets = self.end, self.onsets
        if not (end in onsets and onsets[end].ended_at) and (t := self.failing_at(end)):
            return t
        path = self.slowed_path()
        return min((o.onset for s, o in onsets.items() if not o.ended_at and (not path or s in path)),
                   default=self.alert_at)

    def slowed_path(self) -> set[str]:
        """On a latency page, the services on a path of slowed calls from the paged one down (latency_by_service's
        caller → callee rows, a slowdown seen only after the page too: timing() judges when): where its cause can
        be. A latency page: the chain's end is not failing, no failure crossed a call in the logs, and the paged
        service's own calls slowed before the page, in the median too (a tail-only rise or an edge with no
        baseline is noise enough to cut a real cause off, so they do not start a path). Else empty.
        Failing calls do not extend the path: background errors fail calls everywhere, and following them
        reached a concurrent incident (corpus network_delay-03); a callee failing fast under a retrying,
        slowed caller is off the path (a known gap: DECISIONS)."""
        page = self.alert_service
        if not page or self.failure_reached_callers or self.failing_at(self.end):
            return set()
        if not any(r.service == page and r.view == "call" and r.at and r.at <= self.alert_at
                   and r.shape != "outlier" and not (r.note or "").startswith("tail only") for r in self.latency):
            return set()
        slowed: dict[str, set[str]] = {}
        for r in self.latency:
            if r.view in ("call", "wire") and r.peer_service:
                slowed.setdefault(r.service, set()).add(r.peer_service)
        seen = _reach(page, lambda s: slowed.get(s, ()))
        return seen | {page} if seen else set()

    def onset_ids(self, service: str | None) -> list[str]:
        o = self.onsets.get(service or "")
        return [o.evidence] if o and o.evidence else []

    # ---- where: the first failing system ---------------------------------------------------
    def walk_chain(self) -> list[str]:
        """From the paged service along callees whose own errors began no later than their caller's."""
        onsets = self.onsets
        earliest = min(onsets.values(), key=lambda o: o.onset).service if onsets else None
        entry = self.entry()
        # From the page: the paged service when it is failing or is in the call graph; otherwise the earliest
        # failing service stands in (no call graph to walk from the page).
        in_graph = any(entry in (e.caller, e.callee) for e in self.edges)
        start = entry if entry in onsets or in_graph else (earliest or entry)
        if not start:
            return []
        if not self.edges and onsets:
            # No call graph (no spans): the earliest failing service stands in for the chain's end.
            return [start] if earliest == start else [start, earliest]
        path = [start]
        while (nxt := self._next_hops(path)):
            pick = max(nxt, key=nxt.get) if self._dated(path) else min(nxt, key=nxt.get)
            # Onsets a minute or two apart (1-minute points; a ramp crosses each service's threshold at its own
            # time) do not say which came first. Of callees that close, follow one whose failing path reaches a
            # dependency none of its callers can reach and that records nothing of its own: that one dead
            # dependency explains every failure above it; a service failing beside it under the retries is an effect.
            tied = [c for c in nxt if abs(nxt[c] - nxt[pick]) <= CHAIN_SLACK]
            if not self._reaches_dark(path + [pick]):
                to_dark = [c for c in tied if self._reaches_dark(path + [c])]
                pick = min(to_dark, key=lambda c: abs(nxt[c] - nxt[pick]), default=pick)
            path.append(pick)
        return path

    def _dated(self, path: list[str]) -> datetime | None:
        """When the walk's current service began failing: its own errors, else its caller's calls to it."""
        cur = path[-1]
        return self.onset_of(cur) or (self.failing_since(path[-2], cur) if len(path) > 1 else None)

    def _next_hops(self, path: list[str]) -> dict[str, datetime]:
        """The callees of the walk's current service whose failures began no later than its own (give or take
        CHAIN_SLACK), with when they did."""
        cur, t_cur = path[-1], self._dated(path)
        # A callee seen failing only in its callers' view is dated like with like: against when `cur`'s own
        # callers saw it fail. On a slow ramp an edge's failures show minutes after the services' own error
        # rates begin, the edge into `cur` as late as the edge out of it.
        t_seen = self.edge_onset(path[-2], cur) if len(path) > 1 else None
        return {c: t for c in self.callees(cur) if c not in path and (t := self.failing_since(cur, c))
                and (t_cur is None or t <= t_cur + CHAIN_SLACK
                     or (t_seen and not self.onset_of(c) and t <= t_seen + CHAIN_SLACK))}

    def _reaches_dark(self, path: list[str]) -> bool:
        """The walk from `path` can reach a dark dependency (below)."""
        todo, seen = [path], set(path)
        while todo:
            p = todo.pop()
            if self.dark(p[-1]):
                return True
            for c in self._next_hops(p):
                if c not in seen:
                    seen.add(c)
                    todo.append(p + [c])
        return False

    def dark(self, service: str) -> bool:
        """Records nothing of its own and every caller fails to reach it: down, unreachable or outside the system."""
        return self.silent(service) and self.unreachable_by_all(service)

    def unreachable_by_all(self, service: str | None) -> bool:
        """Every one of its callers (two or more) fails to reach it: the fault is on its side, whatever its own
        telemetry says (one caller's change or saturation cannot fail the others' calls)."""
        callers = self.callers(service)
        return len(callers) >= 2 and all(self.edge_onset(c, service) for c in callers)

    def failing_since(self, caller: str, callee: str) -> datetime | None:
        """When `callee` began failing as `caller` sees it: its own errors; or `caller`'s calls to it failing
        where the fault is on the callee's side: every caller's calls fail, or it has no telemetry of its own
        (unreachable, misrouted, outside the system). One caller failing to reach a callee that records
        nothing wrong and serves its other callers is the caller's own problem (saturated, misconfigured)."""
        own = self.onset_of(callee)
        edge = self.edge_onset(caller, callee)
        if edge and not own:
            failing_callers = [c for c in self.callers(callee) if self.edge_onset(c, callee)]
            if len(failing_callers) < 2 and not self.silent(callee) and not self.traffic_fell(callee):
                return None
        return min((t for t in (own, edge) if t), default=None)

    def traffic_fell(self, service: str) -> bool:
        """Its own request rate fell clearly while its callers' calls failed: the calls do not reach it (a
        partition, a misrouting registry), a fault on its side rather than the caller's."""
        return any(r.service == service and r.rel_pct <= -TRAFFIC_FELL_PCT and r.z <= -RISE_Z
                   for r in self.changes("request_rate"))

    def silent(self, service: str) -> bool:
        """Records nothing of its own: no metrics, no calls of its own, no errors (only its callers see it)."""
        desc = self.overview
        return not (service in self.onsets or self.callees(service)
                    or (desc and any(service in svcs for svcs in desc.metrics.values())))

    def entry(self) -> str | None:
        """The paged service; when it is not in the call graph (a UI in front of the traced system, with metrics
        but no spans), the call graph's busiest entry (a caller nobody calls) stands in for it."""
        svc = self.alert_service
        if not self.edges or any(svc in (e.caller, e.callee) for e in self.edges):
            return svc
        called = {e.callee for e in self.edges}
        roots = [e for e in self.edges if e.caller not in called and e.caller in self.known]
        return max(roots, key=lambda e: e.calls).caller if roots else svc

    def callees(self, service: str | None) -> list[str]:
        return [e.callee for e in self.edges if e.caller == service]

    def callers(self, service: str) -> list[str]:
        return [e.caller for e in self.edges if e.callee == service]

    def candidates(self) -> list[str]:
        """Services worth a closer look: the chain's end first, then the earliest failing others."""
        chain, end = self.chain, self.end
        out = [end] if end else []
        # the callees the chain's end fails to reach: healthy-looking targets of the loudest errors
        out += [r.peer_service for r in self.edge_errors if r.service == end and r.peer_service]
        out += [c for c in self.callees(end) if c in self.known] if end else []
        out += list(reversed(chain))[1:]
        out += [o.service for o in sorted(self.onsets.values(), key=lambda o: o.onset)]
        if self.alert_service:
            out.append(self.alert_service)
        return [s for s in dict.fromkeys(out) if s in self.known][:MAX_CANDIDATES]

    def error_texts(self, service: str) -> tuple[str, list[str]]:
        """New warn/error log templates of a service and the error messages on its failing calls."""
        texts, ids = [], []
        new, eid = self.risen_templates(service)
        if new and eid:
            texts += [f"{r.template} {r.example}" for r in new[:12]]
            ids.append(eid)
        for r in self.edge_errors:
            if service in (r.service, r.peer_service):
                texts.append(f"{r.what} {r.logs}")
                ids.append(r.evidence)
        return " \n".join(texts), ids

    def risen_templates(self, service: str) -> tuple[list[LogTemplate], str | None]:
        """The service's warn/error log templates that are new or at least three times as frequent."""
        rows, eid = self.patterns(service)
        return [r for r in rows if r.new or r.per_min_after > 3 * max(r.per_min_before, 0.05)], eid

    def own_families(self, service: str) -> set[str]:
        """Failure families of the service's own new or risen log templates only: a background line that rides
        along in the same traces as the failure (a pool timeout now and then) is not what changed."""
        return families(" \n".join(f"{r.template} {r.example}" for r in self.risen_templates(service)[0]))

    def families_of(self, service: str) -> set[str]:
        return families(self.error_texts(service)[0])

    def restarting(self, service: str) -> bool:
        mem, _ = self.metric(service, "memory_utilization")
        return bool(mem and mem.shift == "up" and (mem.max or 0) >= 0.85) or "oom" in self.families_of(service)

    def edge_ids(self, caller: str, callee: str) -> list[str]:
        for r in self.edge_errors:
            if r.service == caller and r.peer_service == callee and r.evidence:
                return [r.evidence]
        return self.ids("service_map") if any(e.caller == caller and e.callee == callee for e in self.edges) else []


def _reach(start: str | None, nexts: Callable[[str | None], Iterable[str]]) -> set[str]:
    """Every service reachable from `start` by following `nexts` (callees, or slowed callees), not `start`
    itself unless a cycle leads back to it."""
    seen, todo = set(), [start]
    while todo:
        for c in nexts(todo.pop()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen
