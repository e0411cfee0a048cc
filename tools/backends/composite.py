"""One Telemetry over several backends: each source is answered by the backend configured for it."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from tools.domain.errors import QueryError

from .base import EVENT_SOURCES, SOURCES, Coverage, Filter, Incident, Source, TelemetryError, TimeWindow


@contextmanager
def reading(sources: str) -> Iterator[None]:
    """A backend's failure names the source(s) it was answering, so the report can say which data is missing."""
    try:
        yield
    except QueryError:
        raise
    except TelemetryError as e:
        raise TelemetryError(f"{sources}: {e}") from None


class CompositeTelemetry:
    def __init__(self, incident: Incident, routes: dict[str, Any]):
        """routes: source → backend object answering the Telemetry primitives for that source."""
        self.incident = incident
        self.routes = routes

    def _for(self, source: str):
        return self.routes.get(source)

    def coverage(self, source: Source) -> Coverage:
        b = self._for(source)
        with reading(source):
            return b.coverage(source) if b is not None else Coverage(present=False)

    def services(self, window: TimeWindow) -> set[str]:
        found: set[str] = set()
        for b in self._backends():
            with reading(", ".join(s for s, r in self.routes.items() if r is b)):
                found |= b.services(window)
        return found

    def count(self, source, where: Filter, by=(), bucket_s=None, limit=10_000):
        b = self._for(source)
        with reading(source):
            return b.count(source, where, by, bucket_s, limit) if b is not None else []

    def sample(self, source, where, limit=20, order="time"):
        b = self._for(source)
        with reading(source):
            return b.sample(source, where, limit, order) if b is not None else []

    def metric_series(self, where, by=(), step_s=60, agg="avg"):
        b = self._for("metrics")
        with reading("metrics"):
            return b.metric_series(where, by, step_s, agg) if b is not None else []

    def metric_names(self, where):
        b = self._for("metrics")
        with reading("metrics"):
            return b.metric_names(where) if b is not None else []

    def span_edges(self, where, limit=500):
        b = self._for("spans")
        if b is None:
            return []
        with reading("spans"):
            edges = b.span_edges(where, limit)
        known = self.services(self.incident.window)        # a callee is external when no backend has its telemetry
        for e in edges:
            e["external"] = e["callee"] not in known
        return edges

    def span_latency(self, where, by=("service",), bucket_s=None, limit=10_000):
        b = self._for("spans")
        with reading("spans"):
            return b.span_latency(where, by, bucket_s, limit) if b is not None else []

    def span_calls(self, where, split, limit=2000):
        b = self._for("spans")
        with reading("spans"):
            return b.span_calls(where, split, limit) if b is not None else []

    def events(self, source, where, limit=200):
        b = self._for(source)
        with reading(source):
            return b.events(source, where, limit) if b is not None and source in EVENT_SOURCES else []

    def close(self) -> None:
        for b in self._backends():
            b.close()

    def _backends(self) -> list[Any]:
        """Each backend once, though it may answer several sources."""
        return list({id(b): b for b in self.routes.values()}.values())


__all__ = ["CompositeTelemetry", "SOURCES"]
