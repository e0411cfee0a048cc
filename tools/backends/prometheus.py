"""Metrics from Prometheus: every query is PromQL over /api/v1/query_range, aggregated in Prometheus.

Metric names map one to one to Prometheus series names; the service, instance and zone come from
configurable labels (default `service`, falling back to `job`; `instance`; `zone`)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal

import httpx

from .http import request
from tools.domain.errors import QueryError

from .base import Coverage, Filter, Incident, LabelsConfig, TelemetryError, TimeWindow

LABEL_VALUE = re.compile(r'["\\\n]')
MAX_POINTS = 11_000              # Prometheus refuses more points per series; wider ranges get a coarser step


class PrometheusConfig(LabelsConfig):
    """`backend = "prometheus"`: metrics."""
    backend: Literal["prometheus"]

    def open(self, incident: Incident) -> PrometheusMetrics:
        return PrometheusMetrics(self.url, self.service_label, self.instance_label, self.zone_label, self.timeout_s,
                                 headers=self.bearer())


class PrometheusMetrics:
    """The `metrics` source of the Telemetry protocol, answered by a Prometheus server."""

    def __init__(self, url: str, service_label: str = "service", instance_label: str = "instance",
                 zone_label: str = "zone", timeout: float = 30.0, headers: dict[str, str] | None = None,
                 client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        # peer_service: the callee of a per-edge series (relabel a mesh's destination label to it)
        self.labels = {"service": service_label, "instance": instance_label, "zone": zone_label,
                       "peer_service": "peer_service"}
        self.http = client or httpx.Client(timeout=timeout, headers=headers or {})

    # ---- HTTP --------------------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any]) -> Any:
        r = request(self.http, "GET", f"{self.url}{path}", f"prometheus at {self.url}", params=params)
        try:
            body = r.json()
        except ValueError:
            raise TelemetryError(f"prometheus at {self.url}: HTTP {r.status_code}, not JSON") from None
        if r.status_code != 200 or body.get("status") != "success":
            raise TelemetryError(f"prometheus at {self.url}: {body.get('errorType', r.status_code)}: "
                                 f"{body.get('error', '')}"[:300])
        return body["data"]

    def _selector(self, where: Filter) -> str:
        if not where.name or not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", where.name):
            raise QueryError(f"not a Prometheus metric name: {where.name!r}")
        m = []
        if where.services:
            alt = "|".join(re.escape(s) for s in where.services)
            m.append(f'{self.labels["service"]}=~"{_quote(alt)}"')
        return f"{where.name}{{{', '.join(m)}}}"

    # ---- the Telemetry protocol (metrics) ------------------------------------------------------------------
    def coverage(self, source: str) -> Coverage:
        return Coverage(present=source == "metrics", files=[self.url])

    def metric_series(self, where: Filter, by: tuple[str, ...] = (), step_s: int = 60, agg: str = "avg"):
        if agg not in ("avg", "max", "sum", "min"):
            raise QueryError(f"unknown aggregation {agg!r}")
        if where.start is None or where.end is None:
            raise QueryError("prometheus queries need a time range")
        span = (where.end - where.start).total_seconds()
        step = max(step_s, int(span // MAX_POINTS) + 1)
        group = ", ".join(self.labels[b] for b in by)
        query = f"{agg} by ({group}) ({self._selector(where)})"
        data = self._get("/api/v1/query_range", {"query": query, "start": where.start.timestamp(),
                                                  "end": (where.end.timestamp() - 1), "step": step})
        rows = []
        for series in data.get("result", []):
            labels = {b: series["metric"].get(self.labels[b]) for b in by}
            for ts, val in series.get("values", []):
                v = float(val)
                if v == v and abs(v) != float("inf"):
                    rows.append({**labels, "bucket": datetime.fromtimestamp(float(ts), tz=timezone.utc), "value": v})
        rows.sort(key=lambda r: tuple(str(r.get(b)) for b in by) + (r["bucket"],))
        return rows

    def metric_names(self, where: Filter):
        params: dict[str, Any] = {}
        if where.start and where.end:
            params.update(start=where.start.timestamp(), end=where.end.timestamp())
        if where.services:
            params["match[]"] = f'{{{self.labels["service"]}=~"{_quote("|".join(map(re.escape, where.services)))}"}}'
            data = self._get("/api/v1/series", params)
            pairs = {(s.get(self.labels["service"]), s["__name__"]) for s in data}
            return [{"service": s, "name": n, "n": None} for s, n in sorted(pairs, key=str)]
        names = self._get("/api/v1/label/__name__/values", params)
        return [{"service": None, "name": n, "n": None} for n in names]

    def services(self, window: TimeWindow) -> set[str]:
        return set(self._get(f"/api/v1/label/{self.labels['service']}/values",
                             {"start": window.start.timestamp(), "end": window.end.timestamp()}))

    def close(self) -> None:
        self.http.close()


def _quote(s: str) -> str:
    return LABEL_VALUE.sub(lambda m: "\\" + m.group(0) if m.group(0) != "\n" else "\\n", s)
