"""The simulator: every kind, determinism, propagation, and the committed corpus regenerating bit for bit."""
import gzip
import hashlib
import json
from collections import Counter
from datetime import datetime

import pytest
import yaml

from evals.simulator import FAULTS, simulate, simulated_kinds
from evals.world import START
from tools.backends.validate import validate_snapshot

CORPUS = __import__("pathlib").Path(__file__).resolve().parent.parent / "evals" / "incidents"


def rows(d, name):
    p = d / f"{name}.jsonl.gz"
    return [json.loads(l) for l in gzip.open(p)] if p.exists() else []


@pytest.mark.parametrize("kind", simulated_kinds())
def test_every_kind_writes_a_valid_snapshot_with_truth(tmp_path, kind):
    level = "medium" if "medium" in FAULTS[kind].levels else "harder"
    d = simulate(kind, 3, level, tmp_path / kind)
    rep = validate_snapshot(d)
    assert rep.usable and not rep.problems, [str(p) for p in rep.problems]
    truth = yaml.safe_load((d / "truth.yaml").read_text())
    assert truth["root_cause"]["kind"] == kind and truth["difficulty"] == level
    assert truth["key_evidence"] and truth["red_herrings"]
    inc = yaml.safe_load((d / "incident.yaml").read_text())
    assert "truth" not in json.dumps(inc) and inc["alert"]["service"]


def test_the_new_kinds_are_simulated_at_the_harder_level_only(tmp_path):
    assert FAULTS["network_delay"].levels == FAULTS["application_error"].levels == ("harder",)
    with pytest.raises(ValueError, match="network_delay is simulated at difficulty harder only"):
        simulate("network_delay", 1, "easy", tmp_path / "x")


def test_same_seed_same_bytes_other_seed_other_incident(tmp_path):
    a = simulate("dns_failure", 4, "hard", tmp_path / "a")
    b = simulate("dns_failure", 4, "hard", tmp_path / "b")
    c = simulate("dns_failure", 5, "hard", tmp_path / "c")
    digest = lambda d: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}  # noqa
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_faults_propagate_up_the_call_graph_after_the_root(tmp_path):
    d = simulate("deploy_regression", 2, "easy", tmp_path / "x")
    root = yaml.safe_load((d / "truth.yaml").read_text())["root_cause"]["service"]
    first = {}
    for r in rows(d, "logs"):
        if r["level"] == "error" and "404" not in r["message"] and "retrying" not in r["message"] \
                and "cache miss" not in r["message"] and "slow request" not in r["message"]:
            first.setdefault(r["service"], r["time"])
    assert first[root] == min(first.values())
    assert len(first) >= 2                                  # callers failed too, later


def test_dependency_outside_the_system_has_no_telemetry_of_its_own(tmp_path):
    d = simulate("dependency_outage", 1, "medium", tmp_path / "x")
    ext = yaml.safe_load((d / "truth.yaml").read_text())["root_cause"]["service"]
    assert all(r["service"] != ext for r in rows(d, "logs") + rows(d, "metrics") + rows(d, "spans"))
    assert any(r.get("peer_service") == ext and r["status"] == "error" for r in rows(d, "spans"))


def test_hard_cases_miss_a_source(tmp_path):
    d = simulate("memory_leak", 3, "hard", tmp_path / "x")
    present = {p.name.split(".")[0] for p in d.iterdir()}
    assert len(present & {"spans", "deployments", "registry"}) == 2


def test_committed_corpus_covers_every_kind_and_regenerates(tmp_path):
    cases = sorted(p for p in CORPUS.iterdir() if (p / "truth.yaml").exists())
    truths = [yaml.safe_load((p / "truth.yaml").read_text()) for p in cases]
    count = Counter((t["root_cause"]["kind"], t["difficulty"] == "harder") for t in truths)
    assert len(cases) >= 98
    assert all(count[(k, True)] >= 2 and count[(k, False)] >= (5 if "easy" in FAULTS[k].levels else 0)
               for k in simulated_kinds()), count
    for name in ("cert_expired-02-medium", "rate_limited-03-hard", "network_delay-02-harder"):
        kind, seed, diff = name.rsplit("-", 2)
        fresh = simulate(kind, int(seed), diff, tmp_path / name)
        for f in sorted((CORPUS / name).iterdir()):
            assert (fresh / f.name).read_bytes() == f.read_bytes(), f"{name}/{f.name} differs from the simulator"


# ---- the harder level: what real incidents add, checked on the committed harder cases ---------------------------

def harder_cases():
    return [(p, yaml.safe_load((p / "truth.yaml").read_text())) for p in sorted(CORPUS.iterdir())
            if p.name.endswith("-harder")]


def minute(t: str) -> float:
    return (datetime.fromisoformat(t.replace("Z", "+00:00")) - START).total_seconds() / 60


def onset_of(truth) -> float:
    return minute(truth["root_cause"]["onset"])


def staged(key: str):
    """The harder cases that staged `key`, with what they staged."""
    return [(d, t, t["staged"][key]) for d, t in harder_cases() if t["staged"][key]]


def test_harder_root_causes_sit_hops_below_the_page_on_a_path_of_calls():
    hops = []
    for d, t in harder_cases():
        path = t["staged"]["path"]                        # the paged service … the root cause
        inc = yaml.safe_load((d / "incident.yaml").read_text())
        assert inc["alert"]["service"] == path[0] and path[-1] == t["root_cause"]["service"], d.name
        calls = {(r["service"], r.get("peer_service")) for r in rows(d, "spans") if r["kind"] == "client"}
        assert all((a, b) in calls for a, b in zip(path, path[1:])), d.name
        hops.append(len(path) - 1)
    assert len(hops) >= 32 and sum(h >= 2 for h in hops) >= 0.8 * len(hops), hops


def test_harder_spans_logs_and_error_rate_agree_on_how_much_fails():
    """One simulation behind every record: on the failing path, the share of failed server spans is the error-rate
    metric's, and error logs rise with it."""
    checked = 0
    for d, t in harder_cases():
        after = onset_of(t) + 10
        spans, errs, rate, logs = Counter(), Counter(), {}, Counter()
        for r in rows(d, "spans"):
            if r["kind"] == "server" and minute(r["time"]) >= after:
                spans[r["service"]] += 1
                errs[r["service"]] += r["status"] == "error"
        for r in rows(d, "metrics"):
            if r["name"] == "error_rate" and minute(r["time"]) >= after:
                rate.setdefault(r["service"], []).append(r["value"])
        for r in rows(d, "logs"):       # error lines per minute, before the fault and after
            when = minute(r["time"])
            logs[(r["service"], when >= after)] += (r["level"] == "error") / (70 - after if when >= after else after)
        for s in t["staged"]["path"]:
            if spans[s] >= 60 and s in rate:
                metric = sum(rate[s]) / len(rate[s])
                assert abs(errs[s] / spans[s] - metric) <= 0.05 + 0.3 * metric, (d.name, s, errs[s] / spans[s], metric)
                assert metric < 0.05 or logs[(s, True)] > 2 * logs[(s, False)], (d.name, s, metric)
                checked += 1
    assert checked >= 60


def test_harder_concurrent_incidents_are_off_the_failing_path_with_errors_of_their_own():
    cases = staged("concurrent")
    assert len(cases) >= 10
    for d, t, other in cases:
        x, start = other["service"], minute(other["onset"])
        assert x not in t["staged"]["path"] and {"source": "deployments", "where": {"service": x}} in t["red_herrings"]
        deploys = [r for r in rows(d, "deployments") if r["service"] == x and r["kind"] == "deploy"]
        assert deploys and all(minute(r["time"]) <= start for r in deploys), d.name
        own = [r for r in rows(d, "spans") if r["service"] == x and r["kind"] == "server" and r["status"] == "error"
               and r.get("attributes", {}).get("error.type") == "500" and minute(r["time"]) >= start]
        assert own, d.name


def test_harder_herrings_are_harmless_changes_on_the_failing_path_just_before_the_fault():
    cases = staged("herring")
    assert len(cases) >= 10
    for d, t, h in cases:
        assert h in t["staged"]["path"][:-1]
        assert {"source": "deployments", "where": {"service": h}} in t["red_herrings"]
        times = [minute(r["time"]) for r in rows(d, "deployments") if r["service"] == h]
        assert any(0 < onset_of(t) - m <= 8 for m in times), d.name


def test_harder_root_cause_telemetry_goes_missing_but_not_its_key_evidence():
    seen = 0
    for d, t in harder_cases():
        gone = t["staged"]["root_telemetry"].removeprefix("missing: ").split(", ")
        if not t["staged"]["root_telemetry"].startswith("missing"):
            continue
        root = t["root_cause"]["service"]
        for source in ("logs", "metrics", "spans"):
            mine = any(r.get("service") == root for r in rows(d, source))
            assert mine == (source not in gone), (d.name, source)
        assert all(k["source"] not in gone or k["where"].get("service") != root for k in t["key_evidence"])
        seen += 1
    assert seen >= 10


def test_harder_callers_retry_a_failing_callee():
    """Retry amplification: a failed call is tried again under the same parent, so the callee gets more calls."""
    retried = 0
    for d, t in harder_cases():
        root = t["root_cause"]["service"]
        tries = Counter((r["trace_id"], r.get("parent_span_id"), r["service"]) for r in rows(d, "spans")
                        if r["kind"] == "client" and r.get("peer_service") == root)
        retried += any(n > 1 for n in tries.values())
    assert retried >= 20


def test_harder_network_delay_shows_on_the_wire_not_in_the_callee():
    for d, t in harder_cases():
        if t["root_cause"]["kind"] != "network_delay" or "spans" in t["staged"]["root_telemetry"]:
            continue                # (its own spans missing: no server span to take from the client's)
        root, onset = t["root_cause"]["service"], onset_of(t)
        spans = rows(d, "spans")
        server = {(r["trace_id"], r.get("parent_span_id")): r for r in spans if r["kind"] == "server"}
        wire = {True: [], False: []}
        for r in spans:
            callee = server.get((r["trace_id"], r["span_id"]))
            if r["kind"] == "client" and r["status"] == "ok" and callee and root in (r["service"], r["peer_service"]):
                wire[minute(r["time"]) >= onset + 12].append(r["duration_ms"] - callee["duration_ms"])
        before, after = sorted(wire[False]), sorted(wire[True])
        assert after[len(after) // 2] - before[len(before) // 2] >= 80, d.name
        errors = [r["value"] for r in rows(d, "metrics") if r["service"] in t["staged"]["path"][:-1]
                  and r["name"] == "error_rate" and minute(r["time"]) >= onset]
        assert sum(errors) / len(errors) < 0.08, d.name      # no errors, or a few timeouts


def test_harder_cpu_hog_shows_as_cpu_and_latency_only():
    hogs = [(d, t) for d, t in harder_cases() if "CPU hog" in t["root_cause"]["summary"]]
    assert hogs
    for d, t in hogs:
        root, onset = t["root_cause"]["service"], onset_of(t)
        series = {}
        for r in rows(d, "metrics"):
            if r["service"] == root and minute(r["time"]) >= onset + 15:
                series.setdefault(r["name"], []).append(r["value"])
        assert min(series["cpu_utilization"]) >= 0.8 and max(series["error_rate"]) < 0.05
        assert "p99 latency" in yaml.safe_load((d / "incident.yaml").read_text())["alert"]["summary"]
