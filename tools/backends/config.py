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

import functools
import pkgutil
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tools.domain.errors import one_line

from .base import SOURCES, Alert, BackendConfig, Incident, TelemetryError, TimeWindow, as_utc
from .composite import CompositeTelemetry
from .snapshot import SnapshotTelemetry

# backend type (`backend = "…"` in a source's table) → its config class, whose `open` builds the backend.
# Adding a backend is one file (the backend and its config class) and one line here.
BACKENDS: dict[str, str] = {
    "snapshot": "tools.backends.snapshot:SnapshotConfig",
    "prometheus": "tools.backends.prometheus:PrometheusConfig",
    "loki": "tools.backends.loki:LokiConfig",
    "elasticsearch": "tools.backends.elasticsearch:ElasticsearchConfig",
    "opensearch": "tools.backends.elasticsearch:ElasticsearchConfig",
    "consul": "tools.backends.consul:ConsulConfig",
    "kubernetes": "tools.backends.kubernetes:KubernetesConfig",
    "jaeger": "tools.backends.jaeger:JaegerConfig",
    "tempo": "tools.backends.jaeger:JaegerConfig",
    "tls_probe": "tools.backends.tls_probe:TLSProbeConfig",
}


@functools.cache
def _file_model(registry: tuple[tuple[str, str], ...]) -> type[BaseModel]:
    """The whole file's model: `sources` maps each source to the config class its `backend` selects."""
    classes: dict[type[BackendConfig], None] = {}
    for name, target in registry:
        cls = pkgutil.resolve_name(target)
        if name not in cls.model_fields["backend"].annotation.__args__:
            raise TypeError(f"BACKENDS[{name!r}]: {cls.__name__}.backend does not accept {name!r}")
        classes[cls] = None
    union = Annotated[Union[tuple(classes)], Field(discriminator="backend")]
    return create_model("BackendsConfig", __config__=ConfigDict(extra="forbid"),
                        sources=(dict[str, union], Field(default_factory=dict, description="source → its backend")),
                        slack=(dict[str, Any], Field(default_factory=dict, description="read by `fivewhys serve`")),
                        serve=(dict[str, Any], Field(default_factory=dict, description="read by `fivewhys serve`")))


def _problem(err: dict) -> str:
    """One pydantic error as 'key: what', with the key as written in the file (not the union's tag)."""
    loc = [str(p) for p in err["loc"] if p != "[key]"]
    if err["type"] == "union_tag_not_found":
        return f"{'.'.join(loc)}.backend: Field required"
    if err["type"] == "union_tag_invalid":
        return f"{'.'.join(loc)}.backend: unknown backend {err['ctx']['tag']!r}; backends: {', '.join(BACKENDS)}"
    if loc[:1] == ["sources"] and len(loc) > 2:
        del loc[2]                     # the tag pydantic adds after the source name
    return f"{'.'.join(loc)}: {'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}"


def load_backends(path: Path) -> Any:
    """The file's sources, each validated by its backend's config class."""
    try:
        cfg = _file_model(tuple(BACKENDS.items())).model_validate(tomllib.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise TelemetryError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TelemetryError(f"{path}: invalid config: {one_line(e)}") from None
    except ValidationError as e:
        raise TelemetryError(f"{path}: invalid config: {'; '.join(_problem(err) for err in e.errors()[:5])}") from None
    unknown = set(cfg.sources) - set(SOURCES)
    if unknown:
        raise TelemetryError(f"{path}: unknown source(s) {', '.join(sorted(unknown))}; sources: {', '.join(SOURCES)}")
    return cfg


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
    base = SnapshotTelemetry(snapshot) if snapshot else None
    if base is not None:
        incident = base.incident
    elif service and at:
        incident = incident_for(service, at)
    else:
        raise TelemetryError("without a snapshot, --service and --at say what to investigate")
    routes = {s: base for s in SOURCES if base is not None and base.coverage(s).present}
    opened: dict[str, Any] = {}                 # one backend for the sources whose tables are the same
    for source, c in cfg.sources.items():
        key = c.model_dump_json()
        if key not in opened:
            opened[key] = c.open(incident)
        routes[source] = opened[key]
    return CompositeTelemetry(incident, routes)
