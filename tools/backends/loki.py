"""Logs from Grafana Loki: LogQL pushed down (`sum by (...) (count_over_time(...))` for counts, filtered
stream queries for samples), paginated, bounded, time-ranged.

Response shapes follow the Loki HTTP API reference (/loki/api/v1/query_range: resultType "streams" with
[ns, line] values, or "matrix" with [seconds, "count"] values)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Literal

import httpx
from pydantic import Field

from .http import request
from .base import Coverage, Filter, Incident, LabelsConfig, TelemetryError, TimeWindow, checked_regex

PAGE = 5000                      # Loki's default max_entries_limit_per_query


class LokiConfig(LabelsConfig):
    """`backend = "loki"`: logs. The level may be a stream label or extracted by your pipeline."""
    backend: Literal["loki"]
    level_label: str = Field("level", description="Label that holds the log level.")

    def open(self, incident: Incident) -> LokiLogs:
        return LokiLogs(self.url, self.service_label, self.level_label, self.instance_label, self.zone_label,
                        self.timeout_s, headers=self.bearer())


class LokiLogs:
    def __init__(self, url: str, service_label: str = "service", level_label: str = "level",
                 instance_label: str = "instance", zone_label: str = "zone", timeout: float = 30.0,
                 headers: dict[str, str] | None = None, client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self.labels = {"service": service_label, "level": level_label, "instance": instance_label, "zone": zone_label}
        self.http = client or httpx.Client(timeout=timeout, headers=headers or {})

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        r = request(self.http, "GET", f"{self.url}{path}", f"loki at {self.url}", params=params)
        if r.status_code != 200:
            raise TelemetryError(f"loki at {self.url}: HTTP {r.status_code}: {r.text[:200]}")
        try:
            return r.json()["data"]
        except (ValueError, KeyError):
            raise TelemetryError(f"loki at {self.url}: unexpected response") from None

    def _query(self, where: Filter, levels: tuple[str, ...] | None = None) -> str:
        sel = [f'{self.labels["service"]}=~"{_q("|".join(map(re.escape, where.services)))}"' if where.services
               else f'{self.labels["service"]}=~".+"']
        q = "{" + ", ".join(sel) + "}"
        levels = levels or where.levels
        if levels:
            q += f' | {self.labels["level"]}=~"{"|".join(levels)}"'
        if where.text:
            rx = checked_regex(where.text) if where.regex else re.escape(where.text)
            q += f' |~ "(?i){_q(rx)}"'
        return q

    def coverage(self, source: str) -> Coverage:
        return Coverage(present=source == "logs", files=[self.url])

    def count(self, source, where: Filter, by=(), bucket_s=None, limit=10_000):
        group = ", ".join(self.labels[b] for b in by if b in self.labels)
        rng = int(bucket_s or (where.end - where.start).total_seconds())
        out: dict[tuple, dict] = {}
        for key, levels in (("n", None), ("errors", ("error", "fatal"))):
            expr = f"sum by ({group}) (count_over_time({self._query(where, levels)} [{rng}s]))"
            data = self._get("/loki/api/v1/query_range", {
                "query": expr, "start": _ns(where.start), "end": _ns(where.end), "step": f"{rng}s"})
            for series in data.get("result", []):
                for ts, val in series.get("values", []):
                    bucket = datetime.fromtimestamp(float(ts) - rng, tz=timezone.utc)
                    k = tuple(series["metric"].get(self.labels[b]) for b in by) + ((bucket,) if bucket_s else ())
                    row = out.setdefault(k, {**{b: series["metric"].get(self.labels[b]) for b in by},
                                             **({"bucket": bucket} if bucket_s else {}), "n": 0, "errors": 0})
                    row[key] += int(float(val))
        rows = [r for r in out.values() if r["n"]]
        return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))[:limit]

    def sample(self, source, where: Filter, limit=20, order="time"):
        rows, start, end = [], _ns(where.start), _ns(where.end)
        while len(rows) < limit:
            data = self._get("/loki/api/v1/query_range", {"query": self._query(where), "start": start, "end": end,
                                                          "limit": min(PAGE, limit - len(rows)),
                                                          "direction": "forward"})
            page = sorted(((int(ts), s["stream"], line) for s in data.get("result", []) for ts, line in s["values"]),
                          key=lambda p: p[0])
            rows += [self._row(ts, labels, line) for ts, labels, line in page]
            if len(page) < PAGE:
                break
            start = page[-1][0] + 1                # the next page starts after the last entry we have
        return rows[:limit]

    def _row(self, ts: int, labels: dict, line: str) -> dict:
        msg, attrs = line, {}
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                msg = str(obj.pop("message", obj.pop("msg", line)))
                attrs = obj
            except ValueError:
                pass
        return {"time": datetime.fromtimestamp(ts / 1e9, tz=timezone.utc), "message": msg,
                **{k: labels.get(v) for k, v in self.labels.items()}, "trace_id": attrs.get("trace_id"),
                "attributes": attrs}

    def services(self, window: TimeWindow) -> set[str]:
        try:                # without start and end, Loki answers for the last six hours only
            return set(self._get(f"/loki/api/v1/label/{self.labels['service']}/values",
                                 {"start": _ns(window.start), "end": _ns(window.end)}))
        except TelemetryError:
            return set()

    def close(self) -> None:
        self.http.close()


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


def _q(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')
