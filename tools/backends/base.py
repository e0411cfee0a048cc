"""The Telemetry protocol: the primitive, read-only queries every backend answers.

Tools are written against these primitives only, so a live backend (Prometheus,
Loki, Elasticsearch, ...) plugs in by answering the same few questions and pushing
filtering and aggregation down to its store. Every primitive is bounded by a
time range and a row limit.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tools.domain.errors import QueryError, TelemetryError
from tools.domain.incident import (EVENT_SOURCES, FIELDS, LEVELS, REQUIRED, SOURCES, TIME_FIELDS, Alert,
                                    Incident, Source, TimeWindow, UtcTime, as_utc)

__all__ = ["EVENT_SOURCES", "FIELDS", "LEVELS", "REQUIRED", "SOURCES", "TIME_FIELDS", "Alert", "BackendConfig",
           "Coverage", "Filter", "HTTPBackendConfig", "Incident", "LabelsConfig", "Source", "Telemetry",
           "TelemetryError", "TimeWindow", "UtcTime", "as_utc"]

# What Python's re accepts and RE2 (DuckDB's and Loki's regex engine) does not: look-around, back-references,
# atomic groups. Caught before the query, so a model's pattern is its mistake to fix, not data that failed to read.
NOT_RE2 = re.compile(r"\(\?<?[=!]|\(\?>|\\[1-9]|\(\?P=")


def checked_regex(text: str) -> str:
    """The pattern, or a QueryError saying what to change."""
    try:
        re.compile(text)
    except re.error as e:
        raise QueryError(f"invalid regex {text!r}: {e}") from None
    if (m := NOT_RE2.search(text)):
        raise QueryError(f"regex {text!r} uses {m.group(0)!r}: the log stores' regex (RE2) has no look-around, "
                         f"back-references or atomic groups; match what you want and narrow it with another "
                         f"filter (service, level) or a second search instead")
    return text


@dataclass(frozen=True)
class Filter:
    """A bounded selection of rows. None means 'any'."""
    start: datetime | None = None
    end: datetime | None = None
    services: tuple[str, ...] | None = None
    levels: tuple[str, ...] | None = None          # logs
    text: str | None = None                        # logs: substring (case-insensitive) or regex
    regex: bool = False
    name: str | None = None                        # metrics
    status: str | None = None                      # spans, deployments, scaling
    kinds: tuple[str, ...] | None = None           # spans: server/client/internal
    peer_service: str | None = None                # spans
    trace_ids: tuple[str, ...] | None = None

    def but(self, **changes: Any) -> "Filter":
        return replace(self, **changes)


@dataclass
class Coverage:
    """What a source holds: whether it exists, how many rows, which time span."""
    present: bool
    rows: int = 0
    first: datetime | None = None
    last: datetime | None = None
    skipped_lines: int = 0       # malformed records the loader had to drop
    cut_short: list[str] = field(default_factory=list)   # files whose end is missing (a torn gzip stream)
    files: list[str] = field(default_factory=list)
    capped: list[str] = field(default_factory=list)      # what the loader's caps left out (tools/backends/caps.py)



@runtime_checkable
class Telemetry(Protocol):
    incident: Incident

    def coverage(self, source: Source) -> Coverage: ...

    def services(self, window: TimeWindow) -> set[str]:
        """The services with telemetry of their own in the window (a peer seen only in others' spans is not
        one). Certificates count whatever their dates: they are state, not events."""
        ...

    def count(self, source: Source, where: Filter, by: tuple[str, ...] = (), bucket_s: int | None = None,
              limit: int = 10_000) -> list[dict[str, Any]]:
        """Row counts grouped by fields (and by time bucket as 'bucket').

        Each row has the `by` fields, 'bucket' when bucket_s is set, 'n' (rows) and 'errors'
        (logs at error/fatal, spans with status error)."""
        ...

    def sample(self, source: Source, where: Filter, limit: int = 20,
               order: Literal["time", "spread"] = "time") -> list[dict[str, Any]]:
        """Up to `limit` records matching `where`, oldest first, or a deterministic spread over them."""
        ...

    def metric_series(self, where: Filter, by: tuple[str, ...] = (), step_s: int = 60,
                      agg: Literal["avg", "max", "sum", "min"] = "avg") -> list[dict[str, Any]]:
        """Rows {by fields..., bucket, value} for one metric name (where.name), aggregated per step. `by` may
        name `peer_service`: the callee of a per-edge series (a service mesh's client- or server-side latency
        per caller→callee edge), None for series that are not per edge."""
        ...

    def metric_names(self, where: Filter) -> list[dict[str, Any]]:
        """Rows {service, name, n} of the metric series present."""
        ...

    def span_edges(self, where: Filter, limit: int = 500) -> list[dict[str, Any]]:
        """Caller→callee edges: {caller, callee, calls, errors, p50_ms, p99_ms, external}.

        `external` is true when the callee emits no telemetry of its own."""
        ...

    def span_latency(self, where: Filter, by: tuple[str, ...] = ("service",), bucket_s: int | None = None,
                     limit: int = 10_000) -> list[dict[str, Any]]:
        """Span latency grouped by fields (and time bucket as 'bucket'): {by..., n, errors, with_status,
        p50_ms, p90_ms, self_p50_ms, self_p90_ms}. Self time is a span's duration minus its children's: the
        time spent in the service itself (or, for a client span, on the wire and in the callee's queue)."""
        ...

    def span_calls(self, where: Filter, split: datetime, limit: int = 2000) -> list[dict[str, Any]]:
        """The calls each handler makes, before and after `split`: per parent (service, operation) and child
        (child_service, child_operation, child_peer), rows {requests_before, requests_after, calls_before,
        calls_after}; requests count the parent spans in `where`, calls their children."""
        ...

    def events(self, source: Source, where: Filter, limit: int = 200) -> list[dict[str, Any]]:
        """Deployment, scaling, certificate or registry records, oldest first."""
        ...

    def close(self) -> None: ...


# ---- configuration: one [sources.NAME] table per source -------------------------------------------------------
class BackendConfig(BaseModel):
    """A source's table in the TOML file. Each backend subclasses it with `backend: Literal[...]` (which
    selects the class), its own fields and `open`; a key the class does not know is an error."""
    model_config = ConfigDict(extra="forbid")
    backend: str

    def open(self, incident: Incident) -> Any:
        """The backend answering the Telemetry primitives for the sources routed to it."""
        raise NotImplementedError


class HTTPBackendConfig(BackendConfig):
    url: str = Field(description="Base URL of the store.")
    token_env: str | None = Field(None, description="Environment variable holding the token (never the file).")
    timeout_s: float = Field(30.0, description="Per-request timeout in seconds.")

    def token(self) -> str | None:
        return os.environ.get(self.token_env) if self.token_env else None

    def bearer(self) -> dict[str, str] | None:
        token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else None


class LabelsConfig(HTTPBackendConfig):
    """Stores whose series or streams carry the service, instance and zone as labels."""
    service_label: str = Field("service", description="Label that names the service (\"job\" is common too).")
    instance_label: str = Field("instance", description="Label that names the instance.")
    zone_label: str = Field("zone", description="Label that names the zone.")
