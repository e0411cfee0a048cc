"""The Loki backend at the HTTP layer (respx), with bodies in the shapes of the Loki HTTP API reference."""
from datetime import datetime, timezone

import httpx
import pytest
import respx

from tools.backends.base import Filter, TelemetryError, TimeWindow
from tools.backends.loki import LokiLogs

URL = "http://loki.test"
T0 = datetime(2026, 3, 6, 17, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 3, 6, 17, 10, tzinfo=timezone.utc)


def matrix(series):
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": m, "values": [[ts, str(v)] for ts, v in vals]} for m, vals in series], "stats": {}}})


def streams(entries):
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": labels, "values": [[str(ns), line] for ns, line in vals]} for labels, vals in entries], "stats": {}}})


@respx.mock
def test_counts_are_pushed_down_as_logql():
    route = respx.get(f"{URL}/loki/api/v1/query_range").mock(side_effect=[
        matrix([({"service": "search"}, [(T0.timestamp() + 60, 40), (T0.timestamp() + 120, 42)])]),
        matrix([({"service": "search"}, [(T0.timestamp() + 120, 9)])])])
    rows = LokiLogs(URL).count("logs", Filter(start=T0, end=T1, services=("search",), text="timed out"),
                               by=("service",), bucket_s=60)
    q = [dict(c.request.url.params) for c in route.calls]
    assert q[0]["query"] == 'sum by (service) (count_over_time({service=~"search"} |~ "(?i)timed\\\\ out" [60s]))'
    assert 'level=~"error|fatal"' in q[1]["query"] and q[0]["step"] == "60s"
    assert [(r["n"], r["errors"]) for r in rows] == [(40, 0), (42, 9)]
    assert rows[1]["bucket"] == datetime(2026, 3, 6, 17, 1, tzinfo=timezone.utc)


@respx.mock
def test_samples_are_paginated_and_parsed():
    page1 = [(int(T0.timestamp() * 1e9) + i, '{"message": "connect timed out", "trace_id": "abc"}') for i in range(5000)]
    page2 = [(int(T0.timestamp() * 1e9) + 5000 + i, "plain line") for i in range(10)]
    route = respx.get(f"{URL}/loki/api/v1/query_range").mock(side_effect=[
        streams([({"service": "search", "level": "error", "zone": "a"}, page1)]),
        streams([({"service": "search", "level": "info"}, page2)])])
    rows = LokiLogs(URL).sample("logs", Filter(start=T0, end=T1, levels=("error",)), limit=6000)
    assert len(rows) == 5010 and route.call_count == 2
    assert int(route.calls[1].request.url.params["start"]) == page1[-1][0] + 1
    assert rows[0]["message"] == "connect timed out" and rows[0]["trace_id"] == "abc" and rows[0]["zone"] == "a"
    assert rows[-1]["message"] == "plain line" and rows[-1]["level"] == "info"


@respx.mock
def test_errors_and_timeouts_are_clear():
    respx.get(f"{URL}/loki/api/v1/query_range").mock(side_effect=[
        httpx.Response(400, text="parse error at line 1, col 12: syntax error: unexpected IDENTIFIER"),
        httpx.ReadTimeout("timed out")])
    loki = LokiLogs(URL)
    with pytest.raises(TelemetryError, match="HTTP 400: parse error"):
        loki.sample("logs", Filter(start=T0, end=T1))
    with pytest.raises(TelemetryError, match="ReadTimeout"):
        loki.sample("logs", Filter(start=T0, end=T1))


@respx.mock
def test_services_are_label_values_in_the_window():
    route = respx.get(f"{URL}/loki/api/v1/label/service/values").mock(return_value=httpx.Response(
        200, json={"status": "success", "data": ["search", "token"]}))
    assert LokiLogs(URL).services(TimeWindow(start=T0, end=T1)) == {"search", "token"}
    params = route.calls[0].request.url.params
    assert (int(params["start"]), int(params["end"])) == (int(T0.timestamp() * 1e9), int(T1.timestamp() * 1e9))
