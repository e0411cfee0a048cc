"""Small statistics the tools share: the baseline period, shift detection, error onsets."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from tools.backends.base import Filter, Incident, Telemetry
from tools.results import ErrorOnset

BUCKET_S = 60


def alert_time(incident: Incident) -> datetime:
    w = incident.window
    at = incident.alert.at
    return at if at and w.start < at <= w.end else w.start + (w.end - w.start) * 2 / 3


def baseline_end(incident: Incident) -> datetime:
    """The first half of the time before the page is taken as 'normal'.

    Halving keeps a slow fault (a leak, a filling disk) that began well before the page
    out of the baseline it is compared against."""
    start = incident.window.start
    return start + (alert_time(incident) - start) / 2


@dataclass
class Shift:
    onset: datetime | None       # first bucket of a sustained rise above the baseline
    baseline: float              # mean over the baseline period
    spread: float                # standard deviation over the baseline period
    peak: float
    peak_at: datetime | None
    after: float                 # mean from the onset (or the baseline end) on

    @property
    def ratio(self) -> float:
        return self.peak / self.baseline if self.baseline > 0 else float("inf") if self.peak > 0 else 1.0


def detect_shift(points: Iterable[tuple[datetime, float]], base_end: datetime, min_delta: float,
                 rel: float = 3.0, sustain: int = 3, of: int = 5, direction: int = 1) -> Shift:
    """Find where a series leaves its baseline for good.

    Threshold: beyond mean + max(4σ, min_delta, (rel-1)·mean) in `direction`; held in at
    least `sustain` of `of` consecutive buckets, so one noisy minute is not an onset."""
    pts = sorted((t, v) for t, v in points if v is not None)
    base = [v for t, v in pts if t < base_end]
    mean = statistics.fmean(base) if base else 0.0
    sd = statistics.pstdev(base) if len(base) > 1 else 0.0
    delta = max(4 * sd, min_delta, (rel - 1) * abs(mean))
    after = [(t, v) for t, v in pts if t >= base_end]
    hit = [direction * (v - mean) > delta for _, v in after]
    onset = None
    for i, (t, _) in enumerate(after):
        if hit[i] and sum(hit[i:i + of]) >= min(sustain, len(hit) - i):
            onset = t
            break
    peak_t, peak = (max(after, key=lambda p: direction * p[1]) if after else (None, mean))
    tail = [v for t, v in after if onset is None or t >= onset]
    return Shift(onset, mean, sd, peak, peak_t, statistics.fmean(tail) if tail else mean)


def compute_onsets(telemetry: Telemetry, services: Iterable[str] | None = None) -> list[ErrorOnset]:
    """When each service's errors rose above its own baseline, earliest first."""
    inc = telemetry.incident
    w = Filter(start=inc.window.start, end=inc.window.end, services=tuple(services) if services else None)
    b_end = baseline_end(inc)
    found: dict[str, ErrorOnset] = {}

    def consider(service: str, signal: str, shift: Shift, errors: int) -> None:
        if shift.onset is None:
            return
        cur = found.get(service)
        if cur is None or shift.onset < cur.onset:
            found[service] = ErrorOnset(service, shift.onset, signal, shift.baseline, shift.peak, errors)

    for source in ("logs", "spans"):
        if not telemetry.coverage(source).present:
            continue
        per: dict[str, list[tuple[datetime, int, int]]] = {}
        for r in telemetry.count(source, w, by=("service",), bucket_s=BUCKET_S, limit=1_000_000):
            per.setdefault(r["service"], []).append((r["bucket"], r["errors"], r["n"]))
        for service, rows in per.items():
            if not any(e for _, e, _ in rows):
                continue
            # Errors per minute, counted only where they are a real share of the traffic,
            # so a traffic peak with the usual background errors is not an onset.
            shift = detect_shift(((t, e) for t, e, _ in rows), b_end, min_delta=1.0)
            ratio = detect_shift(((t, e / n if n else 0.0) for t, e, n in rows), b_end, min_delta=0.02)
            if shift.onset and ratio.onset:
                onset = max(shift.onset, ratio.onset)
                errs = sum(e for t, e, _ in rows if t >= onset)
                consider(service, source, Shift(onset, shift.baseline, shift.spread, shift.peak,
                                                shift.peak_at, shift.after), errs)
    if telemetry.coverage("metrics").present:
        for name, min_delta in (("error_rate", 0.02), ("connection_errors", 1.0)):
            per_m: dict[str, list[tuple[datetime, float]]] = {}
            for r in telemetry.metric_series(w.but(name=name), by=("service",), step_s=BUCKET_S):
                if r["service"]:
                    per_m.setdefault(r["service"], []).append((r["bucket"], r["value"]))
            for service, pts in per_m.items():
                consider(service, f"metrics:{name}", detect_shift(pts, b_end, min_delta=min_delta), 0)
    return sorted(found.values(), key=lambda o: (o.onset, -o.peak))


def bucket_floor(t: datetime, seconds: int = BUCKET_S) -> datetime:
    epoch = t.timestamp()
    return t - timedelta(seconds=epoch % seconds)
