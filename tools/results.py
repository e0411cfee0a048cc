"""Typed results of the tools: what each tool found, row by row, beside the text the model reads.

The heuristic investigator and the tests read these instead of parsing text; nothing here is sent to an
LLM provider. A row that became an evidence item carries its id in `evidence`."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from tools.domain.incident import Incident


class Status(str, Enum):
    """How a tool call ended. `empty` is a finding ("no certificate expired") and gets an evidence id;
    `no_data` means the source is absent, so nothing can be concluded; `error` means the call failed."""
    OK = "ok"
    EMPTY = "empty"
    NO_DATA = "no_data"
    ERROR = "error"


@dataclass
class SourceCoverage:
    source: str
    records: int | None              # None: the source is absent (no data, not "nothing happened")
    first: datetime | None = None
    last: datetime | None = None
    skipped_malformed: int | None = None


@dataclass
class Overview:                      # describe_incident
    incident: Incident
    sources: list[SourceCoverage]
    services: list[str]
    metrics: dict[str, set[str]]     # metric name → services that have it (empty: not per service)
    ends_early: dict[str, datetime]  # source → its last record, when that is well before the page
    # source → stretches of the window without its records (before its first, after its last, empty minutes)
    missing: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)

    def present(self, source: str) -> bool:
        return any(s.source == source and s.records is not None for s in self.sources)


@dataclass
class Edge:                          # service_map
    caller: str
    callee: str
    calls: int
    errors: int
    p50_ms: float | None = None      # None when too few spans for it (tools.overview.P50_MIN_SPANS)
    p99_ms: float | None = None      # None below tools.overview.P99_MIN_SPANS spans: it would be the maximum
    external: bool = False
    spans: int = 0                   # the spans the percentiles rest on (one per call)

    @property
    def error_pct(self) -> float:
        return round(100 * self.errors / self.calls, 2) if self.calls else 0.0


@dataclass
class ErrorOnset:                    # error_onsets
    service: str
    onset: datetime
    signal: str                      # logs, spans or metrics:<name>
    baseline: float                  # errors/min (or rate) before
    peak: float
    errors: int                      # error records from the onset on (logs/spans)
    evidence: str | None = None
    ended_at: datetime | None = None     # back at baseline from here, well before the page: an earlier episode


@dataclass
class MetricSummary:                 # query_metric, one series
    group: str
    baseline: float | None           # None: no point before the baseline's end (no before/after)
    after: float | None
    max: float | None
    max_at: datetime | None
    min: float | None
    last: float | None
    shift: str | None                # up, down or None
    shift_at: datetime | None
    change_pct: float | None
    near_peak_at: datetime | None    # first came (and stayed) within 5% of its peak
    shape: str | None = None         # step or ramp (tools.analysis.change_point), None when it kept its level
    ramp_start: datetime | None = None       # a ramp's first point off its (pre-ramp) baseline
    ramp_baseline: float | None = None       # the level before the ramp began
    slope_per_min: float | None = None       # a ramp's slope, in the metric's unit per minute
    minutes_to_full: float | None = None     # a rising disk or memory fraction: minutes from its peak to 1.0


@dataclass
class MetricResult:
    name: str
    service: str | None
    overall: MetricSummary
    groups: list[MetricSummary]


@dataclass
class ZoneRow:
    zone: str
    calls_before: int = 0
    errors_before: int = 0
    calls_after: int = 0
    errors_after: int = 0
    error_share: float = 0.0
    traffic_share_before: float = 0.0
    traffic_share_after: float = 0.0


@dataclass
class PeerZoneRow:                   # zone_breakdown, errors by the zone of the peer (callee) they name
    zone: str
    errors: int = 0
    error_share: float = 0.0
    callers: list[str] = field(default_factory=list)          # services that reported them
    caller_zones: list[str] = field(default_factory=list)     # the zones those reports came from
    instances: list[str] = field(default_factory=list)        # the callee's instances named


@dataclass
class ZoneBreakdown:                 # zone_breakdown
    zones: list[ZoneRow]
    concentrated: bool
    top: ZoneRow | None
    dropped: list[str]
    peer_zones: list[PeerZoneRow] = field(default_factory=list)
    peer_concentrated: str | None = None     # the callee zone that nearly all errors naming a peer zone point at


@dataclass
class LogCount:
    service: str
    level: str | None
    n: int


@dataclass
class LogSearch:                     # search_logs
    total: int
    counts: list[LogCount]


@dataclass
class LogTemplate:                   # log_patterns, one template
    template: str
    before: int
    after: int
    per_min_before: float
    per_min_after: float
    new: bool
    levels: str
    example: str
    variants: int = 1                # Drain templates of this one log statement (its lengths, its wordings)
    stopped: bool = False            # a steady statement that all but stopped after the split, at the service's pace
    names: str | None = None         # the services its warning/error lines name (not the logger), with lines: "b 15, c 6"


@dataclass
class Deployment:                    # list_deployments
    time: datetime
    service: str
    kind: str                        # deploy, rollback or config
    version: str | None = None
    previous_version: str | None = None
    status: str | None = None
    actor: str | None = None
    description: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    diff: str = ""
    evidence: str | None = None


class Changes(list):
    """list_deployments: the deployments (it is their list, as before) and `infra`, the infrastructure changes."""
    infra: list = []


@dataclass
class InfraChange:                   # list_deployments, the infra_changes source
    time: datetime
    kind: str                        # dns, network_policy, firewall, security_group, node_drain, node_cordon, …
    service: str | None = None       # the service it applies to; None: no one service (a node, a shared resolver)
    target: str | None = None        # what changed: a record, a policy, a node, an autoscaler
    zone: str | None = None
    status: str | None = None
    actor: str | None = None
    description: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    diff: str = ""
    evidence: str | None = None


@dataclass
class ScalingGroup:                  # scaling_events, one (service, action, status)
    service: str
    action: str
    status: str
    events: int
    first: datetime
    last: datetime
    desired: int | None = None
    actual: int | None = None
    message: str | None = None
    evidence: str | None = None


@dataclass
class InstanceCount:
    service: str
    usual: float
    min: float
    max: float
    last: float


@dataclass
class Scaling:
    groups: list[ScalingGroup]
    counts: list[InstanceCount]


@dataclass
class Certificate:                   # certificates, one flagged certificate
    service: str
    not_after: datetime
    status: str                      # expired, expiring
    expires_in: str
    name: str | None = None
    subject: str | None = None
    purpose: str | None = None
    peer_service: str | None = None
    evidence: str | None = None


@dataclass
class RegistryGroup:                 # registry_changes, one (service, event)
    service: str
    event: str
    events: int
    first: datetime
    last: datetime
    n_instances: int
    moved: int
    instances: str
    addresses: str
    evidence: str | None = None


@dataclass
class RegistryMismatch:
    service: str
    registered_silent: str           # registered and healthy, but emits nothing
    serving_unregistered: str        # emits telemetry, but deregistered or unknown to the registry
    serving_unhealthy: str = ""      # emits telemetry while the registry marks it unhealthy
    evidence: str | None = None


@dataclass
class Registry:
    groups: list[RegistryGroup]
    mismatch: list[RegistryMismatch]


@dataclass
class EdgeErrors:                    # trace_errors, one failing edge
    service: str
    peer_service: str | None
    kind: str | None
    errors: int
    first: datetime | None
    what: str
    logs: str
    evidence: str | None = None


@dataclass
class MetricChange:                  # metric_changes, one changed series
    service: str
    name: str
    shape: str                       # step or ramp
    direction: str                   # up or down
    at: datetime | None              # the step, or the ramp's start
    baseline: float
    level: float
    peak: float | None
    z: float                         # change in robust baseline spreads
    rel_pct: float | None
    slope_per_min: float | None = None
    minutes_to_full: float | None = None     # a climbing disk or memory fraction
    evidence: str | None = None
    peer_service: str | None = None          # the callee, for a per-edge series (client/server latency per edge)
    same_in: list[str] = field(default_factory=list)  # other services with this very series (a node's metric per pod)
    bucketed: bool = False                   # a quantile flat at one histogram bucket before: z capped, not measured
    node: str | None = None                  # the one node the same_in services run on, where the records say it


@dataclass
class LatencyChange:                 # latency_by_service, one service (own) or call edge (wire)
    service: str
    peer_service: str | None
    view: str                        # own: in the service; call: its calls to peer; wire: call minus the peer's server span
    shape: str
    at: datetime | None
    baseline_ms: float
    level_ms: float
    ratio: float
    z: float
    evidence: str | None = None
    spans_before: int = 0            # spans in the buckets behind baseline_ms (0: no baseline, an outlier)
    spans_after: int = 0             # … and behind level_ms
    p50_before_ms: float | None = None   # the median's baseline and level, beside the p90's
    p50_after_ms: float | None = None
    note: str | None = None          # only the tail moved; the operation mix changed


@dataclass
class EdgeRate:                      # edge_rates, one caller → callee edge over time
    caller: str
    callee: str
    calls_before: float              # calls per minute: the baseline's median
    calls_at_page: float | None      # mean over the quarter hour before the page
    calls_change: str | None         # up or down, when the call rate left its baseline
    calls_changed_at: datetime | None
    calls_shape: str | None          # step or ramp
    errors_before: float             # errors per minute
    errors_at_page: float | None
    errors_rose_at: datetime | None
    series: list[tuple[datetime, float, float]] = field(default_factory=list)   # bucket, calls/min, errors/min
    evidence: str | None = None
    missing: str | None = None       # why the change may be an artefact: in or beside minutes without spans
    together: bool = False           # its calls changed with most edges at once (the span stream, not this edge)


@dataclass
class LoggedFailure:                 # trace_errors when spans carry no status: failures read from the traces' logs
    service: str
    traces: int                      # traces in which it logged an error
    reached_callers: int             # … after which a caller of it in the same trace logged a warning or an error
    reached_before: int              # of those, how many before the baseline's end
    first: datetime | None           # the first that reached a caller after the baseline's end
    callers: str                     # the callers that logged after it
    evidence: str | None = None


@dataclass
class CallChange:                    # call_changes, one call a handler makes (or made) per request
    service: str                     # the handler: the parent span's service and operation
    operation: str | None
    call: str                        # what it calls: the child's service and operation (→ peer for a client span)
    change: str                      # "stopped" (well under half as often per request) or "started" (over twice)
    requests_before: int             # parent spans before / after the split
    requests_after: int
    per_request_before: float        # calls per request
    per_request_after: float
    z: float                         # how far past half (stopped) or double (started) the change is, in Poisson σ
    child_service: str | None = None
    child_operation: str | None = None
    error_path: bool = False         # the call is an error handler's (Spring's BasicErrorController.error), or the
    evidence: str | None = None      # line a warning or error: its stop is recovery, its start the handler's failures
    step: str = "call"               # "call" (a child span) or "log" (a log statement the request's span wrote;
                                     # per_request_* is then the share of requests that wrote it)

    @property
    def verb(self) -> str:
        return "writing" if self.step == "log" else "calling"
