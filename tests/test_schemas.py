"""What goes with every turn (issue 13 item 14): the tool schemas, halved without losing what a model needs."""
import json

import jsonschema
import pytest

from agent.loop import SUBMIT, schema_chars, tool_specs
from agent.report import KINDS
from tools import TOOLS

# Measured with schema_chars on the commit this work started from (faef193): 14 tools and submit_report.
BEFORE_TOTAL, BEFORE_SUBMIT = 14742, 3331
ORIGINAL = ("describe_incident", "service_map", "error_onsets", "search_logs", "log_patterns", "query_metric",
            "list_deployments", "scaling_events", "certificates", "registry_changes", "zone_breakdown",
            "trace_errors", "metric_changes", "latency_by_service")
ADDED_MAX = 600         # a tool added since is as compact as the largest halved one (query_metric, ~600)


@pytest.fixture(scope="module")
def specs():
    return {s.name: s for s in tool_specs()}


def test_tool_schemas_are_half_what_they_were(specs):
    chars = schema_chars(list(specs.values()))
    assert sum(chars[n] for n in (*ORIGINAL, SUBMIT)) <= BEFORE_TOTAL // 2, chars
    assert chars[SUBMIT] <= BEFORE_SUBMIT // 2
    # New tools (edge_rates, call_changes) cost what they must, no more than the compacted ones do.
    assert all(n in ORIGINAL or c <= ADDED_MAX for n, c in chars.items() if n != SUBMIT), chars


def test_nothing_a_model_reads_is_said_twice(specs):
    text = json.dumps([s.model_dump() for s in specs.values()])
    assert '"title"' not in text and '{"type": "null"}' not in text
    assert text.count('"failed_scale_up"') == 1                      # the kinds once, under $defs
    for s in specs.values():                                          # paragraphs end where sentences end
        assert all(p.rstrip()[-1] in ".?:)" for p in s.description.split("\n\n")), (s.name, s.description)


def test_the_compact_schemas_accept_and_refuse_what_the_tools_do(specs):
    report = specs[SUBMIT].parameters
    good = {"root_cause": {"service": "search", "kind": "failed_scale_up", "summary": "s", "confidence": 0.8,
                           "onset": "2026-03-06T16:55:00Z"},
            "chain": [{"claim": "c", "service": "search", "evidence": ["E1"]}],
            "hypotheses": [{"service": "catalog", "kind": "deploy_regression", "status": "ruled_out", "reason": "r",
                            "evidence": ["E2"]}]}
    jsonschema.validate(good, report)
    jsonschema.validate({"inconclusive": True, "next_checks": ["look at the network"]}, report)
    for bad in ({**good, "root_cause": {**good["root_cause"], "kind": "cosmic_rays"}},
                {**good, "chain": [{"claim": "c", "evidence": ["E1"]}]},           # a link names its service
                {**good, "hypotheses": [{**good["hypotheses"][0], "status": "maybe"}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, report)
    assert set(report["$defs"]["Kind"]["enum"]) == set(KINDS)
    for name, tool in TOOLS.items():                                   # every parameter is still offered
        assert set(specs[name].parameters.get("properties", {})) == set(tool.args_model.model_fields), name
    metric = specs["query_metric"].parameters
    assert metric["required"] == ["name"] and metric["properties"]["by"]["enum"] == ["none", "instance", "zone",
                                                                                     "service"]
    jsonschema.validate({"name": "cpu_utilization", "service": "search", "start": "2026-03-06T16:00:00Z"}, metric)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"service": "search"}, metric)
