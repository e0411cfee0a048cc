"""The incident snapshot format (docs/incident-format.md): the page, the sources and their fields, and the
reader of incident.yaml and writer of whole snapshots. Imports nothing else of the project but errors."""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError

from tools.domain.errors import SnapshotError, problems

Source = Literal["logs", "metrics", "spans", "deployments", "scaling", "certificates", "registry", "infra_changes"]
SOURCES: tuple[Source, ...] = ("logs", "metrics", "spans", "deployments", "scaling", "certificates", "registry",
                               "infra_changes")
EVENT_SOURCES: tuple[Source, ...] = ("deployments", "scaling", "certificates", "registry", "infra_changes")
# Sources that are about services but are not telemetry of their own: a DNS change names the service whose
# lookups it governs, which may emit nothing at all.
NOT_TELEMETRY: tuple[Source, ...] = ("infra_changes",)
# infra_changes' kinds (docs/incident-format.md); others are kept, and `snapshot validate` warns about them.
INFRA_KINDS = ("dns", "network_policy", "firewall", "security_group", "node_drain", "node_cordon",
               "autoscaling_policy", "other")
LEVELS = ("debug", "info", "warn", "error", "fatal")

# Fields of each source (docs/incident-format.md, format 1); required ones first.
FIELDS: dict[str, tuple[str, ...]] = {
    "logs": ("time", "service", "message", "level", "instance", "zone", "trace_id", "attributes"),
    "metrics": ("time", "name", "value", "service", "instance", "zone", "labels"),
    "spans": ("time", "trace_id", "span_id", "service", "duration_ms", "parent_span_id", "operation",
              "kind", "status", "peer_service", "attributes"),
    "deployments": ("time", "service", "version", "previous_version", "kind", "actor", "description",
                    "changes", "status"),
    "scaling": ("time", "service", "action", "from_count", "desired_count", "actual_count", "status", "message"),
    "certificates": ("service", "not_after", "name", "subject", "issuer", "not_before", "purpose", "peer_service"),
    "registry": ("time", "service", "instance", "event", "address", "zone"),
    "infra_changes": ("time", "kind", "service", "target", "zone", "actor", "description", "changes", "status"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "logs": ("time", "service", "message"),
    "metrics": ("time", "name", "value"),
    "spans": ("time", "trace_id", "span_id", "service", "duration_ms"),
    "deployments": ("time", "service"),
    "scaling": ("time", "service"),
    "certificates": ("service", "not_after"),
    "registry": ("time", "service", "instance"),
    "infra_changes": ("time", "kind"),
}
TIME_FIELDS = {"time", "not_after", "not_before"}


def as_utc(t: datetime) -> datetime:
    """Times without a zone are UTC, as the format says; mixing naive and aware times would not even compare."""
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def plausible(t: datetime) -> datetime:
    """An incident's times are in the era of computers: year 1 or 9999 is a typo or an attack, and time
    arithmetic near those ends overflows (a window from year 1 crashed the heuristic)."""
    if not 1970 <= t.year <= 2200:
        raise ValueError(f"{t.isoformat()} is not a plausible incident time (years 1970 to 2200)")
    return t


UtcTime = Annotated[datetime, AfterValidator(as_utc), AfterValidator(plausible)]


def _label_values(labels: Any) -> Any:
    """Alert labels are strings (as in Alertmanager and PagerDuty); numbers and booleans are written as text."""
    if isinstance(labels, dict):
        for k, v in labels.items():
            if isinstance(v, (list, dict)):
                raise ValueError(f"label {k!r}: a label value is a string, not a {type(v).__name__}")
        return {str(k): v if isinstance(v, str) or v is None else str(v) for k, v in labels.items()}
    return labels


class TimeWindow(BaseModel):
    start: UtcTime
    end: UtcTime


class Alert(BaseModel):
    at: UtcTime | None = None
    service: str | None = None
    summary: str | None = None
    labels: Annotated[dict[str, str | None], BeforeValidator(_label_values)] = Field(default_factory=dict)


class Incident(BaseModel):
    """incident.yaml: the page and the window of telemetry around it."""
    format: int = 1
    id: str
    title: str = ""
    window: TimeWindow
    alert: Alert = Field(default_factory=Alert)
    question: str | None = None


MAX_INCIDENT_BYTES = 1 << 20


class DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping of incident.yaml."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error: PyYAML keeps the last
    silently, so a second `window:` pasted below the first moved the whole investigation."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue                  # "<<: *defaults" then an override is what a merge is for
            key = self.construct_object(key_node)
            if key in seen:
                raise DuplicateKey(None, None, f"duplicate key {key!r} (first on line {seen[key]})",
                                   key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def load_incident(path: Path) -> Incident:
    """Parse incident.yaml with a one-line error for every way it can be wrong."""
    if not path.exists():
        raise SnapshotError(f"{path}: no such incident snapshot directory")
    if not path.is_dir():
        raise SnapshotError(f"{path}: not a directory (an incident snapshot is a directory with incident.yaml)")
    f = path / "incident.yaml"
    if not f.exists():
        raise SnapshotError(f"{f}: missing (every snapshot needs incident.yaml)")
    if not f.is_file():                     # a directory, a device or a pipe would hang or crash the read
        raise SnapshotError(f"{f}: not a regular file")
    if f.stat().st_size > MAX_INCIDENT_BYTES:
        raise SnapshotError(f"{f}: {f.stat().st_size} bytes; incident.yaml is a page description of a few KB")
    try:
        data = yaml.load(f.read_bytes().decode("utf-8", errors="replace"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        what = e.problem if isinstance(e, DuplicateKey) else f"not valid YAML ({getattr(e, 'problem', e)})"
        raise SnapshotError(f"{f}{where}: {what}") from None
    except RecursionError:
        raise SnapshotError(f"{f}: nested too deeply to be an incident description") from None
    if not isinstance(data, dict):
        raise SnapshotError(f"{f}: expected a mapping with id, window and alert")
    if data.get("format", 1) != 1:
        raise SnapshotError(f"{f}: format {data.get('format')!r} is not supported (this reader knows format 1)")
    try:
        inc = Incident.model_validate(data)
    except ValidationError as e:
        raise SnapshotError(f"{f}: {'; '.join(problems(e))}") from None
    if inc.window.start >= inc.window.end:
        raise SnapshotError(f"{f}: window.start must be before window.end")
    return inc


SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


def is_snapshot_file(name: str) -> bool:
    """incident.yaml, truth.yaml or a telemetry file: the files a snapshot is made of."""
    return name in ("incident.yaml", "truth.yaml") or any(name == f"{s}{x}" for s in SOURCES for x in SUFFIXES)


def claim_out_dir(out: Path, force: bool = False) -> Path:
    """Make `out` ready for a new snapshot. A new or empty directory is used as it is. One with anything in
    it is refused unless `force`, and then only its snapshot files are removed: a writer never deletes
    anything else (`--out .` once deleted a whole folder of someone's files)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SnapshotError(f"{out}: exists and is not a directory")
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if present and not force:
        raise SnapshotError(f"{out}: not empty ({len(present)} entries, e.g. {present[0]}); give a new or empty "
                            f"directory, or --force to replace the snapshot files in it (other files are kept)")
    for name in present:
        if is_snapshot_file(name) and not (out / name).is_dir():
            (out / name).unlink()
    return out


def write_snapshot(out: Path, incident: dict, truth: dict | None, tables: dict[str, list[dict]]) -> Path:
    """Write a v1 snapshot: sorted JSONL, gzip with no name and mtime 0, so the bytes are reproducible."""
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        rows.sort(key=lambda r: (r.get("time") or r.get("not_after"), r.get("service") or ""))
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode()
        with open(out / f"{name}.jsonl.gz", "wb") as f:
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
                gz.write(data)
    (out / "incident.yaml").write_text(yaml.safe_dump(incident, sort_keys=False))
    if truth is not None:
        (out / "truth.yaml").write_text(yaml.safe_dump(truth, sort_keys=False))
    return out
