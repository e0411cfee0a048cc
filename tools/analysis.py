"""Small statistics the tools share: the baseline period, shift detection, error onsets."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from itertools import accumulate
from datetime import datetime, timedelta
from typing import Iterable

from tools.backends.base import Filter, Incident, Telemetry
from tools.results import ErrorOnset, LogTemplate

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


# A statement that stopped: written steadily before (STEADY_MIN lines), expected STOPPED_MIN times after at the
# pace of the other lines (a quieter minute is no stop), of which at most STOPPED_LEFT came. A caught exception
# or an early return leaves no error line; the lines after it stop.
STEADY_MIN, STOPPED_MIN, STOPPED_LEFT = 5, 8, 0.2


def line_pace(rows: list[LogTemplate]) -> float:
    """Lines after the split per line before it, over all the rows: what a steady statement's count scales by."""
    return sum(r.after for r in rows) / max(sum(r.before for r in rows), 1)


def mark_stopped(rows: list[LogTemplate]) -> None:
    """Mark the statements that stopped after the split, against the pace of all the rows' lines."""
    pace = line_pace(rows)
    for r in rows:
        expected = r.before * pace
        r.stopped = r.before >= STEADY_MIN and expected >= STOPPED_MIN and r.after <= STOPPED_LEFT * expected


def poisson_z(observed: float, expected: float) -> float:
    """How many Poisson σ a count lies above what was expected (negative: below); the expectation floored at 1."""
    return (observed - expected) / math.sqrt(max(expected, 1.0))


def proportion_z(k_before: int, n_before: int, k_after: int, n_after: int) -> float:
    """The pooled two-proportion z of the share after vs before (negative: it fell): requests that reached a step."""
    pooled = (k_before + k_after) / (n_before + n_after)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_before + 1 / n_after)) if 0 < pooled < 1 else 0.0
    return (k_after / n_after - k_before / n_before) / se if se else 0.0


@dataclass
class Shift:
    onset: datetime | None       # first bucket of a sustained rise above the baseline
    baseline: float              # mean over the baseline period
    spread: float                # standard deviation over the baseline period
    peak: float
    peak_at: datetime | None
    after: float                 # mean from the onset (or the baseline end) on
    last_hit: datetime | None = None     # the last bucket beyond the threshold
    quiet_after: int = 0                 # buckets after last_hit, none beyond it: the rise may have ended

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
    last = max((i for i, h in enumerate(hit) if h), default=None)
    return Shift(onset, mean, sd, peak, peak_t, statistics.fmean(tail) if tail else mean,
                 after[last][0] if last is not None else None, len(after) - 1 - last if last is not None else 0)


def compute_onsets(telemetry: Telemetry, services: Iterable[str] | None = None) -> list[ErrorOnset]:
    """When each service's errors rose above its own baseline, earliest first."""
    inc = telemetry.incident
    w = Filter(start=inc.window.start, end=inc.window.end, services=tuple(services) if services else None)
    b_end = baseline_end(inc)
    found: dict[str, ErrorOnset] = {}

    page = alert_time(inc)

    def consider(service: str, signal: str, shift: Shift, errors: int) -> None:
        if shift.onset is None:
            return
        cur = found.get(service)
        if cur is None or shift.onset < cur.onset:
            found[service] = ErrorOnset(service, shift.onset, signal, shift.baseline, shift.peak, errors,
                                        ended_at=shift.last_hit if ended(shift, page) else None)

    for source in ("logs", "spans"):
        cov = telemetry.coverage(source)
        # A source with no record in the baseline has nothing to rise above: its first errors are where its
        # records begin (missing, not quiet), not an onset.
        if not cov.present or (cov.first is not None and cov.first >= b_end):
            continue
        for service, rows in _error_counts(telemetry, source, w).items():
            rows = _whole_minutes(rows, min(w.end, cov.last) if cov.last else w.end)
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


ENDED = timedelta(minutes=5)     # errors back at their baseline this long before the page: another episode
ENDED_BUCKETS = 3                # … over at least this many buckets with data


def ended(shift: Shift, page: datetime) -> bool:
    """A rise of errors that was over well before the page (back to baseline in every bucket since, with data
    there) is not what was paged for: an earlier episode, not the symptom to explain."""
    return (shift.last_hit is not None and page - shift.last_hit > ENDED and shift.quiet_after >= ENDED_BUCKETS)


ANSWERS = ("server", "consumer")    # span kinds that are a service's answers to others, not its own calls


def _error_counts(telemetry: Telemetry, source: str, w: Filter) -> dict[str, list[tuple[datetime, int, int]]]:
    """Per service, per minute: (bucket, errors, all). For spans, a service's *answers* (server spans) where
    it has them: its failed calls to a dependency it falls back from are not its own failure, and counting
    them would date its onset by a concurrent problem below it. A service with no server spans (a batch job,
    a client) is judged by all its spans."""
    by = ("service", "kind") if source == "spans" else ("service",)
    every: dict[str, dict[datetime, list[int]]] = {}
    answers: dict[str, dict[datetime, list[int]]] = {}
    for r in telemetry.count(source, w, by=by, bucket_s=BUCKET_S, limit=1_000_000):
        for per in (every, answers) if r.get("kind") in ANSWERS else (every,):
            e_n = per.setdefault(r["service"], {}).setdefault(r["bucket"], [0, 0])
            e_n[0] += r["errors"]
            e_n[1] += r["n"]
    return {svc: [(t, e, n) for t, (e, n) in sorted(answers.get(svc, buckets).items())]
            for svc, buckets in every.items()}


def _whole_minutes(rows: list[tuple[datetime, int, int]], end: datetime) -> list[tuple[datetime, int, int]]:
    """Drop a last minute the records cover for under half of it (the source ends seconds into it): its
    count is not a per-minute rate, and one error in four seconds failed the sustain test of a service
    whose errors began with its caller's."""
    return [r for r in rows if r[0] + timedelta(seconds=BUCKET_S / 2) <= end]


def bucket_floor(t: datetime, seconds: int = BUCKET_S) -> datetime:
    epoch = t.timestamp()
    return t - timedelta(seconds=epoch % seconds)


MIN_BASELINE = 3         # points; fewer cannot tell normal from not
CHANGE_Z = 3.0           # how many robust sigmas a new level must be from the baseline


@dataclass
class ChangePoint:
    """Where a series left its baseline, told robustly (median/MAD with a floor) and as a step or a ramp."""
    baseline: float                  # median of the baseline points
    sigma: float                     # robust spread (1.4826·MAD), never below the floor
    shape: str | None                # "step", "ramp", or None (no change)
    direction: int = 0               # +1 up, -1 down
    at: datetime | None = None       # the step's time, or the ramp's start
    level: float | None = None       # median from the change on
    peak: float | None = None
    peak_at: datetime | None = None
    slope_per_min: float | None = None       # ramps only
    baseline_points: int = 0

    @property
    def z(self) -> float:
        return (self.level - self.baseline) / self.sigma if self.level is not None else 0.0

    @property
    def rel(self) -> float | None:
        """Relative change of the level; None when the baseline is ~0 (any rise would be infinite)."""
        if self.level is None or abs(self.baseline) < 1e-9:
            return None
        return (self.level - self.baseline) / abs(self.baseline)

    def time_to(self, limit: float, now: datetime) -> float | None:
        """Minutes from `now` until a ramp reaches `limit` (e.g. 1.0 for a disk or memory fraction)."""
        if self.shape != "ramp" or not self.slope_per_min or self.slope_per_min <= 0 or self.peak is None:
            return None
        return max(0.0, (limit - self.peak) / self.slope_per_min)


def change_point(points: Iterable[tuple[datetime, float]], base_end: datetime, floor_abs: float = 0.0,
                 floor_rel: float = 0.05) -> ChangePoint:
    """Where a series left its baseline for good: beyond median ± max(3·1.4826·MAD, floors), held in 2 of 3
    points. A ramp that began inside the baseline window is found by a flat-then-linear fit, and the
    baseline is cut back to before it, so half a ramp is never taken for normal."""
    pts = sorted((t, float(v)) for t, v in points if v is not None)
    base = [v for t, v in pts if t < base_end]
    if len(base) < MIN_BASELINE or len(pts) - len(base) < 1:
        med = statistics.median(base) if base else 0.0
        return ChangePoint(med, 0.0, None, baseline_points=len(base))
    k = _ramp_start(pts, len(base), max(floor_abs, floor_rel * abs(statistics.median(base))))
    if k is not None and k >= MIN_BASELINE:
        base = [v for _, v in pts[:k]]
    med = statistics.median(base)
    sigma = max(1.4826 * statistics.median(abs(v - med) for v in base), floor_rel * abs(med), floor_abs, 1e-9)
    after = pts[len(base):]
    lo, hi, margin = min(base), max(base), max(floor_abs, floor_rel * abs(med))
    # Beyond 3 robust sigmas; or, since a few baseline points give a poor sigma, outside everything the
    # baseline ever did and at least half as much again (a CPU pinned at 1.0 after 0.36–0.77).
    beyond = [abs(v - med) > CHANGE_Z * sigma or ((v > hi + margin or v < lo - margin)
                                                  and abs(v - med) >= max(0.5 * abs(med), margin)) for _, v in after]
    starts = [i for i, hit in enumerate(beyond) if hit and sum(beyond[i:i + 3]) >= min(2, len(beyond) - i)]
    if not starts:
        return ChangePoint(med, sigma, None, baseline_points=len(base))
    # The first departure that holds: most points from it on lie beyond the baseline on its side. A dip that
    # came back is passed over for a later rise that stayed (a CPU dip at 06:28, the fault's climb at 06:35).
    side = [1 if v > med else -1 for _, v in after]
    held = [i for i in starts if 2 * sum(b and s == side[i] for b, s in zip(beyond[i:], side[i:])) >= len(after) - i]
    onset = (held or starts)[0]
    direction = side[onset]
    tail = after[onset:]
    level = statistics.median(v for _, v in tail)
    peak_t, peak = max(tail, key=lambda p: direction * p[1])
    # Step or ramp: from the last normal point, how many points does it take to cover 80% of the change?
    # (A point on the far side of the baseline is as normal as one inside it: noise, not the climb's start.)
    start = next((i for i in range(onset - 1, -1, -1) if direction * (after[i][1] - med) <= sigma), -1) + 1
    reach = next(i for i in range(start, len(after)) if direction * (after[i][1] - med) >= 0.8 * abs(peak - med))
    if reach - start >= 3 or (k is not None and direction > 0):
        seg = (pts[k:len(base) + reach + 1] if k is not None else after[start:reach + 1])
        if direction * _slope(seg) > 0:     # a ramp climbs the way the series moved, else it is a step
            return ChangePoint(med, sigma, "ramp", direction, seg[0][0], level, peak, peak_t, _slope(seg), len(base))
    return ChangePoint(med, sigma, "step", direction, after[onset][0], level, peak, peak_t, None, len(base))


def _slope(seg: list[tuple[datetime, float]]) -> float:
    """Least-squares slope in units per minute."""
    x = [(t - seg[0][0]).total_seconds() / 60 for t, _ in seg]
    y = [v for _, v in seg]
    mx, my = statistics.fmean(x), statistics.fmean(y)
    den = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / den if den else 0.0


def _ramp_start(pts: list[tuple[datetime, float]], n_base: int, margin: float = 0.0) -> int | None:
    """Index where a flat-then-linear fit over the series (to its extreme) breaks, when that fit explains the
    baseline window clearly better than flat: a slow climb that began before the baseline ended. The climb
    must also be more than `margin` by the baseline's end (one error in a minute of an error-free hour is
    not a ramp)."""
    ys = [v for _, v in pts]
    end = max(range(len(ys)), key=lambda i: ys[i]) + 1
    if end - n_base < 2 or n_base < 2 * MIN_BASELINE:
        return None
    fits = _Fits(pts[:n_base])
    flat = fits.flat(0, n_base)
    best, best_k = flat, None
    for k in range(MIN_BASELINE, n_base - 1):
        sse = fits.flat(0, k) + fits.line(k, n_base)
        if sse < best:
            best, best_k = sse, k
    # Only when the climb is real: the fit must halve the baseline's error and the climb must keep rising.
    if best_k is None or best > 0.5 * flat or _slope(pts[best_k:n_base]) <= 0:
        return None
    climb = ys[best_k:n_base]
    rise = statistics.median(climb[len(climb) // 2:]) - statistics.median(ys[:best_k])
    if len(climb) < MIN_BASELINE or rise <= margin:
        return None
    return best_k


class _Fits:
    """Squared errors of a flat and of a least-squares line fit over any slice of a series, each in constant
    time from prefix sums (the ramp search tries every split: fitting each afresh was quadratic, a second
    of latency_by_service at 24 series)."""

    def __init__(self, pts: list[tuple[datetime, float]]):
        x = [(t - pts[0][0]).total_seconds() / 60 for t, _ in pts] if pts else []
        y = [v for _, v in pts]
        self.sums = [list(accumulate(col, initial=0.0)) for col in
                     (x, y, [a * a for a in x], [a * b for a, b in zip(x, y)], [b * b for b in y])]

    def _over(self, i: int, j: int) -> tuple[float, ...]:
        return tuple(c[j] - c[i] for c in self.sums)

    def flat(self, i: int, j: int) -> float:
        if j <= i:
            return 0.0
        _, sy, _, _, syy = self._over(i, j)
        return max(0.0, syy - sy * sy / (j - i))

    def line(self, i: int, j: int) -> float:
        m = j - i
        if m < 2:
            return 0.0
        sx, sy, sxx, sxy, syy = self._over(i, j)
        vxx, vxy, vyy = sxx - sx * sx / m, sxy - sx * sy / m, syy - sy * sy / m
        return max(0.0, vyy - vxy * vxy / vxx) if vxx > 1e-12 else max(0.0, vyy)
