"""The built-in investigator that needs no LLM: a readable rule set behind the same Model protocol.

It drives the same tools through the same loop (so its evidence, citations, transcripts and eval scores mean
the same as an LLM's), in four turns:
  1. orient: the page, error onsets, the call graph;
  2. walk the dependency chain from the paged service to the first failing system, and gather every change in
     the environment (deploys, scaling, certificates, registry, infrastructure) and the failing edges;
  3. look inside the candidates: resource metrics, new log templates, zones;
  4. one rule per root-cause kind proposes hypotheses (rules.py); each is scored by strength × timing × place
     in the chain, and the best is submitted with the others ranked and ruled out, or "inconclusive" when
     nothing stands out (conclude.py).
facts.py gathers what the tools returned (typed results, never their text)."""
from __future__ import annotations

import difflib
import itertools
from typing import Any, Generator

from agent.heuristic.conclude import CONCLUDE_AT, conclude, inconclusive_args, ranked
from agent.heuristic.facts import Facts
from agent.heuristic.mesh import edge_metric_names
from agent.heuristic.own_errors import split_at
from agent.models.base import Message, ToolCall

RESOURCE_METRICS = ("cpu_utilization", "memory_utilization", "disk_utilization", "db_connections_in_use",
                    "instance_count", "request_rate", "latency_p99_ms")
Calls = list[tuple[str, dict]]
_ids = itertools.count(1)


def investigate() -> Generator[list[ToolCall], list[Message], dict[str, Any]]:
    """Yields batches of tool calls, receives their replies, returns the report's arguments."""
    f = Facts()
    yield from _ask(f, [("describe_incident", {}), ("error_onsets", {}), ("service_map", {})])
    desc = f.overview
    if desc is None:
        return inconclusive_args("the incident could not be described")
    if (unseen := _unseen_page(f)):
        return unseen
    present = [s for s in ("logs", "spans", "metrics") if desc.present(s)]
    if present and all(s in desc.ends_early for s in present):
        return inconclusive_args("the telemetry ends before the page (" + ", ".join(
            f"{s} at {t:%H:%M}" for s, t in desc.ends_early.items()) + "): the failure itself is not in the data",
            checks=["capture the telemetry up to and past the page, then investigate again"])
    yield from _ask(f, [("list_deployments", {}), ("scaling_events", {}), ("certificates", {}),
                        ("registry_changes", {}), ("trace_errors", {}), ("latency_by_service", {}),
                        ("call_changes", {}), ("edge_rates", {"bucket_minutes": 1})]
                    + [("metric_changes", {"name": m}) for m in ("cpu_utilization", "request_rate")
                       if m in desc.metrics]
                    + [("metric_changes", {"name": m, "limit": 60}) for m in edge_metric_names(desc.metrics)])
    f.chain = f.walk_chain()
    f.t0 = f.symptom_onset()
    cands = f.candidates()
    # Only series that exist: a metric known for no particular service (some backends) may be anyone's.
    yield from _ask(f, [("query_metric", {"name": m, "service": s}) for s in cands for m in RESOURCE_METRICS
                        if m in desc.metrics and (not desc.metrics[m] or s in desc.metrics[m])]
                    + [("log_patterns", {"service": s, "level": "warn", "split_at": _own_onset(f, s, True)})
                       for s in cands]
                    + [("zone_breakdown", {"service": s, "split_at": _own_onset(f, s, False)}) for s in cands[:3]])
    if desc.present("logs") and not any(h.score >= CONCLUDE_AT for h in ranked(f)):
        # Nothing stands out along the walk: every service's own new errors, for a lead (own_errors.py).
        split = split_at(f).isoformat()
        # And every line of theirs: a steady line that stops is what a caught exception leaves (stopped_lines.py).
        # Lines up to the page only: a fault's capture window may run on into the recovery, where they resume.
        # A new line is new whenever it comes: over the whole window (new_lines).
        page = f.alert_at.isoformat()
        yield from _ask(f, [("log_patterns", {"service": s, "split_at": split, **more}) for s in sorted(f.known)
                            for more in ({"level": "error"}, {"end": page}, {})])
    return conclude(f)


def _own_onset(f: Facts, service: str, or_earliest: bool) -> str:
    """The heuristic's split for one candidate's logs and zones: its own error onset (else the earliest, for
    logs), else the page; the tools' shared default (ToolContext.split) is earlier and the same for everyone."""
    onsets = f.onsets
    at = (onsets[service].onset if service in onsets else
          min(o.onset for o in onsets.values()) if or_earliest and onsets else f.alert_at)
    return at.isoformat()


def _unseen_page(f: Facts) -> dict[str, Any] | None:
    """A paged service the telemetry never mentions (a typo, another system, an untraced UI): whatever is found
    here is not linked to the page, so say so and name the services that are here instead of guessing."""
    svc = f.alert_service
    if not svc or svc in f.known or any(svc in (e.caller, e.callee) for e in f.edges) or not f.known:
        return None
    close = difflib.get_close_matches(svc, sorted(f.known), n=3, cutoff=0.6)
    rest = [s for s in sorted(f.known) if s not in close]
    entry = f.entry()
    checks = [f"the paged service {svc!r} has no telemetry in this snapshot; services here: "
              + ", ".join(close + rest)[:400]]
    if close:
        checks.append(f"did you mean {close[0]!r}? investigate again with --service {close[0]}")
    elif entry and entry != svc:
        checks.append(f"if {svc} sits in front of the traced system, investigate again with --service {entry} "
                      f"(the call graph's entry)")
    return inconclusive_args(f"the page names {svc}, which this telemetry never mentions", checks=checks)


def _ask(f: Facts, calls: Calls) -> Generator[list[ToolCall], list[Message], None]:
    tc = [ToolCall(id=call_id(), name=n, arguments=a) for n, a in calls]
    replies = yield tc
    for call, msg in zip(tc, replies):
        f.add(call.name, call.arguments or {}, msg)


def call_id() -> str:
    return f"hx{next(_ids)}"
