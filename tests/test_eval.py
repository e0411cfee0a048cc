"""Scorers on hand-made reports, the harness (crash, resume), compare, and the CLI end to end."""
import json

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.evidence import EvidenceLedger
from agent.report import Report
from evals.compare import compare, mcnemar_exact
from evals.harness import run_eval, wilson
from evals.scorers import ScoreContext, Truth, score
from evals.simulator import simulate

TRUTH = Truth(service="search", kind="failed_scale_up", acceptable=[("search", "resource_saturation")],
              key_evidence=[{"source": "scaling", "where": {"service": "search", "status": "failed"}}],
              red_herrings=[{"source": "deployments", "where": {"service": "catalog"}}])


def ledger():
    lg = EvidenceLedger()
    lg.add(source="incident", tool="describe_incident", summary="page")
    lg.add(source="scaling", tool="scaling_events", service="search", summary="failed", attributes={"status": "failed"})
    lg.add(source="deployments", tool="list_deployments", service="catalog", summary="deploy")
    return lg


def report(service="search", kind="failed_scale_up", cite=("E1", "E2"), hyps=(), inconclusive=False):
    rc = None if inconclusive else {"service": service, "kind": kind, "summary": "x", "confidence": 0.5}
    chain = [] if inconclusive else [{"claim": "symptom", "evidence": [cite[0]]}, {"claim": "cause", "evidence": list(cite[1:])}]
    return Report.model_validate({"inconclusive": inconclusive, "root_cause": rc, "chain": chain,
                                  "hypotheses": [{"service": s, "kind": k, "status": st, "reason": "r", "evidence": []}
                                                 for s, k, st in hyps]})


def s(r):
    return score(ScoreContext(TRUTH, r, ledger()))


def test_right():
    out = s(report())
    assert out["ac1"] and out["ac3"] and out["service_ok"] and out["kind_ok"] and not out["abstained"]
    assert out["citation_validity"] == 1.0 and out["key_evidence_recall"] == 1.0 and not out["red_herring_blamed"]


def test_wrong_service():
    out = s(report(service="token", kind="failed_scale_up"))
    assert not out["ac1"] and not out["service_ok"] and out["kind_ok"]


def test_right_service_wrong_kind():
    out = s(report(kind="memory_leak"))
    assert not out["ac1"] and out["service_ok"] and not out["kind_ok"]


def test_acceptable_alternative():
    assert s(report(kind="resource_saturation"))["ac1"]


def test_right_only_at_rank_two():
    out = s(report(service="token", kind="cert_expired",
                   hyps=[("token", "cert_expired", "confirmed"), ("catalog", "deploy_regression", "ruled_out"),
                         ("search", "failed_scale_up", "open")]))
    assert not out["ac1"] and out["ac3"]
    ruled = s(report(service="token", kind="cert_expired", hyps=[("search", "failed_scale_up", "ruled_out")]))
    assert not ruled["ac3"]                       # a ruled-out hypothesis is not an answer


def test_abstention():
    out = s(report(inconclusive=True))
    assert out["abstained"] and not out["ac1"] and not out["ac3"] and out["predicted"] is None


def test_invalid_citation_and_red_herring():
    out = s(report(service="catalog", kind="deploy_regression", cite=("E1", "E3", "E9")))
    assert out["citation_validity"] == pytest.approx(2 / 3) and out["key_evidence_recall"] == 0.0
    assert out["red_herring_blamed"] and not out["ac1"]


def test_crash_is_scored_wrong_with_its_error_and_the_run_goes_on(tmp_path):
    cases = [simulate("disk_full", 1, "easy", tmp_path / "a"), simulate("dns_failure", 1, "easy", tmp_path / "b")]

    def make_model(spec):
        if spec == "boom":
            class Boom:
                name = "boom"

                def turn(self, *a, **k):
                    raise RuntimeError("provider exploded")
            return Boom()
        from agent.models import load_model
        return load_model(spec)
    res = run_eval(cases, ["heuristic", "boom"], out_dir=tmp_path / "out", make_model=make_model)
    boom = [r for r in res["rows"] if r["model"] == "boom"]
    assert len(boom) == 2 and all(not r["ac1"] and "provider exploded" in r["error"] for r in boom)
    assert res["summary"]["heuristic"]["ac1"] == 1.0 and res["summary"]["boom"]["errors"] == 2
    assert all((tmp_path / "out" / "transcripts" / "heuristic" / f"{c.name}-t1.jsonl").exists() for c in cases)


def test_resume_hits_the_cache(tmp_path):
    case = simulate("memory_leak", 1, "easy", tmp_path / "a")
    calls = []

    def make_model(spec):
        from agent.models import load_model
        calls.append(spec)
        return load_model(spec)
    first = run_eval([case], ["heuristic"], trials=2, out_dir=tmp_path / "out", make_model=make_model)
    again = run_eval([case], ["heuristic"], trials=2, out_dir=tmp_path / "out", make_model=make_model)
    assert len(calls) == 2 and all(r["cached"] for r in again["rows"])
    assert [r["ac1"] for r in first["rows"]] == [r["ac1"] for r in again["rows"]]


def test_mcnemar_and_compare():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(1, 9) == pytest.approx(0.021484375)       # 2 * (1 + 10) / 1024
    rows = lambda vals: {"rows": [{"case": f"c{i}", "trial": 1, "model": "m", "ac1": v} for i, v in enumerate(vals)]}  # noqa
    c = compare(rows([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), rows([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]))
    assert len(c["fixed"]) == 9 and len(c["broke"]) == 1 and c["p_value"] == pytest.approx(0.021484375)


def test_wilson_interval():
    lo, hi = wilson(85, 100)
    assert 0.76 < lo < 0.78 and 0.90 < hi < 0.92


def test_cli_eval_and_compare_end_to_end(tmp_path):
    cases = tmp_path / "cases"
    simulate("cert_expired", 2, "medium", cases / "a")
    simulate("rate_limited", 2, "medium", cases / "b")
    r = CliRunner().invoke(app, ["eval", str(cases), "--json", str(tmp_path / "r.json"), "--report",
                                 str(tmp_path / "r.md"), "--html", str(tmp_path / "r.html"), "--out-dir",
                                 str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["summary"]["heuristic"]["n"] == 2 and len(res["rows"]) == 2
    assert "| heuristic |" in (tmp_path / "r.md").read_text() and "<table>" in (tmp_path / "r.html").read_text()
    c = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "r.json"), str(tmp_path / "r.json")])
    assert c.exit_code == 0 and "fixed 0, broke 0" in c.output
    bad = CliRunner().invoke(app, ["eval", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "not a directory" in bad.output


def test_cli_simulate(tmp_path):
    r = CliRunner().invoke(app, ["simulate", "--kind", "cert_expired", "--seed", "7", "--out", str(tmp_path / "x")])
    assert r.exit_code == 0 and (tmp_path / "x" / "truth.yaml").exists()
    r = CliRunner().invoke(app, ["simulate", "--kind", "gremlins", "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "unknown kind" in r.output


def test_llm_judge_with_the_scripted_model():
    from agent.models.base import ToolCall, Turn
    from agent.models.scripted import ScriptedModel
    from evals.judge import judge
    model = ScriptedModel([Turn(tool_calls=[ToolCall(id="g0", name="grade", arguments={"score": 7})]),
                           Turn(tool_calls=[ToolCall(id="g1", name="grade",
                                                     arguments={"score": 0.5, "rationale": "right service"})])])
    out = judge(model, TRUTH, report())
    assert out == {"judge_score": 0.5, "judge_rationale": "right service"}
    asked = model.seen[0][0].content
    assert "search / failed_scale_up" in asked and "1. symptom [E1]" in asked
    assert "not valid" in model.seen[1][0].content
    model.assert_complete()
    assert judge(ScriptedModel([]), TRUTH, report(inconclusive=True))["judge_score"] is None
