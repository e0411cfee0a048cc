"""Issue 13 item 11: infrastructure changes (DNS, network policy / firewall / security group, node drains,
autoscaling policy) as a documented, optional snapshot source, read by the snapshot backend, shown by
infra_changes, checked by `snapshot validate`, and staged by the simulator for dns_failure and
network_partition so the heuristic can cite them. Snapshots without the file stay valid."""
import gzip
import json

from factory import build, ts, variant, write_jsonl
from tools import TOOLS, ToolContext
from tools.backends.snapshot import SnapshotTelemetry
from tools.backends.validate import validate_snapshot
from tools.domain.evidence import EvidenceLedger

CHANGES = [
    {"time": ts(70), "kind": "dns", "service": "search", "target": "dnsConfig of search", "actor": "platform-ci",
     "status": "succeeded", "changes": {"dnsConfig.nameservers": {"from": ["10.96.0.10"], "to": ["10.96.0.53"]}}},
    {"time": ts(30), "kind": "node_drain", "zone": "z-a", "target": "node ip-10-0-1-7", "description": "drained"},
    {"time": ts(50), "kind": "Autoscaling_Policy", "service": "index", "target": "hpa/index",
     "changes": {"maxReplicas": {"from": 4, "to": 2}}},
]


def _ctx(d):
    return ToolContext(SnapshotTelemetry(d), EvidenceLedger())


def test_infra_changes_are_listed_after_the_deployments_oldest_first_with_their_diffs_and_ids(tmp_path):
    d = build(tmp_path / "inc")
    write_jsonl(d / "infra_changes.jsonl", CHANGES)
    c = _ctx(d)
    res = TOOLS["list_deployments"](c, {})
    assert [x.service for x in res.data] == ["index"]                  # the deployments, as before
    assert [(r.kind, r.service) for r in res.data.infra] == [("node_drain", None), ("autoscaling_policy", "index"),
                                                             ("dns", "search")]
    assert res.text.index("deployments for") < res.text.index("3 infrastructure changes")
    dns = c.ledger.get(res.data.infra[-1].evidence)
    assert dns.source == "infra_changes" and dns.matches("infra_changes", {"service": "search", "kind": "dns"})
    assert "10.96.0.53" in dns.summary and "dns change dnsConfig of search (search)" in dns.summary
    assert set(res.evidence_ids) >= {r.evidence for r in res.data.infra}
    # a service's changes include those that apply to no one service (a node)
    mine = TOOLS["list_deployments"](c, {"service": "search"})
    assert list(mine.data) == [] and [r.kind for r in mine.data.infra] == ["node_drain", "dns"]
    assert mine.status.value == "ok"
    assert c.telemetry.services(c.incident.window) == {"api", "search", "token", "index"}   # not its own telemetry


def test_a_snapshot_without_the_file_is_still_valid_and_says_nothing_of_it(tmp_path):
    d = build(tmp_path / "v1")
    rep = validate_snapshot(d)
    assert rep.usable and not [p for p in rep.problems if "infra_changes" in p.file]
    res = TOOLS["list_deployments"](_ctx(d), {})
    assert "infrastructure" not in res.text and not hasattr(res.data, "infra")
    empty = build(tmp_path / "empty")
    write_jsonl(empty / "infra_changes.jsonl", [])
    (empty / "deployments.jsonl").unlink()
    c = _ctx(empty)
    res = TOOLS["list_deployments"](c, {"service": "search"})
    assert res.status.value == "empty" and "NO DATA" in res.text and "no infrastructure changes" in res.text
    assert [c.ledger.get(e).source for e in res.evidence_ids] == ["infra_changes"]    # "nothing changed" is citable


def test_validate_checks_infra_changes(tmp_path):
    d = build(tmp_path / "bad")
    write_jsonl(d / "infra_changes.jsonl", [*CHANGES, {"time": ts(5), "kind": "teleport"}, {"kind": "dns"}])
    rep = validate_snapshot(d)
    msgs = [str(p) for p in rep.problems if "infra_changes" in p.file]
    assert any(":4:" in m and "unknown kind 'teleport'" in m for m in msgs)
    assert any(":5:" in m and "time" in m for m in msgs)
    assert rep.records["infra_changes"] == 4 and rep.usable


def test_the_heuristic_cites_the_dns_change_behind_failing_lookups(tmp_path):
    from agent.loop import Investigation
    from agent.models.heuristic import HeuristicModel
    d = variant(tmp_path / "dns", "dns_failure")
    write_jsonl(d / "infra_changes.jsonl", [CHANGES[0]])
    result = Investigation(HeuristicModel(), _ctx(d)).run()
    rc = result.report.root_cause
    assert (rc.service, rc.kind) == ("search", "dns_failure")
    cited = {e for link in result.report.chain for e in link.evidence}
    assert any(result.ledger.get(e).source == "infra_changes" for e in cited)


def test_the_simulator_stages_the_change_behind_dns_and_partition_faults(tmp_path):
    from evals.simulator import simulate
    for kind in ("dns_failure", "network_partition"):
        out = simulate(kind, 1, "easy", tmp_path / kind)
        rows = [json.loads(l) for l in gzip.open(out / "infra_changes.jsonl.gz")]
        truth = (out / "truth.yaml").read_text()
        root = truth.split("service: ", 1)[1].split()[0]
        want = {"dns_failure": "dns", "network_partition": "security_group"}[kind]
        assert any(r["kind"] == want and r["service"] == root for r in rows)
        assert validate_snapshot(out).usable
    other = simulate("cert_expired", 1, "easy", tmp_path / "cert")
    rows = [json.loads(l) for l in gzip.open(other / "infra_changes.jsonl.gz")]
    assert len(rows) == 1 and rows[0]["kind"] in ("autoscaling_policy", "node_drain")    # routine, gives nothing away
