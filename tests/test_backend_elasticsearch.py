"""Elasticsearch/OpenSearch logs at the HTTP layer (respx), with bodies shaped like the _search API."""
import json
from datetime import datetime, timezone

import httpx
import pytest
import respx

from tools.backends.base import Filter, TelemetryError, TimeWindow
from tools.backends.elasticsearch import ElasticsearchLogs

URL = "http://es.test:9200"
T0 = datetime(2026, 3, 6, 17, 0, tzinfo=timezone.utc)
W = Filter(start=T0, end=datetime(2026, 3, 6, 17, 10, tzinfo=timezone.utc), services=("search",))


@respx.mock
def test_counts_are_aggregations():
    route = respx.post(f"{URL}/logs-*/_search").mock(return_value=httpx.Response(200, json={
        "took": 3, "timed_out": False, "hits": {"total": {"value": 120, "relation": "eq"}, "hits": []},
        "aggregations": {"by_service": {"buckets": [{"key": "search", "doc_count": 120, "t": {"buckets": [
            {"key_as_string": "2026-03-06T17:00:00.000Z", "key": 1772816400000, "doc_count": 70, "errors": {"doc_count": 3}},
            {"key_as_string": "2026-03-06T17:01:00.000Z", "key": 1772816460000, "doc_count": 50, "errors": {"doc_count": 20}}]}}]}}}))
    rows = ElasticsearchLogs(URL).count("logs", W.but(text="timed out"), by=("service",), bucket_s=60)
    body = json.loads(route.calls[0].request.content)
    assert body["size"] == 0 and body["aggs"]["by_service"]["terms"]["field"] == "service.name"
    assert body["aggs"]["by_service"]["aggs"]["t"]["date_histogram"]["fixed_interval"] == "60s"
    assert {"match_phrase": {"message": "timed out"}} in body["query"]["bool"]["filter"]
    assert [(r["service"], r["n"], r["errors"]) for r in rows] == [("search", 70, 3), ("search", 50, 20)]


@respx.mock
def test_samples_page_with_search_after():
    def hit(i):
        return {"_index": "logs-2026.03.06", "_id": str(i), "_score": None, "sort": [1772816400000 + i, i],
                "_source": {"@timestamp": "2026-03-06T17:00:00.000Z", "message": f"line {i}",
                            "service": {"name": "search"}, "log": {"level": "error"}, "host.name": "search-1"}}
    route = respx.post(f"{URL}/logs-*/_search").mock(side_effect=[
        httpx.Response(200, json={"hits": {"total": {"value": 1500}, "hits": [hit(i) for i in range(1000)]}}),
        httpx.Response(200, json={"hits": {"total": {"value": 1500}, "hits": [hit(i) for i in range(1000, 1500)]}})])
    rows = ElasticsearchLogs(URL).sample("logs", W, limit=5000)
    assert len(rows) == 1500 and route.call_count == 2
    assert json.loads(route.calls[1].request.content)["search_after"] == [1772816400999, 999]
    assert rows[0]["service"] == "search" and rows[0]["level"] == "error" and rows[0]["instance"] == "search-1"


@respx.mock
def test_errors_and_timeouts_are_clear():
    respx.post(f"{URL}/logs-*/_search").mock(side_effect=[
        httpx.Response(400, json={"error": {"root_cause": [{"type": "query_shard_exception",
                                                            "reason": "failed to create query"}], "type": "x"},
                                  "status": 400}),
        httpx.ConnectTimeout("connect timed out")])
    es = ElasticsearchLogs(URL)
    with pytest.raises(TelemetryError, match="HTTP 400: failed to create query"):
        es.count("logs", W)
    with pytest.raises(TelemetryError, match="ConnectTimeout"):
        es.sample("logs", W)


@respx.mock
def test_services_are_a_terms_aggregation_over_the_window():
    route = respx.post(f"{URL}/logs-*/_search").mock(return_value=httpx.Response(200, json={
        "hits": {"total": {"value": 9}, "hits": []}, "aggregations": {"s": {"buckets": [
            {"key": "search", "doc_count": 7}, {"key": "token", "doc_count": 2}]}}}))
    assert ElasticsearchLogs(URL).services(TimeWindow(start=W.start, end=W.end)) == {"search", "token"}
    body = json.loads(route.calls[0].request.content)
    assert body["size"] == 0 and body["aggs"]["s"]["terms"]["field"] == "service.name"
    assert body["query"]["bool"]["filter"] == [{"range": {"@timestamp": {"gte": W.start.isoformat(),
                                                                         "lt": W.end.isoformat()}}}]
