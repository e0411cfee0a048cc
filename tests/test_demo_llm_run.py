"""Issue 13's "done when": an LLM-style investigation of the demo (benchmarks/tokens.py's script) puts the new
evidence to use, per-edge rates, an infrastructure change and an empty result's id, and the loop accepts its
report first time. Played by the ScriptedModel through the loop, and through the OpenAI provider against the
loopback stand-in server (no network)."""
from pathlib import Path

from agent.session import open_investigation
from agent.transcript import read_transcript
from benchmarks.tokens import investigation, measure
from conftest import DEMO


def check_accepted_with_new_evidence(path: Path) -> None:
    lines = read_transcript(path)
    result = lines[-1]
    assert result["type"] == "result" and result["stop_reason"] == "submitted"
    submits = [c for m in lines if m["type"] == "message" for c in m["message"]["tool_calls"]
               if c["name"] == "submit_report"]
    assert len(submits) == 1                                     # accepted first time, not after a rejection
    report, evidence = result["report"], {e["id"]: e for e in result["evidence"]}
    cited = [e for part in ("chain", "hypotheses") for x in report[part] for e in x["evidence"]]
    assert cited and all(e in evidence for e in cited)           # every citation resolves in the ledger
    assert report["chain"][-1]["service"] == report["root_cause"]["service"] == "search"
    assert report["root_cause"]["kind"] == "failed_scale_up"
    chain_cites = {e for w in report["chain"] for e in w["evidence"]}
    assert any(evidence[e]["tool"] == "edge_rates" for e in chain_cites)           # per-edge rates in the chain
    ruled_out = [h for h in report["hypotheses"] if h["status"] == "ruled_out"]
    assert all(h["evidence"] for h in ruled_out)
    excluding = [evidence[e] for h in ruled_out for e in h["evidence"]]
    assert any(e["source"] == "infra_changes" for e in excluding)                  # an infrastructure change
    assert any(e["attributes"].get("result") == "empty" for e in excluding)        # an empty result's id


def test_the_scripted_llm_run_of_the_demo_cites_edge_rates_an_infra_change_and_an_empty_result(tmp_path):
    model = investigation()
    with open_investigation(DEMO, model, transcript=tmp_path / "run.jsonl") as inv:
        inv.run()
    model.assert_complete()
    check_accepted_with_new_evidence(tmp_path / "run.jsonl")


def test_the_same_run_through_the_openai_provider_is_accepted_alike(tmp_path):
    out = measure(transcript=tmp_path / "run.jsonl")
    assert out["turns"] == 4
    check_accepted_with_new_evidence(tmp_path / "run.jsonl")
