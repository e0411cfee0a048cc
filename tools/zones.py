"""Where failing calls were going: the callee's (peer's) zone and instance, for zone_breakdown.

A partition shows in the callers: every caller zone times out dialling the callee's instances in one zone. The
reporting service's own zone then says nothing; the peer's does. The peer is read from what the records name:
a span attribute that holds a zone or an address, or a log line naming a zone, a registered instance or an
address. Addresses resolve through the registry, exactly (an instance) or by a subnet all of whose registered
addresses sit in one zone (/24, then /16: clouds give each zone its own subnets)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from tools.backends.base import Filter
from tools.results import PeerZoneRow
from tools.toolset import ToolContext

SAMPLE = 5000                       # error records read per source: enough to see where they go, bounded
_IP = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::\d+)?\b")
_ADDRESS_KEYS = ("address", "peer.name", "peer.ip", "host")


@dataclass
class Peer:
    service: str | None = None
    instance: str | None = None
    zone: str | None = None


@dataclass
class PeerIndex:
    """What the registry and the logs say about instances: names, addresses, zones."""
    zones: set[str] = field(default_factory=set)
    by_ip: dict[str, Peer] = field(default_factory=dict)
    by_instance: dict[str, Peer] = field(default_factory=dict)
    subnets: dict[str, set[str]] = field(default_factory=dict)        # "10.2.4." / "10.2." → zones seen there
    ports: dict[str, set[str]] = field(default_factory=dict)          # "9090" → services registered on it

    def add(self, service: str | None, instance: str | None, zone: str | None, address: str | None) -> None:
        if zone:
            self.zones.add(zone)
        if instance:
            cur = self.by_instance.setdefault(instance, Peer(service, instance, zone))
            cur.zone = cur.zone or zone
        if address and (m := _IP.search(address)):
            ip = m.group(1)
            self.by_ip[ip] = Peer(service, instance, zone)
            if service and (port := _port(m.group(0))):
                self.ports.setdefault(port, set()).add(service)
            if zone:
                parts = ip.split(".")
                for prefix in (".".join(parts[:3]) + ".", ".".join(parts[:2]) + "."):
                    self.subnets.setdefault(prefix, set()).add(zone)

    def resolve(self, text: str) -> Peer | None:
        """The peer a message or attribute names: a registered address, an instance, a zone, or a subnet of one
        zone. None when it names none of them."""
        for m in _IP.finditer(text):
            ip = m.group(1)
            if ip in self.by_ip:
                return self.by_ip[ip]
            parts = ip.split(".")
            services = self.ports.get(_port(m.group(0)) or "", set())
            for prefix in (".".join(parts[:3]) + ".", ".".join(parts[:2]) + "."):
                if len(zones := self.subnets.get(prefix, set())) == 1:
                    return Peer(next(iter(services)) if len(services) == 1 else None, zone=next(iter(zones)))
        for inst, peer in self.by_instance.items():
            if len(inst) >= 4 and inst in text:
                return peer
        for zone in self.zones:
            if re.search(rf"(?<![\w-]){re.escape(zone)}(?![\w-])", text):
                return Peer(zone=zone)
        return None


def _port(address: str) -> str | None:
    return address.rsplit(":", 1)[1] if ":" in address else None


def peer_index(ctx: ToolContext, end: datetime) -> PeerIndex:
    idx = PeerIndex()
    tel = ctx.telemetry
    if tel.coverage("registry").present:
        for r in tel.events("registry", Filter(end=end), limit=20_000):
            idx.add(r.get("service"), r.get("instance"), r.get("zone"), r.get("address"))
    if tel.coverage("logs").present:
        w = ctx.incident.window
        for r in tel.count("logs", Filter(start=w.start, end=end), by=("service", "instance", "zone"), limit=20_000):
            idx.add(r["service"], r["instance"], r["zone"], None)
    return idx


def peer_breakdown(ctx: ToolContext, service: str | None, start: datetime, end: datetime) -> list[PeerZoneRow]:
    """Error records from `start` to `end` grouped by the zone of the peer they name (the callee), with the
    zones and services that reported them and the peer instances named. With `service`, only calls to it."""
    idx = peer_index(ctx, end)
    rows: dict[str, PeerZoneRow] = {}
    own_zone = {i: p.zone for i, p in idx.by_instance.items()}

    def note(reporter: str, reporter_zone: str | None, peer: Peer | None, peer_service: str | None,
             text: str = "") -> None:
        if peer is None or not peer.zone:
            return
        callee = peer.service or peer_service
        if service and callee != service and not (callee is None and (
                reporter in callers or re.search(rf"\b{re.escape(service)}\b", text))):
            return
        row = rows.setdefault(peer.zone, PeerZoneRow(peer.zone))
        row.errors += 1
        for values, v in ((row.callers, reporter), (row.caller_zones, reporter_zone), (row.instances, peer.instance)):
            if v and v not in values:
                values.append(v)

    f = Filter(start=start, end=end)
    # a line naming only an address's zone is about `service` when its reporter calls it
    callers = ({e["caller"] for e in ctx.telemetry.span_edges(f) if e["callee"] == service}
               if service and ctx.telemetry.coverage("spans").present else set())
    if ctx.telemetry.coverage("logs").present:
        for r in ctx.telemetry.sample("logs", f.but(levels=("error", "fatal")), limit=SAMPLE, order="spread"):
            if r["service"] != service:            # a service's own lines name its own zone, not a peer's
                msg = r.get("message") or ""
                note(r["service"], r.get("zone") or own_zone.get(r.get("instance") or ""), idx.resolve(msg), None, msg)
    if ctx.telemetry.coverage("spans").present:
        spans = f.but(status="error", kinds=("client",), peer_service=service)
        for r in ctx.telemetry.sample("spans", spans, limit=SAMPLE, order="spread"):
            note(r["service"], None, _span_peer(idx, r.get("attributes")), r.get("peer_service"))
    out = sorted(rows.values(), key=lambda z: -z.errors)
    total = sum(z.errors for z in out)
    for z in out:
        z.error_share = round(z.errors / total, 3) if total else 0.0
    return out


def _span_peer(idx: PeerIndex, attributes) -> Peer | None:
    if not isinstance(attributes, dict):
        return None
    for k, v in attributes.items():
        if isinstance(v, str) and "zone" in k.lower() and ("peer" in k.lower() or k.lower().startswith("server.")):
            return Peer(zone=v)
    for k, v in attributes.items():
        if isinstance(v, str) and any(s in k.lower() for s in _ADDRESS_KEYS) and (p := idx.resolve(v)):
            return p
    return None
