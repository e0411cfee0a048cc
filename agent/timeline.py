"""A timeline picture an on-call engineer reads at a glance: error rate per affected service, the onset,
the root-cause service highlighted, and labelled markers for deploys, scaling, certificate expiry and
registry changes."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from agent.termtext import plain  # noqa: E402
from tools.analysis import compute_onsets  # noqa: E402
from tools.backends.base import Filter  # noqa: E402

MAX_SERVICES = 6
MARKERS = {"deployments": ("#1f77b4", "deploy"), "scaling": ("#9467bd", "scaling"),
           "certificates": ("#d62728", "cert expiry"), "registry": ("#8c564b", "registry"),
           "infra_changes": ("#e377c2", "infra change")}
MIN_SPAN = timedelta(minutes=10)    # a shorter window is drawn this wide, centred on it
# what savefig can write without extra software (pgf needs a LaTeX installation)
FORMATS = sorted(set(FigureCanvasAgg.get_supported_filetypes()) - {"pgf"})


def check_format(out: Path) -> None:
    """ValueError with the supported extensions unless `out` names a picture format matplotlib writes."""
    if out.suffix.lower().lstrip(".") not in FORMATS:
        raise ValueError(f"{out}: cannot draw a timeline as {out.suffix or 'a file without an extension'}; "
                         f"use one of {', '.join('.' + f for f in FORMATS)}")


def error_series(telemetry, services: list[str]) -> dict[str, list[tuple[datetime, float]]]:
    """Errors per minute for each service, from logs (else spans)."""
    w = telemetry.incident.window
    source = next((s for s in ("logs", "spans") if telemetry.coverage(s).present), None)
    out: dict[str, list] = {s: [] for s in services}
    if source is None:
        return out
    for r in telemetry.count(source, Filter(start=w.start, end=w.end, services=tuple(services)), by=("service",),
                             bucket_s=60, limit=1_000_000):
        out[r["service"]].append((r["bucket"], r["errors"]))
    return out


def draw_timeline(telemetry, out: Path | None = None, root_service: str | None = None,
                  onset: datetime | None = None):
    """Draw, save (when `out` is given) and return the matplotlib Figure."""
    if out is not None:
        check_format(out)
    inc = telemetry.incident
    w = inc.window
    lo, hi = w.start, w.end
    if hi - lo < MIN_SPAN:              # a window of seconds (or 1 µs) would put every tick on one pixel
        lo = lo + (hi - lo) / 2 - MIN_SPAN / 2
        hi = lo + MIN_SPAN
    onsets = compute_onsets(telemetry)
    services = [o.service for o in onsets][:MAX_SERVICES]
    if root_service and root_service not in services and root_service in telemetry.services(w):
        services = [root_service] + services[: MAX_SERVICES - 1]
    series = error_series(telemetry, services)
    fig, ax = plt.subplots(figsize=(12, 5.5), dpi=110)
    for svc in services:
        pts = series.get(svc) or []
        if not pts:
            continue
        is_root = svc == root_service
        ax.plot([t for t, _ in pts], [v for _, v in pts], label=plain(f"{svc}{' (root cause)' if is_root else ''}"),
                linewidth=3 if is_root else 1.3, color="#d62728" if is_root else None, alpha=1 if is_root else 0.8,
                zorder=3 if is_root else 2)
    onset = onset or (onsets[0].onset if onsets else None)
    # markers only inside the axes: a label far outside a short window overflows FreeType's rasteriser
    if onset is not None and lo <= onset <= hi:
        ax.axvline(onset, color="black", linestyle="--", linewidth=1.2)
        ax.text(onset, 0.99, f" onset {onset:%H:%M}", transform=ax.get_xaxis_transform(), fontsize=9, va="top",
                fontweight="bold")
    if inc.alert.at and lo <= inc.alert.at <= hi:
        ax.axvline(inc.alert.at, color="orange", linestyle=":", linewidth=1.5)
        ax.text(inc.alert.at, 0.93, f" paged {inc.alert.at:%H:%M}", transform=ax.get_xaxis_transform(),
                fontsize=9, va="top", color="darkorange")
    for source, (color, label) in MARKERS.items():
        for t, text in _events(telemetry, source):
            if w.start <= t <= w.end:
                ax.axvline(t, color=color, alpha=0.5, linewidth=1)
                ax.text(t, 0.97, plain(f"{label}: {text}"), rotation=90, transform=ax.get_xaxis_transform(),
                        fontsize=7, color=color, va="top", ha="right", parse_math=False)
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_ylabel("errors per minute")
    # telemetry is drawn literally: with mathtext "lost $5 of $10" is set as math and "$\x$" raises
    ax.set_title(plain(f"{inc.id}: {inc.title}" + (f" — root cause: {root_service}" if root_service else "")),
                 fontsize=11, parse_math=False)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        for t in ax.legend(loc="center left", fontsize=8).get_texts():
            t.set_parse_math(False)
    fig.autofmt_xdate()
    fig.tight_layout()
    if out is not None:
        fig.savefig(out)
    return fig


def _events(telemetry, source: str) -> list[tuple[datetime, str]]:
    if not telemetry.coverage(source).present:
        return []
    w = telemetry.incident.window
    rows = telemetry.events(source, Filter(start=w.start, end=w.end), limit=500)
    out = []
    if source == "deployments":
        out = [(r["time"], f"{r['service']} {r.get('version') or r.get('kind') or ''}") for r in rows]
    elif source == "scaling":
        out = [(r["time"], f"{r['service']} {r.get('action') or ''} {r.get('status') or ''}") for r in rows]
    elif source == "certificates":
        out = [(r["not_after"], f"{r['service']} {r.get('name') or ''}") for r in rows]
    elif source == "infra_changes":
        out = [(r["time"], f"{r.get('service') or r.get('target') or ''} {r['kind']}") for r in rows]
    elif source == "registry":
        # the initial registrations are not news; changes are
        out = [(r["time"], f"{r['service']} {r.get('event')}") for r in rows
               if r["time"] > w.start.replace(second=0) + (w.end - w.start) / 100]
    # one label per service and kind of event, so a burst does not blot out the picture
    seen, kept = set(), []
    for t, text in sorted(out):
        if text not in seen:
            seen.add(text)
            kept.append((t, text))
    return kept[:12]
