"""Which backend answers which source: a TOML file, credentials from the environment.

    [sources.metrics]
    backend = "prometheus"
    url = "http://prometheus:9090"
    service_label = "service"        # or "job"
    token_env = "PROM_TOKEN"         # optional: sent as a bearer token

    [sources.logs]
    backend = "snapshot"
    path = "incidents/checkout-0306"
"""
from __future__ import annotations

import os
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from tools.domain.errors import one_line

from .base import SOURCES, Alert, Incident, TelemetryError, TimeWindow, as_utc
from .composite import CompositeTelemetry
from .snapshot import SnapshotTelemetry


class SourceConfig(BaseModel):
    backend: Literal["snapshot", "prometheus", "loki", "elasticsearch", "opensearch", "consul", "kubernetes",
                     "jaeger", "tempo", "tls_probe"] = Field(description="Which store answers this source.")
    url: str | None = Field(None, description="Base URL of the store (prometheus).")
    path: str | None = Field(None, description="Snapshot directory (snapshot).")
    token_env: str | None = Field(None, description="Environment variable holding a bearer token.")
    service_label: str = Field("service", description="Label that names the service (prometheus).")
    instance_label: str = Field("instance", description="Label that names the instance (prometheus).")
    zone_label: str = Field("zone", description="Label that names the zone (prometheus, loki).")
    level_label: str = Field("level", description="Label that holds the log level (loki).")
    index: str = Field("logs-*", description="Index pattern (elasticsearch, opensearch).")
    namespace: str = Field("default", description="Namespace (kubernetes).")
    fields: dict[str, str] = Field(default_factory=dict, description="Field names when not ECS (elasticsearch): "
                                                                     "time, service, level, message, instance, zone.")
    timeout_s: float = Field(30.0, description="Per-request timeout in seconds.")
    endpoints: list[dict] = Field(default_factory=list, description="tls_probe: [{service, host, port, purpose, "
                                                                    "peer_service}] to connect to.")


class BackendsConfig(BaseModel):
    sources: dict[str, SourceConfig] = Field(default_factory=dict, description="source name → backend")


def load_backends(path: Path) -> BackendsConfig:
    try:
        cfg = BackendsConfig.model_validate(tomllib.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise TelemetryError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as e:
        raise TelemetryError(f"{path}: invalid config: {one_line(e)}") from None
    unknown = set(cfg.sources) - set(SOURCES)
    if unknown:
        raise TelemetryError(f"{path}: unknown source(s) {', '.join(sorted(unknown))}; sources: {', '.join(SOURCES)}")
    return cfg


def _backend(c: SourceConfig, cache: dict, incident: Incident | None = None) -> Any:
    key = (c.backend, c.url, c.path)
    if key in cache:
        return cache[key]
    if c.backend == "tls_probe":
        from .tls_probe import TLSProbe
        if not c.endpoints:
            raise TelemetryError("a tls_probe source needs endpoints = [{service, host, port}]")
        b = TLSProbe(c.endpoints, c.timeout_s)
    elif c.backend == "loki":
        from .loki import LokiLogs
        if not c.url:
            raise TelemetryError("a loki source needs url = \"http://…\"")
        token = os.environ.get(c.token_env) if c.token_env else None
        b = LokiLogs(c.url, c.service_label, c.level_label, c.instance_label, c.zone_label, c.timeout_s,
                     headers={"Authorization": f"Bearer {token}"} if token else None)
    elif c.backend in ("elasticsearch", "opensearch"):
        from .elasticsearch import ElasticsearchLogs
        if not c.url:
            raise TelemetryError(f"an {c.backend} source needs url = \"http://…\"")
        token = os.environ.get(c.token_env) if c.token_env else None
        b = ElasticsearchLogs(c.url, c.index, c.fields, c.timeout_s,
                              headers={"Authorization": f"Bearer {token}"} if token else None)
    elif c.backend in ("jaeger", "tempo"):
        from .jaeger import JaegerSpans
        if not c.url or incident is None:
            raise TelemetryError(f"a {c.backend} source needs url = \"http://…\"")
        token = os.environ.get(c.token_env) if c.token_env else None
        b = JaegerSpans(c.url, incident, timeout=c.timeout_s, headers={"Authorization": f"Bearer {token}"} if token else None)
    elif c.backend == "kubernetes":
        from .kubernetes import KubernetesTelemetry
        if not c.url:
            raise TelemetryError("a kubernetes source needs url = \"https://API-SERVER\"")
        b = KubernetesTelemetry(c.url, c.namespace, os.environ.get(c.token_env) if c.token_env else None, c.timeout_s)
    elif c.backend == "consul":
        from .consul import ConsulRegistry
        if not c.url:
            raise TelemetryError("a consul source needs url = \"http://…\"")
        token = os.environ.get(c.token_env) if c.token_env else None
        b = ConsulRegistry(c.url, c.timeout_s, headers={"X-Consul-Token": token} if token else None)
    elif c.backend == "snapshot":
        if not c.path:
            raise TelemetryError("a snapshot source needs path = \"DIR\"")
        b = SnapshotTelemetry(c.path)
    else:
        if not c.url:
            raise TelemetryError("a prometheus source needs url = \"http://…\"")
        from .prometheus import PrometheusMetrics
        token = os.environ.get(c.token_env) if c.token_env else None
        b = PrometheusMetrics(c.url, c.service_label, c.instance_label, c.zone_label, c.timeout_s,
                              headers={"Authorization": f"Bearer {token}"} if token else None)
    cache[key] = b
    return b


def incident_for(service: str, at: datetime, before: timedelta = timedelta(hours=2),
                 after: timedelta = timedelta(minutes=30), summary: str | None = None) -> Incident:
    at = as_utc(at)
    return Incident(id=f"{service}-{at.strftime('%Y%m%dT%H%M')}", title=f"{service} incident",
                    window=TimeWindow(start=at - before, end=at + after),
                    alert=Alert(at=at, service=service, summary=summary or f"{service} paged"))


def open_telemetry(snapshot: Path | None, config: Path | None, service: str | None = None,
                   at: datetime | None = None):
    """The telemetry for an investigation: a snapshot, configured backends, or both (config wins)."""
    if config is None:
        if snapshot is None:
            raise TelemetryError("give an incident snapshot directory, or --config with --service and --at")
        return SnapshotTelemetry(snapshot)
    cfg = load_backends(config)
    cache: dict = {}
    base = SnapshotTelemetry(snapshot) if snapshot else None
    if base is not None:
        incident = base.incident
    elif service and at:
        incident = incident_for(service, at)
    else:
        raise TelemetryError("without a snapshot, --service and --at say what to investigate")
    routes = {s: base for s in SOURCES if base is not None and base.coverage(s).present}
    for source, c in cfg.sources.items():
        routes[source] = _backend(c, cache, incident)
    return CompositeTelemetry(incident, routes)
