"""Spans from Jaeger's query API (Tempo serves a compatible /api/traces via its Jaeger query frontend).

Jaeger cannot aggregate, so this takes a bounded sample of traces per service for the incident window
(`limit` traces each, errors first via the `error=true` tag) and answers the span primitives from them
with the same DuckDB code as the snapshot backend. Shapes follow Jaeger's HTTP query API
(/api/services → {"data": [...]}, /api/traces → {"data": [{"traceID", "spans": [...], "processes": {...}}]})."""
from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import httpx
import yaml

from .http import request
from .base import Coverage, HTTPBackendConfig, Incident, TelemetryError, TimeWindow


class JaegerConfig(HTTPBackendConfig):
    """`backend = "jaeger"` or `"tempo"` (its Jaeger-compatible query frontend): spans."""
    backend: Literal["jaeger", "tempo"]

    def open(self, incident: Incident) -> JaegerSpans:
        return JaegerSpans(self.url, incident, timeout=self.timeout_s, headers=self.bearer())


class JaegerSpans:
    def __init__(self, url: str, incident: Incident, traces_per_service: int = 200, timeout: float = 30.0,
                 headers: dict[str, str] | None = None, client: httpx.Client | None = None):
        self.url, self.incident, self.n = url.rstrip("/"), incident, traces_per_service
        self.http = client or httpx.Client(timeout=timeout, headers=headers or {})
        self._snap = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def _get(self, path: str, params: dict | None = None):
        r = request(self.http, "GET", f"{self.url}{path}", f"jaeger at {self.url}", params=params or {})
        if r.status_code != 200:
            raise TelemetryError(f"jaeger at {self.url}: HTTP {r.status_code}: {r.text[:200]}")
        body = r.json()
        if body.get("errors"):
            raise TelemetryError(f"jaeger at {self.url}: {body['errors'][0].get('msg', body['errors'])}")
        return body.get("data") or []

    def _load(self):
        if self._snap is not None:
            return self._snap
        from .snapshot import SnapshotTelemetry
        w = self.incident.window
        rows, seen = [], set()
        for svc in self._get("/api/services"):
            for tags in ({"error": "true"}, None):
                params = {"service": svc, "start": int(w.start.timestamp() * 1e6), "end": int(w.end.timestamp() * 1e6),
                          "limit": self.n // 2}
                if tags:
                    params["tags"] = json.dumps(tags)
                for tr in self._get("/api/traces", params):
                    if tr["traceID"] in seen:
                        continue
                    seen.add(tr["traceID"])
                    rows += list(_spans(tr))
        self._tmp = tempfile.TemporaryDirectory(prefix="fivewhys-jaeger-")
        d = Path(self._tmp.name)
        (d / "incident.yaml").write_text(yaml.safe_dump(self.incident.model_dump(mode="json")))
        (d / "spans.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        self._snap = SnapshotTelemetry(d)
        return self._snap

    def coverage(self, source: str) -> Coverage:
        return self._load().coverage(source) if source == "spans" else Coverage(present=False)

    def count(self, *a, **k):
        return self._load().count(*a, **k)

    def sample(self, *a, **k):
        return self._load().sample(*a, **k)

    def span_edges(self, *a, **k):
        return self._load().span_edges(*a, **k)

    def span_latency(self, *a, **k):
        return self._load().span_latency(*a, **k)

    def span_calls(self, *a, **k):
        return self._load().span_calls(*a, **k)

    def services(self, window: TimeWindow) -> set[str]:
        return self._load().services(window)       # Jaeger's /api/services has no time range; the sample has

    def close(self) -> None:
        if self._snap is not None:
            self._snap.close()
        if self._tmp is not None:
            self._tmp.cleanup()
        self.http.close()


def _spans(trace: dict):
    procs = trace.get("processes", {})
    for sp in trace.get("spans", []):
        tags = {t["key"]: t.get("value") for t in sp.get("tags", [])}
        parent = next((r["spanID"] for r in sp.get("references", []) if r.get("refType") == "CHILD_OF"), None)
        kind = tags.get("span.kind", "internal")
        peer = tags.get("peer.service") or tags.get("server.address") or tags.get("net.peer.name")
        yield {"time": datetime.fromtimestamp(sp["startTime"] / 1e6, tz=timezone.utc).isoformat().replace("+00:00", "Z"),
               "trace_id": sp["traceID"], "span_id": sp["spanID"], "parent_span_id": parent,
               "service": procs.get(sp.get("processID"), {}).get("serviceName", "unknown"),
               "operation": sp.get("operationName"), "kind": kind if kind in ("server", "client") else "internal",
               "status": "error" if tags.get("error") in (True, "true") or tags.get("otel.status_code") == "ERROR" else "ok",
               "duration_ms": sp.get("duration", 0) / 1000, "peer_service": peer if kind == "client" else None,
               "attributes": {k: v for k, v in tags.items() if k not in ("span.kind",)}}
