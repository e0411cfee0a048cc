"""The registry source from Consul's catalog and health API: what discovery says now, per instance.

Consul keeps current state, not history, so this answers for a live incident: each instance appears as
one healthy/unhealthy record at the time of the query (clamped into the incident window). Shapes follow
Consul's HTTP API reference (/v1/catalog/services, /v1/health/service/:service)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

import httpx

from .http import request
from .base import Coverage, Filter, HTTPBackendConfig, Incident, TelemetryError, TimeWindow


class ConsulConfig(HTTPBackendConfig):
    """`backend = "consul"`: the registry; the token is sent as X-Consul-Token."""
    backend: Literal["consul"]

    def open(self, incident: Incident) -> ConsulRegistry:
        token = self.token()
        return ConsulRegistry(self.url, self.timeout_s, headers={"X-Consul-Token": token} if token else None)


class ConsulRegistry:
    def __init__(self, url: str, timeout: float = 10.0, headers: dict[str, str] | None = None,
                 client: httpx.Client | None = None, max_services: int = 500):
        self.url = url.rstrip("/")
        self.http = client or httpx.Client(timeout=timeout, headers=headers or {})
        self.max_services = max_services

    def _get(self, path: str):
        r = request(self.http, "GET", f"{self.url}{path}", f"consul at {self.url}")
        if r.status_code != 200:
            raise TelemetryError(f"consul at {self.url}: HTTP {r.status_code}: {r.text[:200]}")
        return r.json()

    def coverage(self, source: str) -> Coverage:
        return Coverage(present=source == "registry", files=[self.url])

    def events(self, source: str, where: Filter, limit: int = 200) -> list[dict]:
        names = list(where.services or self._get("/v1/catalog/services"))[: self.max_services]
        at = datetime.now(timezone.utc)
        if where.end is not None and at >= where.end:
            at = where.end - timedelta(seconds=1)
        rows = []
        for name in names:
            for e in self._get(f"/v1/health/service/{name}"):
                svc, node = e.get("Service", {}), e.get("Node", {})
                checks = [c.get("Status") for c in e.get("Checks", [])]
                healthy = all(s == "passing" for s in checks)
                rows.append({"time": at, "service": svc.get("Service", name), "instance": svc.get("ID"),
                             "event": "healthy" if healthy else "unhealthy",
                             "address": f"{svc.get('Address') or node.get('Address')}:{svc.get('Port')}",
                             "zone": (svc.get("Meta") or {}).get("zone") or node.get("Datacenter")})
        return rows[:limit]

    def services(self, window: TimeWindow) -> set[str]:
        return set(self._get("/v1/catalog/services"))         # Consul has no history: what is registered now

    def close(self) -> None:
        self.http.close()
