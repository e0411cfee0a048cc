"""The Telemetry protocol: the primitive, read-only queries every backend answers.

Tools are written against these primitives only, so a live backend (Prometheus,
Loki, Elasticsearch, ...) plugs in by answering the same few questions and pushing
filtering and aggregation down to its store. Every primitive is bounded by a
time range and a row limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from tools.domain.errors import TelemetryError
from tools.domain.incident import (EVENT_SOURCES, FIELDS, LEVELS, REQUIRED, SOURCES, TIME_FIELDS, Alert,
                                    Incident, Source, TimeWindow, UtcTime, as_utc)

__all__ = ["EVENT_SOURCES", "FIELDS", "LEVELS", "REQUIRED", "SOURCES", "TIME_FIELDS", "Alert", "Coverage", "Filter",
           "Incident", "Source", "Telemetry", "TelemetryError", "TimeWindow", "UtcTime", "as_utc"]

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
    zone: str | None = None
    instance: str | None = None
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

    def count(self, source: Source, where: Filter, by: tuple[str, ...] = (), bucket_s: int | None = None,
              error_only: bool = False, limit: int = 10_000) -> list[dict[str, Any]]:
        """Row counts grouped by fields (and by time bucket as 'bucket'); with error_only, also 'errors'.

        Each row has the `by` fields, 'bucket' when bucket_s is set, 'n' (rows) and 'errors'
        (logs at error/fatal, spans with status error)."""
        ...

    def sample(self, source: Source, where: Filter, limit: int = 20,
               order: Literal["time", "-time", "spread"] = "time") -> list[dict[str, Any]]:
        """Up to `limit` records matching `where`."""
        ...

    def metric_series(self, where: Filter, by: tuple[str, ...] = (), step_s: int = 60,
                      agg: Literal["avg", "max", "sum", "min"] = "avg") -> list[dict[str, Any]]:
        """Rows {by fields..., bucket, value} for one metric name (where.name), aggregated per step."""
        ...

    def metric_names(self, where: Filter) -> list[dict[str, Any]]:
        """Rows {service, name, n} of the metric series present."""
        ...

    def span_edges(self, where: Filter, limit: int = 500) -> list[dict[str, Any]]:
        """Caller→callee edges: {caller, callee, calls, errors, p50_ms, p99_ms, external}.

        `external` is true when the callee emits no telemetry of its own."""
        ...

    def events(self, source: Source, where: Filter, limit: int = 200) -> list[dict[str, Any]]:
        """Deployment, scaling, certificate or registry records, oldest first."""
        ...

    def distinct(self, source: Source, field: str, where: Filter, limit: int = 1000) -> list[dict[str, Any]]:
        """Distinct values of `field` with row counts: {value, n}."""
        ...

    def close(self) -> None: ...
