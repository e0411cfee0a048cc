"""`snapshot import`: plain log files (JSON lines, logfmt, text lines with a timestamp) and Kubernetes
event dumps (`kubectl get events -o json`) into a v1 snapshot. Streamed line by line; lines that cannot
be read are counted, not fatal."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .base import as_utc

TS = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|FATAL|CRITICAL|PANIC)\b", re.I)
LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "notice": "info", "warn": "warn", "warning": "warn",
          "error": "error", "err": "error", "fatal": "fatal", "critical": "fatal", "panic": "fatal"}
LOGFMT = re.compile(r'(\w[\w.-]*)=("(?:[^"\\]|\\.)*"|\S+)')


def _time(s: str) -> str | None:
    try:
        t = datetime.fromisoformat(s.replace(",", ".").replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(t).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_line(line: str, service: str) -> dict | None:
    line = line.rstrip("\n")
    if not line.strip():
        return None
    if line.lstrip().startswith("{"):
        try:
            o = json.loads(line)
            t = _time(str(o.pop("time", o.pop("timestamp", o.pop("ts", o.pop("@timestamp", ""))))))
            msg = o.pop("message", o.pop("msg", None))
            if t and msg is not None:
                lvl = LEVELS.get(str(o.pop("level", o.pop("severity", "info"))).lower(), "info")
                return {"time": t, "service": str(o.pop("service", service)), "level": lvl, "message": str(msg),
                        **({"trace_id": str(o.pop("trace_id"))} if "trace_id" in o else {}), "attributes": o}
        except ValueError:
            pass
    pairs = dict((k, v.strip('"')) for k, v in LOGFMT.findall(line))
    if ("time" in pairs or "ts" in pairs) and ("msg" in pairs or "message" in pairs):
        t = _time(pairs.pop("time", pairs.pop("ts", "")))
        if t:
            return {"time": t, "service": pairs.pop("service", service),
                    "level": LEVELS.get(pairs.pop("level", "info").lower(), "info"),
                    "message": pairs.pop("msg", pairs.pop("message", "")), "attributes": pairs}
    m = TS.search(line)
    if m and (t := _time(m.group(1))):
        rest = (line[: m.start()] + line[m.end():]).strip(" -|[]")
        lvl = LEVEL.search(rest)
        return {"time": t, "service": service, "level": LEVELS.get(lvl.group(1).lower(), "info") if lvl else "info",
                "message": rest}
    return None


def import_logs(paths: list[Path]) -> tuple[list[dict], int]:
    rows, skipped = [], 0
    for p in paths:
        service = p.name.split(".")[0]
        with open(p, encoding="utf-8", errors="replace") as f:
            for line in f:
                rec = parse_line(line, service)
                if rec is None:
                    skipped += bool(line.strip())
                else:
                    rows.append(rec)
    return rows, skipped


def _json_file(path: Path, what: str) -> dict:
    """A JSON document, or a ValueError that names the file and what it should have been."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path}: not {what}: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not {what}: expected a JSON object, got {type(doc).__name__}")
    return doc


def workload_of(kind: str, name: str) -> str:
    """The workload a Kubernetes object belongs to: Deployment pods are <name>-<template hash>-<5 chars>,
    ReplicaSets <name>-<template hash>, StatefulSet pods <name>-<ordinal>. Hashes and suffixes use
    Kubernetes' vowel-free alphabet, which keeps words like "shipper" from looking like one."""
    h = "[bcdfghjklmnpqrstvwxz2456789]"
    if kind == "Pod":
        return re.sub(rf"(-{h}{{6,10}}-{h}{{5}}|-{h}{{5}}|-\d+)$", "", name) or name
    if kind == "ReplicaSet":
        return re.sub(rf"-{h}{{6,10}}$", "", name) or name
    return name


def import_k8s_events(path: Path) -> dict[str, list[dict]]:
    """Scaling (HPA, FailedScheduling), deployments (ScalingReplicaSet) and registry (Killing/Unhealthy)."""
    items = _json_file(path, "a Kubernetes event list (kubectl get events -o json)").get("items", [])
    out: dict[str, list[dict]] = {"scaling": [], "deployments": [], "logs": []}
    for e in items:
        obj = e.get("involvedObject") or e.get("regarding") or {}
        t = _time(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or "")
        if not t:
            continue
        name = obj.get("name", "")
        service = workload_of(obj.get("kind", ""), name)
        reason, msg = e.get("reason", ""), e.get("message", "")
        failed = e.get("type") == "Warning"
        if obj.get("kind") == "HorizontalPodAutoscaler" or reason in ("FailedScheduling", "FailedScale",
                                                                       "SuccessfulRescale"):
            size = re.search(r"New size: (\d+)", msg)          # the HPA's own words for its target
            out["scaling"].append({"time": t, "service": service, "action": "scale_up",
                                   "status": "failed" if failed else "succeeded", "message": f"{reason}: {msg}",
                                   **({"desired_count": int(size.group(1))} if size else {})})
        elif reason == "ScalingReplicaSet":
            out["deployments"].append({"time": t, "service": service, "kind": "deploy", "status": "in_progress",
                                       "description": msg})
        out["logs"].append({"time": t, "service": service, "level": "warn" if failed else "info",
                            "message": f"k8s {obj.get('kind', '')}/{name} {reason}: {msg}"})
    return out


OTLP_KINDS = {1: "internal", 2: "server", 3: "client", 4: "client", 5: "server"}


def _otlp_value(v: dict):
    for k in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if k in v:
            return int(v[k]) if k == "intValue" else v[k]
    return None


def import_otlp(path: Path) -> list[dict]:
    """OTLP JSON trace export (resourceSpans → scopeSpans → spans) into v1 span records."""
    doc = _json_file(path, "an OTLP JSON trace export")
    rows = []
    for rs in doc.get("resourceSpans", []):
        res = {a["key"]: _otlp_value(a.get("value", {})) for a in rs.get("resource", {}).get("attributes", [])}
        service = res.get("service.name") or "unknown"
        for ss in rs.get("scopeSpans", rs.get("instrumentationLibrarySpans", [])):
            for sp in ss.get("spans", []):
                attrs = {a["key"]: _otlp_value(a.get("value", {})) for a in sp.get("attributes", [])}
                start, end = int(sp["startTimeUnixNano"]), int(sp.get("endTimeUnixNano", sp["startTimeUnixNano"]))
                kind = OTLP_KINDS.get(sp.get("kind") if isinstance(sp.get("kind"), int) else 0, "internal")
                status = sp.get("status", {})
                if status.get("message"):
                    attrs.setdefault("exception.message", status["message"])
                peer = attrs.get("peer.service") or attrs.get("server.address") or attrs.get("net.peer.name")
                rows.append({"time": datetime.fromtimestamp(start / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z"),
                             "trace_id": sp["traceId"], "span_id": sp["spanId"],
                             **({"parent_span_id": sp["parentSpanId"]} if sp.get("parentSpanId") else {}),
                             "service": service, "operation": sp.get("name"), "kind": kind,
                             "status": "error" if status.get("code") in (2, "STATUS_CODE_ERROR") else "ok",
                             "duration_ms": (end - start) / 1e6,
                             **({"peer_service": peer} if peer and kind == "client" else {}), "attributes": attrs})
    return rows


def write_import(out: Path, logs: list[Path], k8s_events: list[Path], incident_id: str | None = None,
                 otlp: list[Path] | None = None) -> dict:
    from tools.domain.incident import write_snapshot
    rows, skipped = import_logs(logs)
    tables: dict[str, list[dict]] = {"logs": rows}
    for p in k8s_events:
        for k, v in import_k8s_events(p).items():
            tables.setdefault(k, []).extend(v)
    for p in otlp or []:
        tables.setdefault("spans", []).extend(import_otlp(p))
    tables = {k: v for k, v in tables.items() if v}
    times = sorted(datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for v in tables.values() for r in v)
    if not times:
        raise ValueError("nothing to import: no line had a readable timestamp")
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    window = {"start": iso(times[0]), "end": iso(max(times[-1], times[0] + timedelta(minutes=1)))}
    errors = sorted((r for r in tables.get("logs", []) if r["level"] in ("error", "fatal")), key=lambda r: r["time"][:19])
    first = errors[0] if errors else None
    n_files = len(logs) + len(k8s_events) + len(otlp or [])
    incident = {"format": 1, "id": incident_id or out.name, "title": f"imported from {n_files} file(s)",
                "window": window,
                "alert": {"at": first["time"] if first else window["end"], "service": first["service"] if first else None,
                          "summary": first["message"][:200] if first else "imported logs"}, "question": None}
    write_snapshot(out, incident, None, tables)
    return {"skipped_lines": skipped, **{k: len(v) for k, v in tables.items()}}


__all__ = ["parse_line", "import_logs", "import_k8s_events", "import_otlp", "write_import"]
