"""Scorers on hand-made reports, the harness (crash, resume), compare, and the CLI end to end."""
import json

import pytest
from typer.testing import CliRunner

from agent.cli import app
from tools.domain.evidence import EvidenceLedger
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


def test_a_herring_cited_to_rule_it_out_is_not_blame():
    # what an LLM wrote in 3 of 7 runs: the cause, then a trailing "nothing else changed" link citing the herring
    excluded = {"root_cause": {"service": "search", "kind": "failed_scale_up", "summary": "x", "confidence": 0.8},
                "chain": [{"claim": "search was paged", "service": "search", "evidence": ["E1"]},
                          {"claim": "autoscaling of search failed; nothing else changed (catalog's deploy is "
                                    "unrelated)", "service": "search", "evidence": ["E2", "E3"]}],
                "hypotheses": [{"service": "catalog", "kind": "deploy_regression", "status": "ruled_out",
                                "reason": "its errors did not rise", "evidence": ["E3"]}]}
    assert not s(Report.model_validate(excluded))["red_herring_blamed"]
    excluded["hypotheses"][0]["status"] = "confirmed"      # a confirmed hypothesis is blame, whatever it cites
    excluded["hypotheses"][0]["evidence"] = []
    assert s(Report.model_validate(excluded))["red_herring_blamed"]


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


def heuristic_for_any(calls):
    """make_model that records each load and answers with the heuristic, whatever the spec."""
    def make_model(spec):
        from agent.models import load_model
        calls.append(spec)
        return load_model("heuristic")
    return make_model


def test_cache_key_has_budgets_timeout_and_base_url(tmp_path, monkeypatch):
    from agent.config import Budgets
    case = simulate("memory_leak", 1, "easy", tmp_path / "a")
    calls, out = [], tmp_path / "out"
    short = run_eval([case], ["heuristic"], out_dir=out, budgets=Budgets(max_steps=2), use_cache=False,
                     make_model=heuristic_for_any(calls))
    assert short["rows"][0]["steps"] == 2
    full = run_eval([case], ["heuristic"], out_dir=out, make_model=heuristic_for_any(calls))
    assert not full["rows"][0]["cached"] and full["rows"][0]["steps"] > 2 and full["rows"][0]["ac1"]
    timed = run_eval([case], ["heuristic"], out_dir=out, budgets=Budgets(max_wall_s=5),
                     make_model=heuristic_for_any(calls))
    assert not timed["rows"][0]["cached"]
    assert run_eval([case], ["heuristic"], out_dir=out, make_model=heuristic_for_any(calls))["rows"][0]["cached"]
    # The same spec against another server is another model.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    run_eval([case], ["openai:m"], out_dir=out, make_model=heuristic_for_any(calls))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:2/v1")
    other = run_eval([case], ["openai:m"], out_dir=out, make_model=heuristic_for_any(calls))
    assert not other["rows"][0]["cached"]


def test_errored_runs_are_not_cached(tmp_path):
    from agent.models import ModelError
    case = simulate("disk_full", 1, "easy", tmp_path / "a")

    def no_key(spec):
        raise ModelError("OPENAI_API_KEY is not set")
    bad = run_eval([case], ["openai:m"], out_dir=tmp_path / "out", make_model=no_key)
    assert "OPENAI_API_KEY" in bad["rows"][0]["error"]
    calls = []
    good = run_eval([case], ["openai:m"], out_dir=tmp_path / "out", make_model=heuristic_for_any(calls))
    assert calls and not good["rows"][0]["cached"] and not good["rows"][0]["error"] and good["rows"][0]["ac1"]


def test_cli_eval_stops_up_front_on_a_model_that_cannot_load(tmp_path):
    cases = tmp_path / "cases"
    simulate("cert_expired", 2, "easy", cases / "a")
    simulate("rate_limited", 2, "easy", cases / "b")
    for spec, says in (("openai:gpt-5.1", "OPENAI_API_KEY is not set"), ("gremlin:x", "unknown model")):
        r = CliRunner().invoke(app, ["eval", str(cases), "-m", "heuristic", "-m", spec, "--out-dir", str(tmp_path / "o")])
        assert r.exit_code == 2 and says in r.output and "Leaderboard" not in r.output, r.output
        assert "error:" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not list(tmp_path.glob("o/cache/*.json"))  # not even the heuristic's rows: nothing ran
    judge = CliRunner().invoke(app, ["eval", str(cases), "--judge", "anthropic:x", "--out-dir", str(tmp_path / "o")])
    assert judge.exit_code == 2 and "ANTHROPIC_API_KEY" in judge.output


def test_cli_eval_rejects_bad_numbers_and_bad_result_files(tmp_path):
    cases = tmp_path / "cases"
    simulate("cert_expired", 2, "easy", cases / "a")
    for args in (["--trials", "0"], ["-j", "0"], ["--concurrency", "-1"], ["--max-steps", "0"], ["--timeout", "0"]):
        r = CliRunner().invoke(app, ["eval", str(cases), "--out-dir", str(tmp_path / "o"), *args])
        assert r.exit_code == 2 and args[0] in r.output and "Traceback" not in r.output, (args, r.output)
    good = tmp_path / "r.json"
    assert CliRunner().invoke(app, ["eval", str(cases), "--json", str(good), "--out-dir", str(tmp_path / "o")]).exit_code == 0
    for name, body in (("empty.json", "{}"), ("list.json", "[1]"), ("rowless.json", '{"rows": [{"case": "a"}]}')):
        (tmp_path / name).write_text(body)
        c = CliRunner().invoke(app, ["eval", "compare", str(good), str(tmp_path / name)])
        assert c.exit_code == 2 and name in c.output and "not eval results" in c.output, c.output


def test_a_broken_truth_stops_the_eval_naming_the_file(tmp_path):
    cases = tmp_path / "cases"
    simulate("cert_expired", 2, "easy", cases / "a")
    simulate("rate_limited", 2, "easy", cases / "b")
    (cases / "b" / "truth.yaml").write_text("root_cause: [\n")
    calls = []
    with pytest.raises(ValueError, match=r"b/truth\.yaml: not a valid truth file"):
        run_eval([cases / "a", cases / "b"], ["heuristic"], out_dir=tmp_path / "o", make_model=heuristic_for_any(calls))
    assert calls == []                                # nothing ran (or was paid for) before the check
    for body in ("root_cause: [\n", "just a string\n", "root_cause: {service: x}\n"):
        (cases / "b" / "truth.yaml").write_text(body)
        r = CliRunner().invoke(app, ["eval", str(cases), "--out-dir", str(tmp_path / "o")])
        assert r.exit_code == 2 and str(cases / "b" / "truth.yaml") in r.output.replace("\n", ""), r.output
        assert "Leaderboard" not in r.output
