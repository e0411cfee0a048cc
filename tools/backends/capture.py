"""`snapshot capture`: turn a live incident into a v1 snapshot (so it can be replayed and scored).

Bounded: metrics at one-minute resolution per (service, instance, zone); logs keep every warn/error line
and a spread sample of the rest; events are kept whole up to a cap."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from .base import EVENT_SOURCES, FIELDS, Filter, Incident
from .snapshot import TIME_OF

MAX_ROWS = {"logs": 200_000, "metrics": 500_000, "spans": 200_000}
INFO_SAMPLE = 20_000


def _json(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v


def capture(telemetry, incident: Incident, out: Path, services: tuple[str, ...] | None = None) -> dict[str, int]:
    from tools.domain.incident import write_snapshot
    w = Filter(start=incident.window.start, end=incident.window.end, services=services or None)
    tables: dict[str, list[dict]] = {}
    if telemetry.coverage("metrics").present:
        rows = []
        for m in telemetry.metric_names(w):
            pts = telemetry.metric_series(w.but(name=m["name"], services=(m["service"],) if m["service"] else w.services),
                                          by=("service", "instance", "zone"), step_s=60)
            rows += [{"time": _json(p["bucket"]), "name": m["name"], "value": p["value"],
                      **{k: p[k] for k in ("service", "instance", "zone") if p.get(k)}} for p in pts]
            if len(rows) >= MAX_ROWS["metrics"]:
                break
        tables["metrics"] = [r for r in rows if r.get("service")][: MAX_ROWS["metrics"]]
    if telemetry.coverage("logs").present:
        keep = telemetry.sample("logs", w.but(levels=("warn", "error", "fatal")), limit=MAX_ROWS["logs"])
        keep += telemetry.sample("logs", w.but(levels=("debug", "info")), limit=INFO_SAMPLE, order="spread")
        tables["logs"] = [_row("logs", r) for r in keep]
    if telemetry.coverage("spans").present:
        errs = telemetry.sample("spans", w.but(status="error"), limit=MAX_ROWS["spans"] // 2)
        rest = telemetry.sample("spans", w, limit=MAX_ROWS["spans"] // 2, order="spread")
        seen = {(r["trace_id"], r["span_id"]) for r in errs}
        tables["spans"] = [_row("spans", r) for r in errs + [r for r in rest if (r["trace_id"], r["span_id"]) not in seen]]
    for source in EVENT_SOURCES:
        if telemetry.coverage(source).present:
            tables[source] = [_row(source, r) for r in telemetry.events(source, w if source != "certificates"
                                                                          else Filter(services=w.services), limit=50_000)]
    incident_doc = incident.model_dump(mode="json")
    write_snapshot(out, incident_doc, None, tables)
    return {k: len(v) for k, v in tables.items()}


def _row(source: str, r: dict) -> dict:
    return {k: _json(r[k]) for k in FIELDS[source] if r.get(k) is not None}


__all__ = ["capture", "TIME_OF"]
