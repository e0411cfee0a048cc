"""One taxonomy: every consumer of the root-cause kinds is built from tools/domain/taxonomy.py's records."""
import re
import typing
from pathlib import Path

import pytest
import yaml

from agent.heuristic.conclude import NEXT_CHECKS, REMEDIATION
from agent.report import KINDS, Kind, Report, RootCause
from evals.simulator import FAULTS, simulate, simulated_kinds
from factory import VARIANTS
from prompts import render
from tools.domain.taxonomy import (BY_NAME, CATEGORIES, NAMES, TAXONOMY, RootCauseKind, _check, markdown_table,
                                   with_table)

ROOT = Path(__file__).resolve().parent.parent


def test_the_report_type_is_the_records():
    assert typing.get_args(Kind) == NAMES
    assert KINDS == {k.name: k.category for k in TAXONOMY}
    enum = Report.model_json_schema()["$defs"]["RootCause"]["properties"]["kind"]["enum"]
    assert enum == list(NAMES)
    rc = RootCause(service="checkout", kind="network_delay", summary="calls to payments slowed", confidence=0.5)
    assert rc.category == "environment"
    with pytest.raises(ValueError, match="category of kind application_error is code"):
        RootCause(service="checkout", kind="application_error", category="dependency", summary="x", confidence=0.5)


def test_the_new_kinds_are_there():
    assert (BY_NAME["application_error"].category, BY_NAME["network_delay"].category) == ("code", "environment")
    assert set(BY_NAME["application_error"].look_alikes) >= {"deploy_regression", "dependency_outage"}
    assert set(BY_NAME["network_delay"].look_alikes) == {"network_partition", "resource_saturation"}


def prompt_kinds(prompt: str) -> list[str]:
    """The system prompt's list of kinds, one unwrapped entry per kind, with category headings."""
    block = prompt.split("look-alikes):\n", 1)[1].split("\n   Timing matters", 1)[0]
    return [" ".join(entry.split()) for entry in re.split(r"\n   (?=- |\w+:\n)", "\n   " + block.strip())
            if entry.strip()]


def test_the_prompt_lists_every_record():
    want = []
    for category in CATEGORIES:
        want.append(f"{category}:")
        want += [f"- {k.name}: {k.meaning} [{k.fix_at}]" + (f"; {k.tell}" if k.tell else "")
                 for k in TAXONOMY if k.category == category]
    assert prompt_kinds(render("system.j2", submit_tool="submit_report", budget=None)) == want


def test_the_prompt_says_where_the_fix_belongs_and_tells_look_alikes_apart():
    """Issue 13 item 12: where the fix belongs when it is not the loudest service, and the look-alikes a model
    confuses, rendered from the records."""
    prompt = render("system.j2", submit_tool="submit_report", budget=None)
    entry = {e[2:].split(":")[0]: e for e in prompt_kinds(prompt) if e.startswith("- ")}
    assert "where the fix belongs" in prompt
    assert "resolver settings or the record" in entry["dns_failure"]
    assert "one client" in entry["database_saturation"] and "not the caller" in entry["dependency_outage"]
    assert "memory_leak" in entry["deploy_regression"] and "deploy_regression" in entry["memory_leak"]
    assert "capped autoscaler" in entry["failed_scale_up"] and "failed_scale_up" in entry["resource_saturation"]
    for kind in ("dns_failure", "network_partition", "failed_scale_up"):     # the infra change that backs them
        assert "infrastructure changes" in entry[kind], kind


def test_the_format_doc_table_is_the_records():
    doc = (ROOT / "docs" / "incident-format.md").read_text()
    assert with_table(doc) == doc, "regenerate it: python -m tools.domain.taxonomy --write docs/incident-format.md"
    assert markdown_table().count("\n") == len(TAXONOMY) + 1


def test_the_readme_points_at_the_maintained_format():
    readme = (ROOT / "README.md").read_text()
    assert "docs/incident-format.md" in readme and "shared/INCIDENT_FORMAT" not in readme


def test_the_heuristic_remediation_and_next_checks_are_the_records():
    assert REMEDIATION == {k.name: list(k.remediation) for k in TAXONOMY}
    assert NEXT_CHECKS == {k.name: list(k.next_checks) for k in TAXONOMY}


def test_simulator_faults_and_test_causes_are_kinds_of_the_taxonomy(tmp_path):
    assert set(FAULTS) <= set(NAMES) and simulated_kinds() == [k for k in NAMES if k in FAULTS]
    assert simulated_kinds() == list(NAMES)                 # every kind has a fault now
    for kind in ("application_error", "network_delay"):     # … these at the harder level only
        with pytest.raises(ValueError, match=f"{kind} is simulated at difficulty harder only"):
            simulate(kind, 1, "easy", tmp_path / "x")
    with pytest.raises(ValueError, match="unknown kind 'gremlins'"):
        simulate("gremlins", 1, "easy", tmp_path / "x")
    assert {v.kind for v in VARIANTS.values()} <= set(NAMES)


def test_the_corpus_truth_comes_from_the_records():
    for case in sorted((ROOT / "evals" / "incidents").iterdir()):
        if case.name == "search-token-peak" or not (case / "truth.yaml").exists():
            continue
        truth = yaml.safe_load((case / "truth.yaml").read_text())
        rc = truth["root_cause"]
        record = BY_NAME[rc["kind"]]
        selectors = record.truth_selectors(rc["service"])
        assert truth["key_evidence"] == [s for s in selectors if s in truth["key_evidence"]], case.name
        assert len(truth["key_evidence"]) >= len(selectors) - 1, case.name      # a hard case may miss one source
        accepted = record.accepted_answers(rc["service"], ["a-caller"])
        assert [a["kind"] for a in truth["acceptable"]] == [a["kind"] for a in accepted][:len(truth["acceptable"])]


def test_a_bad_record_fails_at_import():
    bad = RootCauseKind(name="gremlins", category="code", meaning="m", fix_at="f", look_alikes=("poltergeist",),
                        tell="not poltergeist", remediation=(), next_checks=(), key_evidence=())
    with pytest.raises(ValueError, match="unknown kind poltergeist"):
        _check(TAXONOMY + (bad,))
    with pytest.raises(ValueError, match="not grouped by category"):
        _check((TAXONOMY[-1],) + TAXONOMY[:-1])
