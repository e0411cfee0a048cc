"""The walk from the page to the first failing system, on typed tool results (issue 12, items 5 and 6):
which callee a failing caller's errors come from when several callees fail, and when a callee that only its
callers see failing is where the fault is."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from agent.heuristic.facts import Facts
from agent.models.base import Message
from tools.analysis import change_point, compute_onsets
from tools.domain.incident import Incident
from tools.results import Edge, EdgeRate, ErrorOnset, MetricChange, Overview

T0 = datetime(2026, 3, 6, 15, 0, tzinfo=timezone.utc)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def facts(edges: list[tuple[str, str]], onsets: dict[str, int], edge_fail: dict[tuple[str, str], int],
          metrics: dict[str, set[str]] | None = None, fell: tuple[str, ...] = ()) -> Facts:
    inc = Incident.model_validate({"format": 1, "id": "t", "title": "t",
                                   "window": {"start": at(0).isoformat(), "end": at(60).isoformat()},
                                   "alert": {"at": at(48).isoformat(), "service": edges[0][0]}})
    services = sorted({s for e in edges for s in e})
    f = Facts()
    put = lambda name, data, args=None: f.add(name, args or {}, Message(role="tool", data=data))  # noqa: E731
    put("describe_incident", Overview(inc, [], services, metrics if metrics is not None
                                      else {"cpu_utilization": set(services)}, {}))
    put("error_onsets", [ErrorOnset(s, at(m), "spans", 0, 10, 100) for s, m in onsets.items()])
    put("service_map", [Edge(a, b, 100, 10) for a, b in edges])
    put("edge_rates", [EdgeRate(a, b, 10, 10, None, None, None, 0, 5, at(edge_fail[(a, b)]) if (a, b) in edge_fail
                                else None) for a, b in edges])
    put("metric_changes", [MetricChange(s, "request_rate", "step", "down", at(41), 30, 5, 30, -10, -80.0)
                           for s in fell], {"name": "request_rate"})
    return f


def test_the_callee_failing_closest_before_its_caller_is_the_path_not_the_earliest():
    # images broke at 15:30 (a concurrent bad deploy recommendations falls back from); billing at 15:41, when
    # recommendations' own answers began to fail.
    f = facts([("edge", "recommendations"), ("recommendations", "images"), ("recommendations", "billing")],
              {"edge": 42, "recommendations": 41, "images": 30, "billing": 41},
              {("edge", "recommendations"): 42, ("recommendations", "images"): 30, ("recommendations", "billing"): 41})
    assert f.walk_chain() == ["edge", "recommendations", "billing"]


def test_a_callee_without_telemetry_of_its_own_is_followed_by_its_callers_view():
    f = facts([("web", "api"), ("api", "profile"), ("api", "wishlist")], {"web": 42, "api": 42, "wishlist": 34},
              {("web", "api"): 42, ("api", "profile"): 41, ("api", "wishlist"): 34},
              metrics={"cpu_utilization": {"web", "api", "wishlist"}})
    assert f.walk_chain() == ["web", "api", "profile"]
    assert f.failing_at("profile") == at(41)


def test_one_caller_failing_to_reach_a_healthy_callee_is_the_callers_problem():
    # graphql saturated: its calls to reviews time out, reviews records nothing wrong and serves others.
    f = facts([("graphql", "reviews"), ("search", "reviews")], {"graphql": 38},
              {("graphql", "reviews"): 38})
    assert f.walk_chain() == ["graphql"]
    # ... unless every caller fails to reach it, or its own traffic fell (unreachable, misrouted)
    both = facts([("graphql", "reviews"), ("search", "reviews")], {"graphql": 38},
                 {("graphql", "reviews"): 38, ("search", "reviews"): 38})
    assert both.walk_chain() == ["graphql", "reviews"]
    fell = facts([("graphql", "reviews"), ("search", "reviews")], {"graphql": 38},
                 {("graphql", "reviews"): 38}, fell=("reviews",))
    assert fell.walk_chain() == ["graphql", "reviews"]


def test_one_error_in_an_error_free_baseline_is_not_the_start_of_a_ramp():
    errors = [0.0] * 22 + [1.0] + [0.0] * 19 + [40.0] * 20
    cp = change_point([(at(i), v) for i, v in enumerate(errors)], at(23), floor_abs=0.6)
    assert cp.at == at(42)


class _Spans:
    """A telemetry stand-in with only spans: `svc` fails its calls to a callee from minute 30 while every one of
    its own answers succeeds."""
    def __init__(self):
        from tools.domain.incident import Incident
        self.incident = Incident.model_validate({"format": 1, "id": "t", "title": "t",
                                                 "window": {"start": at(0).isoformat(), "end": at(60).isoformat()},
                                                 "alert": {"at": at(48).isoformat(), "service": "svc"}})

    def coverage(self, source):
        from tools.backends.base import Coverage
        return Coverage(present=source == "spans")

    def count(self, source, where, by=(), bucket_s=None, limit=0):
        assert by == ("service", "kind")
        return [row for m in range(60) for row in (
            {"service": "svc", "kind": "server", "bucket": at(m), "n": 10, "errors": 0},
            {"service": "svc", "kind": "client", "bucket": at(m), "n": 10, "errors": 0 if m < 30 else 10})]


def test_failed_calls_a_service_copes_with_are_not_its_onset():
    assert compute_onsets(_Spans()) == []


def test_a_callee_seen_failing_only_by_its_callers_is_dated_against_the_edge_into_its_caller():
    # An outside API failing on a slow ramp: inventory's own error rate rises at 15:43, but the failed calls show
    # on the edges only from 15:51, into inventory as out of it; the API records nothing of its own.
    f = facts([("gateway", "inventory"), ("inventory", "email-api")], {"gateway": 45, "inventory": 43},
              {("gateway", "inventory"): 51, ("inventory", "email-api"): 51},
              metrics={"cpu_utilization": {"gateway", "inventory"}})
    assert f.walk_chain() == ["gateway", "inventory", "email-api"]
    # ... but a callee with errors of its own that began long after its caller's is a consequence, not a cause
    own = facts([("gateway", "inventory"), ("inventory", "email-api")],
                {"gateway": 45, "inventory": 43, "email-api": 51},
                {("gateway", "inventory"): 51, ("inventory", "email-api"): 51})
    assert own.walk_chain() == ["gateway", "inventory"]


def test_of_callees_failing_within_minutes_the_path_to_a_dependency_no_caller_reaches_is_followed():
    # An outside fraud API goes down; orders and billing both fail to reach it, and their retries overload
    # ledger, which fails with its own errors. Every onset is within two minutes: the minute points cannot
    # order them, so the walk follows the path to the API that no caller reaches and that records nothing.
    edges = [("web", "pricing"), ("pricing", "orders"), ("pricing", "ledger"), ("orders", "billing"),
             ("orders", "fraud-api"), ("billing", "fraud-api"), ("billing", "ledger"), ("tax", "ledger")]
    onsets = {"web": 43, "pricing": 43, "orders": 42, "billing": 42, "ledger": 44}
    edge_fail = {("web", "pricing"): 44, ("pricing", "orders"): 44, ("pricing", "ledger"): 44,
                 ("orders", "billing"): 44, ("orders", "fraud-api"): 44, ("billing", "fraud-api"): 45,
                 ("billing", "ledger"): 44, ("tax", "ledger"): 44}
    metrics = {"cpu_utilization": {"web", "pricing", "orders", "billing", "ledger", "tax"}}
    f = facts(edges, onsets, edge_fail, metrics=metrics)
    assert f.walk_chain() == ["web", "pricing", "orders", "fraud-api"]
    # ... but a callee that failed well before the other candidate's onset (coped with) is not preferred for it,
    early = facts(edges, {**onsets, "orders": 30}, {**edge_fail, ("orders", "fraud-api"): 30,
                                                    ("billing", "fraud-api"): 30}, metrics=metrics)
    assert early.walk_chain() == ["web", "pricing", "ledger"]
    # ... nor is a dependency that only one of its callers fails to reach (that caller's problem).
    one = facts(edges, onsets, {k: v for k, v in edge_fail.items() if k != ("billing", "fraud-api")}, metrics=metrics)
    assert one.walk_chain() == ["web", "pricing", "ledger"]


def test_upstream_of_a_callee_every_caller_fails_to_reach_a_change_is_explained_from_below():
    # cart answers both its callers with bodies they cannot use; edge's config change (a log level) cannot
    # explain graphql's failures, so edge is placed like any service upstream of one failing on its own side.
    from agent.heuristic.conclude import place
    edges = [("web", "edge"), ("edge", "cart"), ("graphql", "cart")]
    f = facts(edges, {"web": 47, "edge": 47, "graphql": 46}, {("web", "edge"): 47, ("edge", "cart"): 47,
                                                              ("graphql", "cart"): 46})
    f.chain = f.walk_chain()
    assert f.chain == ["web", "edge", "cart"]
    assert place(f, "edge") == place(f, "graphql") == 0.6 < place(f, "cart")
