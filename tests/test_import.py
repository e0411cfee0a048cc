"""`snapshot import`: plain logs and Kubernetes events into a snapshot the investigator can read."""
import json

from typer.testing import CliRunner

from agent.cli import app
from tools.backends.importers import parse_line
from tools.backends.snapshot import SnapshotTelemetry


def test_parse_json_logfmt_and_text_lines():
    j = parse_line('{"ts": "2026-03-06T17:01:02Z", "level": "ERROR", "msg": "timeout", "trace_id": "t1"}', "api")
    assert (j["time"], j["level"], j["message"], j["trace_id"]) == ("2026-03-06T17:01:02Z", "error", "timeout", "t1")
    l = parse_line('time=2026-03-06T17:01:02+02:00 level=warn msg="slow query" db=orders', "api")
    assert l["time"] == "2026-03-06T15:01:02Z" and l["level"] == "warn" and l["attributes"] == {"db": "orders"}
    t = parse_line("2026-03-06 17:01:02,123 ERROR [main] connection refused", "search")
    assert t["time"] == "2026-03-06T17:01:02.123000Z" and t["level"] == "error" and "connection refused" in t["message"]
    assert parse_line("no timestamp here", "x") is None


def test_import_command_writes_a_valid_snapshot(tmp_path):
    (tmp_path / "search.log").write_text("2026-03-06T17:00:00Z INFO started\n"
                                         "2026-03-06T17:01:00Z ERROR connect to token:8443 timed out\n"
                                         "garbage line\n\xff bad bytes 2026-03-06T17:02:00Z ERROR again\n",
                                         encoding="latin-1")
    (tmp_path / "events.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"kind": "Event", "type": "Warning", "reason": "FailedScheduling",
         "message": "0/12 nodes are available: 12 Insufficient cpu.", "lastTimestamp": "2026-03-06T16:58:00Z",
         "involvedObject": {"kind": "Pod", "name": "search-7f9c4d8b6c-x2x9z"}}]}))
    out = tmp_path / "snap"
    r = CliRunner().invoke(app, ["snapshot", "import", "--logs", str(tmp_path / "search.log"), "--k8s-events",
                                 str(tmp_path / "events.json"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "skipped_lines 1" in r.output
    v = CliRunner().invoke(app, ["snapshot", "validate", str(out)])
    assert v.exit_code == 0, v.output
    tel = SnapshotTelemetry(out)
    assert tel.coverage("logs").rows == 4 and tel.events("scaling", __import__("tools.backends.base",
                                                                               fromlist=["Filter"]).Filter())[0]["service"] == "search"
    assert tel.incident.alert.service == "search"
    bad = CliRunner().invoke(app, ["snapshot", "import", "--logs", str(tmp_path / "nope.log"), "--out", str(out)])
    assert bad.exit_code == 2 and "no such file" in bad.output


def test_otlp_json_traces_become_spans_with_edges(tmp_path):
    def span(tid, sid, parent, name, kind, start_s, dur_ms, code=1, attrs=()):
        ns = int((1772816400 + start_s) * 1e9)
        return {"traceId": tid, "spanId": sid, "parentSpanId": parent, "name": name, "kind": kind,
                "startTimeUnixNano": str(ns), "endTimeUnixNano": str(ns + int(dur_ms * 1e6)),
                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs],
                "status": {"code": code, **({"message": "connect timed out"} if code == 2 else {})}}
    doc = {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "search"}}]},
         "scopeSpans": [{"scope": {"name": "otel"}, "spans": [
             span("t1", "a", "", "GET /search", 2, 0, 1200, 2),
             span("t1", "b", "a", "POST /introspect", 3, 0.1, 1000, 2, [("peer.service", "token")])]}]}]}
    (tmp_path / "traces.json").write_text(json.dumps(doc))
    out = tmp_path / "snap"
    r = CliRunner().invoke(app, ["snapshot", "import", "--otlp", str(tmp_path / "traces.json"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    tel = SnapshotTelemetry(out)
    from tools.backends.base import Filter
    edges = tel.span_edges(Filter())
    assert [(e["caller"], e["callee"], e["errors"], e["external"]) for e in edges] == [("search", "token", 1, True)]


def test_kubernetes_objects_map_to_their_workload():
    from tools.backends.importers import workload_of
    assert workload_of("Pod", "checkout-7d9c8f6b5d-x2x9z") == "checkout"        # Deployment pod
    assert workload_of("Pod", "orders-db-2") == "orders-db"                     # StatefulSet pod
    assert workload_of("Pod", "log-shipper-x2x9z") == "log-shipper"             # DaemonSet pod
    assert workload_of("ReplicaSet", "checkout-7d9c8f6b5d") == "checkout"
    assert workload_of("HorizontalPodAutoscaler", "checkout") == "checkout"
    assert workload_of("Deployment", "api-gateway-v2") == "api-gateway-v2"
