"""Spans from the Jaeger query API (respx), shaped like Jaeger's /api/services and /api/traces."""
import json
from datetime import datetime, timezone

import httpx
import respx

from tools.backends.base import Alert, Filter, Incident, TimeWindow
from tools.backends.jaeger import JaegerSpans

URL = "http://jaeger.test:16686"
INC = Incident(id="x", window=TimeWindow(start=datetime(2026, 3, 6, 16, tzinfo=timezone.utc),
                                         end=datetime(2026, 3, 6, 18, tzinfo=timezone.utc)), alert=Alert(service="search"))


def trace(tid, error):
    start = int(datetime(2026, 3, 6, 17, 1, tzinfo=timezone.utc).timestamp() * 1e6)
    return {"traceID": tid, "processes": {"p1": {"serviceName": "search", "tags": []},
                                          "p2": {"serviceName": "token", "tags": []}},
            "spans": [
                {"traceID": tid, "spanID": f"{tid}a", "operationName": "GET /search", "references": [],
                 "startTime": start, "duration": 1200000, "processID": "p1",
                 "tags": [{"key": "span.kind", "type": "string", "value": "server"}] +
                         ([{"key": "error", "type": "bool", "value": True}] if error else [])},
                {"traceID": tid, "spanID": f"{tid}b", "operationName": "POST /introspect", "processID": "p1",
                 "references": [{"refType": "CHILD_OF", "traceID": tid, "spanID": f"{tid}a"}],
                 "startTime": start + 10, "duration": 1000000,
                 "tags": [{"key": "span.kind", "type": "string", "value": "client"},
                          {"key": "peer.service", "type": "string", "value": "token"}] +
                         ([{"key": "error", "type": "bool", "value": True}] if error else [])}]}


@respx.mock
def test_traces_are_sampled_and_answer_span_edges():
    respx.get(f"{URL}/api/services").mock(return_value=httpx.Response(200, json={"data": ["search"], "total": 1}))
    route = respx.get(f"{URL}/api/traces").mock(side_effect=[
        httpx.Response(200, json={"data": [trace("t1", True), trace("t2", True)], "errors": None}),
        httpx.Response(200, json={"data": [trace("t2", True), trace("t3", False)], "errors": None})])
    j = JaegerSpans(URL, INC)
    edges = j.span_edges(Filter(start=INC.window.start, end=INC.window.end))
    assert json.loads(route.calls[0].request.url.params["tags"]) == {"error": "true"}
    assert [(e["caller"], e["callee"], e["calls"], e["errors"]) for e in edges] == [("search", "token", 3, 2)]
    assert j.coverage("spans").rows == 6 and j.services(INC.window) == {"search"}
    j.close()
