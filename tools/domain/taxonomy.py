"""The taxonomy of root-cause kinds: one record per kind, and everything else is built from it.

The report's `Kind` type and category check, the system prompt's list of kinds, the heuristic's remediation
and next checks, the simulator's truth (key evidence, other answers graded correct) and the table in
docs/incident-format.md all read these records. Adding a kind is a record here, a heuristic rule and a
simulator fault (docs/DECISIONS.md, "Adding a root-cause kind").

    python -m tools.domain.taxonomy --write docs/incident-format.md     # regenerates the doc's table
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["code", "environment", "dependency"]
CATEGORIES: tuple[Category, ...] = ("code", "environment", "dependency")


class Selector(BaseModel):
    """Evidence a good chain cites for this kind (truth.yaml's key_evidence): items of `source` whose attribute
    `at` names the root-cause service and whose other attributes equal `where`."""
    model_config = ConfigDict(frozen=True)
    source: str
    at: str = "service"
    where: dict[str, str] = Field(default_factory=dict)

    def truth(self, service: str) -> dict:
        return {"source": self.source, "where": {self.at: service, **self.where}}


class Accepted(BaseModel):
    """Another answer graded correct: `kind` at the root-cause service itself, or at one of its callers."""
    model_config = ConfigDict(frozen=True)
    kind: str
    at: Literal["root", "caller"] = "root"


class RootCauseKind(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    category: Category
    meaning: str                                  # one line, as the incident format's table says it
    fix_at: str                                   # where the fix belongs: the root_cause.service convention
    look_alikes: tuple[str, ...] = ()             # kinds it is mistaken for
    tell: str = ""                                # how to tell it from them, naming each
    remediation: tuple[str, ...]
    next_checks: tuple[str, ...]
    key_evidence: tuple[Selector, ...]
    accepted: tuple[Accepted, ...] = ()

    def truth_selectors(self, service: str) -> list[dict]:
        return [s.truth(service) for s in self.key_evidence]

    def accepted_answers(self, service: str, callers: list[str]) -> list[dict]:
        """truth.yaml's `acceptable`; a caller-side answer names the first caller."""
        return [{"service": s, "kind": a.kind} for a in self.accepted
                for s in ([service] if a.at == "root" else callers[:1])]


def _kind(name: str, category: Category, meaning: str, fix_at: str, **fields) -> RootCauseKind:
    """A record, with the columns of the incident format's table first."""
    return RootCauseKind(name=name, category=category, meaning=meaning, fix_at=fix_at, **fields)


def _metric(name: str) -> Selector:
    return Selector(source="metrics", where={"name": name})


_LOGS, _CALLS_TO = Selector(source="logs"), Selector(source="spans", at="peer_service")

TAXONOMY: tuple[RootCauseKind, ...] = (
    _kind("deploy_regression", "code", "a deploy introduced errors in the service's own code", "the deployed service",
          look_alikes=("config_change", "memory_leak"),
          tell="errors start at a new version; a settings-only diff is config_change, memory climbing to OOM is "
               "memory_leak",
          key_evidence=[Selector(source="deployments")],
          remediation=["roll back the deploy", "add the failing path to the deploy's canary checks"],
          next_checks=["diff the deployed version against the previous one on the failing path",
                       "check that a rollback or the canary stops the errors"]),
    _kind("config_change", "code", "a deployed setting (timeout, pool size, endpoint, flag) is wrong",
          "the service whose setting changed", look_alikes=("deploy_regression",),
          tell="a settings diff precedes the errors; an image- or version-only diff is deploy_regression",
          key_evidence=[Selector(source="deployments")],
          remediation=["revert the config change", "validate this setting in review and in canary"],
          next_checks=["compare the new value with what the failing calls need", "check who else got the same change"]),
    _kind("memory_leak", "code", "memory grows until the process is OOM-killed or restarts", "the leaking service",
          look_alikes=("deploy_regression",),
          tell="a leak that a deploy brought in is still memory_leak, not deploy_regression",
          key_evidence=[_metric("memory_utilization")],
          remediation=["restart or roll back the leaking version", "raise the memory limit as a stopgap",
                       "find the leak with a heap profile"],
          next_checks=["compare heap profiles of a young and an old process",
                       "check whether memory grows with uptime or with traffic, and since which version"]),
    _kind("application_error", "code",
          "the service's own code fails (exceptions, wrong results) from some point on, with no recorded change",
          "the service whose code fails", look_alikes=("deploy_regression", "config_change", "dependency_outage"),
          tell="no deploy or config change before it (else deploy_regression or config_change); its own "
               "exceptions, not its calls failing (dependency_outage); a caught exception or a wrong early return "
               "may log nothing: then a call its handler stopped making (call_changes) or a steady line that "
               "stopped (log_patterns) shows it",
          key_evidence=[_LOGS],
          remediation=["find the input or state that triggers it and block or work around it",
                       "fix the code path and add the case to its tests"],
          next_checks=["read the stack traces and the inputs of a failing request",
                       "check changes not recorded here: feature flags, data, date- or time-dependent code"]),
    _kind("failed_scale_up", "environment", "autoscaling could not add the capacity that load needed",
          "the service that could not scale", look_alikes=("resource_saturation",),
          tell="scale-ups failed or hit their cap (nodes, quota, max replicas, a maximum just lowered among "
               "the infrastructure changes): saturation behind a capped autoscaler is this; if scaling worked or was not needed, "
               "resource_saturation",
          key_evidence=[Selector(source="scaling", where={"status": "failed"}), _metric("cpu_utilization")],
          accepted=(Accepted(kind="resource_saturation"),),
          remediation=["add capacity by hand (nodes or quota) so the pending replicas schedule",
                       "fix the autoscaler's blocker; pre-scale before known peaks"],
          next_checks=["read why the scale-ups failed (nodes, quota, scheduling, maximum replicas)",
                       "compare the instance count with the desired count through the peak"]),
    _kind("resource_saturation", "environment",
          "CPU, memory or threads saturated with no scaling failure (surge, noisy neighbour)", "the saturated service",
          look_alikes=("failed_scale_up",),
          tell="its own CPU, threads or server time rose; failed or capped scaling is failed_scale_up",
          key_evidence=[_metric("cpu_utilization")],
          remediation=["add capacity or shed load", "find what drove the load (surge, noisy neighbour)"],
          next_checks=["find what drove the load: request rate by caller, a retry storm, a noisy neighbour",
                       "check per-instance CPU for one hot instance or host"]),
    _kind("cert_expired", "environment", "a TLS certificate used on a connection expired", "the certificate's owner",
          tell="handshakes fail with x509 or expired-certificate errors; one expiring after the onset is not the cause",
          key_evidence=[Selector(source="certificates")],
          remediation=["rotate the expired certificate", "alert on certificate expiry weeks ahead"],
          next_checks=["check the certificate the server presents now (not_after, issuer)",
                       "find why rotation did not run, and which other certificates expire soon"]),
    _kind("registry_misroute", "environment", "discovery sent traffic to wrong, stale or dead instances",
          "the service whose registry entries are wrong", look_alikes=("network_partition",),
          tell="callers are refused at addresses the registry just changed; a whole zone unreachable is "
               "network_partition",
          key_evidence=[Selector(source="registry")],
          remediation=["correct the registry entries (deregister stale, re-register healthy instances)",
                       "find what wrote the bad entries"],
          next_checks=["compare the registry's endpoints with the instances actually running",
                       "find what wrote the entries (deploy tooling, health checks, a sidecar)"]),
    _kind("network_partition", "environment", "connectivity lost between zones or hosts",
          "the service that became unreachable", look_alikes=("network_delay",),
          tell="connections into one zone or set of hosts fail (i/o timeout, no route to host), from every caller "
               "zone (zone_breakdown's peer view); a network policy, firewall or security group change "
               "among the infrastructure changes often just precedes it; slow but connecting is network_delay",
          key_evidence=[_LOGS],
          remediation=["fail traffic away from the affected zone", "escalate to the network/cloud provider"],
          next_checks=["break errors and traffic down by the zones of caller and callee",
                       "check the cloud provider's status for the zone"]),
    _kind("network_delay", "environment",
          "latency or packet loss between services, short of a partition: calls slow down or time out",
          "the callee if all its callers see the delay, else the caller that does",
          look_alikes=("network_partition", "resource_saturation"),
          tell="the callee's own server time and CPU stay normal (else resource_saturation); calls still "
               "connect, just slowly (else network_partition)",
          key_evidence=[_CALLS_TO],
          remediation=["route traffic away from the slow path (zone, host, link)",
                       "escalate to the network or cloud provider with the affected paths"],
          next_checks=["compare client-side and server-side durations of the same calls",
                       "check packet loss, retransmits and latency by zone and host pair"]),
    _kind("dns_failure", "environment", "name resolution failing",
          "the service whose lookups fail (the fix is in its resolver settings or the record it looks up)",
          look_alikes=("config_change",),
          tell="lookups fail (no such host, NXDOMAIN, SERVFAIL); a DNS change among the infrastructure changes "
               "just before is the cause's evidence; a name a deploy's config change just set is config_change",
          key_evidence=[_LOGS],
          remediation=["fix the resolver or the record; use cached or static resolution meanwhile"],
          next_checks=["resolve the failing name from the affected hosts and from elsewhere",
                       "check the resolvers (CoreDNS, upstream DNS) and recent changes to the record"]),
    _kind("disk_full", "environment", "a disk filled up", "the service whose disk filled",
          tell="writes fail with no space left on device (ENOSPC)",
          key_evidence=[_metric("disk_utilization")],
          remediation=["free disk space (logs, temp files) or grow the volume", "alert on disk usage trend"],
          next_checks=["find what filled the disk (logs, temp files, a WAL or queue backlog)",
                       "check how fast it filled against the alert thresholds"]),
    _kind("dependency_outage", "dependency", "a dependency outside the observed system is failing",
          "the dependency, by the name its callers use (not the caller that reports it)", look_alikes=("rate_limited",),
          tell="calls fail (5xx, timeouts) from all its callers (429s: rate_limited); one caller failing against a "
               "callee with no errors of its own points at that caller",
          key_evidence=[_CALLS_TO],
          remediation=["fail over or degrade gracefully around the dependency", "contact the provider"],
          next_checks=["check the provider's status and the error codes it returns",
                       "check whether every caller and every zone sees the failures"]),
    _kind("database_saturation", "dependency", "the database is slow or out of connections",
          "the database, even when one client's pool or queries exhaust it (name that client in the chain)",
          look_alikes=("config_change",),
          tell="callers time out acquiring connections or queries slow at its limit; a client pool shrunk by a "
               "config change is config_change",
          key_evidence=[_metric("db_connections_in_use")],
          accepted=(Accepted(kind="database_saturation", at="caller"),),
          remediation=["reduce connection demand (pool sizes, slow queries) or raise the database limit",
                       "kill runaway queries"],
          next_checks=["list the database's active queries and which callers hold the connections",
                       "compare connections in use with the limit and the callers' pool sizes"]),
    _kind("rate_limited", "dependency", "an upstream throttles its callers", "the throttling upstream",
          look_alikes=("dependency_outage",),
          tell="429, too many requests or quota errors: the upstream is up and refuses the excess (5xx or "
               "timeouts: dependency_outage)",
          key_evidence=[_CALLS_TO], accepted=(Accepted(kind="rate_limited", at="caller"),),
          remediation=["back off and retry with jitter", "raise the quota with the upstream"],
          next_checks=["compare the callers' request rate with the quota", "look for a retry storm or a new caller"]),
)
BY_NAME: dict[str, RootCauseKind] = {k.name: k for k in TAXONOMY}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def _check(records: tuple[RootCauseKind, ...]) -> None:
    """A typo in a record fails every import, not one consumer far away."""
    names = [k.name for k in records]
    problems = [f"{n} twice" for n in set(names) if names.count(n) > 1]
    for k in records:
        refs = k.look_alikes + tuple(a.kind for a in k.accepted)
        problems += [f"{k.name} refers to unknown kind {r}" for r in refs if r not in names]
        problems += [f"{k.name}'s tell does not name {r}" for r in k.look_alikes if r not in k.tell]
    order = [CATEGORIES.index(k.category) for k in records]
    if order != sorted(order):
        problems.append("records are not grouped by category (code, environment, dependency)")
    if problems:
        raise ValueError("taxonomy: " + "; ".join(problems))


_check(TAXONOMY)


def markdown_table() -> str:
    """The root-cause kinds table of docs/incident-format.md."""
    rows = ["| kind | category | meaning | root_cause.service (where the fix belongs) | "
            "how to tell it from look-alikes |", "|---|---|---|---|---|"]
    rows += [f"| {k.name} | {k.category} | {k.meaning} | {k.fix_at} | {k.tell} |" for k in TAXONOMY]
    return "\n".join(rows)


def with_table(doc: str) -> str:
    """A Markdown document with the table under its "## Root-cause kinds" heading replaced by the records'."""
    head, sep, section = doc.partition("## Root-cause kinds")
    lines = section.split("\n")
    rows = [i for i, line in enumerate(lines) if line.startswith("|")]
    if not sep or not rows:
        raise ValueError('no table under a "## Root-cause kinds" heading')
    lines[rows[0]:rows[-1] + 1] = [markdown_table()]
    return head + sep + "\n".join(lines)


if __name__ == "__main__":        # python -m tools.domain.taxonomy [--write docs/incident-format.md]
    import sys
    from pathlib import Path

    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        path = Path(sys.argv[2])
        path.write_text(with_table(path.read_text()))
    else:
        print(markdown_table())
