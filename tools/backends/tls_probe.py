"""The certificates source from live endpoints: connect with TLS and read the served chain's expiry.

Verification is off on purpose: an expired or self-signed certificate is exactly what we want to see."""
from __future__ import annotations

import socket
import ssl
from datetime import datetime, timezone
from typing import Literal

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from .base import BackendConfig, Coverage, Filter, Incident, TelemetryError, TimeWindow


def probe(host: str, port: int = 443, timeout: float = 5.0, server_name: str | None = None) -> dict:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=server_name or host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as e:
        raise TelemetryError(f"TLS probe of {host}:{port} failed: {e}") from None
    cert = x509.load_der_x509_certificate(der)
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "not_before": cert.not_valid_before_utc, "not_after": cert.not_valid_after_utc}


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str = Field(description="The service whose certificate this is.")
    host: str
    port: int = 443
    purpose: Literal["server", "client"] = Field("server", description="client: the certificate a caller presents.")
    peer_service: str | None = Field(None, description="The service at the other end of the connection.")
    server_name: str | None = Field(None, description="SNI name, when it is not the host.")


class TLSProbeConfig(BackendConfig):
    """`backend = "tls_probe"`: certificates, read from the endpoints that serve them."""
    backend: Literal["tls_probe"]
    endpoints: list[Endpoint] = Field(min_length=1, description="The endpoints to connect to.")
    timeout_s: float = Field(30.0, description="Connect timeout in seconds.")

    def open(self, incident: Incident) -> TLSProbe:
        return TLSProbe([e.model_dump() for e in self.endpoints], self.timeout_s)


class TLSProbe:
    """`certificates` for configured endpoints: {service, host, port, purpose, peer_service}."""

    def __init__(self, endpoints: list[dict], timeout: float = 5.0):
        self.endpoints, self.timeout = endpoints, timeout
        self._rows: list[dict] | None = None

    def _probe_all(self) -> list[dict]:
        if self._rows is None:
            rows = []
            for e in self.endpoints:
                c = probe(e["host"], int(e.get("port", 443)), self.timeout, e.get("server_name"))
                rows.append({"service": e["service"], "name": f"{e['host']}:{e.get('port', 443)}",
                             "purpose": e.get("purpose", "server"), "peer_service": e.get("peer_service"), **c})
            self._rows = rows
        return self._rows

    def coverage(self, source: str) -> Coverage:
        return Coverage(present=source == "certificates", rows=len(self.endpoints))

    def services(self, window: TimeWindow) -> set[str]:
        return {e["service"] for e in self.endpoints}

    def events(self, source: str, where: Filter, limit: int = 200) -> list[dict]:
        rows = [r for r in self._probe_all() if not where.services or r["service"] in where.services]
        return sorted(rows, key=lambda r: r["not_after"])[:limit]

    def close(self) -> None:
        pass


def now() -> datetime:
    return datetime.now(timezone.utc)
