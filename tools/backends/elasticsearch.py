"""Logs from Elasticsearch or OpenSearch: query DSL filters, counts as aggregations (terms ×
date_histogram, with an errors filter sub-aggregation), samples paginated with search_after.
Field names default to ECS (@timestamp, service.name, log.level, message, host.name, cloud.availability_zone).

Shapes follow the Elasticsearch _search API reference (hits.hits[]._source / .sort; aggregations buckets);
OpenSearch answers the same requests."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

import httpx
from pydantic import Field

from .http import request
from .base import Coverage, Filter, HTTPBackendConfig, Incident, TelemetryError, TimeWindow

ECS = {"time": "@timestamp", "service": "service.name", "level": "log.level", "message": "message",
       "instance": "host.name", "zone": "cloud.availability_zone", "trace_id": "trace.id"}
LogField = Literal["time", "service", "level", "message", "instance", "zone", "trace_id"]
PAGE = 1000
MAX_SERVICES = 10_000           # terms buckets for services(); Elasticsearch's own cap is 65,536


class ElasticsearchConfig(HTTPBackendConfig):
    """`backend = "elasticsearch"` or `"opensearch"`: logs."""
    backend: Literal["elasticsearch", "opensearch"]
    index: str = Field("logs-*", description="Index pattern.")
    fields: dict[LogField, str] = Field(default_factory=dict, description="Field names where they are not ECS's.")

    def open(self, incident: Incident) -> ElasticsearchLogs:
        return ElasticsearchLogs(self.url, self.index, self.fields, self.timeout_s, headers=self.bearer())


class ElasticsearchLogs:
    def __init__(self, url: str, index: str = "logs-*", fields: dict[str, str] | None = None, timeout: float = 30.0,
                 headers: dict[str, str] | None = None, client: httpx.Client | None = None):
        self.url, self.index = url.rstrip("/"), index
        self.f = {**ECS, **(fields or {})}
        self.http = client or httpx.Client(timeout=timeout, headers=headers or {})

    def _search(self, body: dict) -> dict:
        r = request(self.http, "POST", f"{self.url}/{self.index}/_search", f"elasticsearch at {self.url}", json=body)
        if r.status_code != 200:
            try:
                reason = r.json()["error"]["root_cause"][0]["reason"]
            except (ValueError, KeyError, IndexError, TypeError):
                reason = r.text[:200]
            raise TelemetryError(f"elasticsearch at {self.url}: HTTP {r.status_code}: {reason}")
        return r.json()

    def _query(self, w: Filter) -> dict:
        f = self.f
        must: list[dict] = [{"range": {f["time"]: {"gte": w.start.isoformat(), "lt": w.end.isoformat()}}}]
        if w.services:
            must.append({"terms": {f["service"]: list(w.services)}})
        if w.levels:
            must.append({"terms": {f["level"]: list(w.levels)}})
        if w.trace_ids:
            must.append({"terms": {f["trace_id"]: list(w.trace_ids)}})
        if w.text:
            must.append({"regexp": {f["message"]: {"value": w.text, "case_insensitive": True}}} if w.regex else
                        {"match_phrase": {f["message"]: w.text}})
        return {"bool": {"filter": must}}

    def coverage(self, source: str) -> Coverage:
        return Coverage(present=source == "logs", files=[f"{self.url}/{self.index}"])

    def count(self, source, where: Filter, by=(), bucket_s=None, limit=10_000):
        errors = {"errors": {"filter": {"terms": {self.f["level"]: ["error", "fatal"]}}}}
        inner: dict = errors
        if bucket_s:
            inner = {"t": {"date_histogram": {"field": self.f["time"], "fixed_interval": f"{int(bucket_s)}s",
                                              "min_doc_count": 1}, "aggs": errors}}
        aggs = inner
        for b in reversed(by):
            aggs = {f"by_{b}": {"terms": {"field": self.f[b], "size": 500}, "aggs": aggs}}
        res = self._search({"size": 0, "track_total_hits": True, "query": self._query(where), "aggs": aggs})
        rows: list[dict] = []

        def walk(node: dict, keys: dict, depth: int) -> None:
            if depth < len(by):
                for bk in node[f"by_{by[depth]}"]["buckets"]:
                    walk(bk, {**keys, by[depth]: bk["key"]}, depth + 1)
            elif bucket_s:
                for bk in node["t"]["buckets"]:
                    rows.append({**keys, "bucket": datetime.fromtimestamp(bk["key"] / 1000, tz=timezone.utc),
                                 "n": bk["doc_count"], "errors": bk["errors"]["doc_count"]})
            else:
                rows.append({**keys, "n": node.get("doc_count", res["hits"]["total"]["value"]),
                             "errors": node["errors"]["doc_count"]})
        walk(res.get("aggregations", {}), {}, 0)
        return [r for r in rows if r["n"]][:limit]

    def sample(self, source, where: Filter, limit=20, order="time"):
        sort = [{self.f["time"]: "asc"}, {"_shard_doc": "asc"}]
        rows, after = [], None
        while len(rows) < limit:
            body: dict[str, Any] = {"size": min(PAGE, limit - len(rows)), "query": self._query(where), "sort": sort}
            if after:
                body["search_after"] = after
            hits = self._search(body)["hits"]["hits"]
            rows += [self._row(h["_source"]) for h in hits]
            if len(hits) < body["size"]:
                break
            after = hits[-1]["sort"]
        return rows[:limit]

    def _row(self, src: dict) -> dict:
        def get(path: str) -> Any:
            if path in src:                       # a flat, dotted field name
                return src[path]
            cur: Any = src
            for part in path.split("."):          # or nested objects
                if not isinstance(cur, dict):
                    return None
                cur = cur.get(part)
            return cur
        t = datetime.fromisoformat(str(get(self.f["time"])).replace("Z", "+00:00"))
        return {"time": t, **{k: get(v) for k, v in self.f.items() if k != "time"}}

    def services(self, window: TimeWindow) -> set[str]:
        res = self._search({"size": 0, "query": self._query(Filter(start=window.start, end=window.end)),
                            "aggs": {"s": {"terms": {"field": self.f["service"], "size": MAX_SERVICES}}}})
        return {b["key"] for b in res.get("aggregations", {}).get("s", {}).get("buckets", [])}

    def close(self) -> None:
        self.http.close()
