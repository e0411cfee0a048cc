"""`snapshot import`: plain log files (JSON lines, logfmt, text lines with a timestamp) and Kubernetes
event dumps (`kubectl get events -o json`) into a v1 snapshot. Streamed line by line; lines that cannot
be read are counted, not fatal."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

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
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


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


def import_k8s_events(path: Path) -> dict[str, list[dict]]:
    """Scaling (HPA, FailedScheduling), deployments (ScalingReplicaSet) and registry (Killing/Unhealthy)."""
    items = json.loads(path.read_text(encoding="utf-8", errors="replace")).get("items", [])
    out: dict[str, list[dict]] = {"scaling": [], "deployments": [], "logs": []}
    for e in items:
        obj = e.get("involvedObject") or e.get("regarding") or {}
        t = _time(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or "")
        if not t:
            continue
        name = obj.get("name", "")
        service = re.sub(r"-[a-z0-9]{8,10}(-[a-z0-9]{5})?$", "", name)
        reason, msg = e.get("reason", ""), e.get("message", "")
        failed = e.get("type") == "Warning"
        if obj.get("kind") == "HorizontalPodAutoscaler" or reason in ("FailedScheduling", "FailedScale",
                                                                       "SuccessfulRescale"):
            out["scaling"].append({"time": t, "service": service, "action": "scale_up",
                                   "status": "failed" if failed else "succeeded", "message": f"{reason}: {msg}"})
        elif reason == "ScalingReplicaSet":
            out["deployments"].append({"time": t, "service": service, "kind": "deploy", "status": "in_progress",
                                       "description": msg})
        out["logs"].append({"time": t, "service": service, "level": "warn" if failed else "info",
                            "message": f"k8s {obj.get('kind', '')}/{name} {reason}: {msg}"})
    return out


def write_import(out: Path, logs: list[Path], k8s_events: list[Path], incident_id: str | None = None) -> dict:
    from evals.demo_incident import write_snapshot
    rows, skipped = import_logs(logs)
    tables: dict[str, list[dict]] = {"logs": rows}
    for p in k8s_events:
        for k, v in import_k8s_events(p).items():
            tables.setdefault(k, []).extend(v)
    tables = {k: v for k, v in tables.items() if v}
    times = sorted(r["time"] for v in tables.values() for r in v)
    if not times:
        raise ValueError("nothing to import: no line had a readable timestamp")
    errors = [r for r in tables.get("logs", []) if r["level"] in ("error", "fatal")]
    first = errors[0] if errors else None
    incident = {"format": 1, "id": incident_id or out.name, "title": f"imported from {len(logs) + len(k8s_events)} file(s)",
                "window": {"start": times[0], "end": times[-1]},
                "alert": {"at": first["time"] if first else times[-1], "service": first["service"] if first else None,
                          "summary": first["message"][:200] if first else "imported logs"}, "question": None}
    write_snapshot(out, incident, None, tables)
    return {"skipped_lines": skipped, **{k: len(v) for k, v in tables.items()}}


__all__ = ["parse_line", "import_logs", "import_k8s_events", "write_import"]
