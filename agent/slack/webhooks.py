"""Page webhooks: PagerDuty v3 and Alertmanager v4, verified and turned into investigation requests."""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tools.backends.base import as_utc


class BadRequest(ValueError):
    """400: the body is not what the sender's API promises."""


# json.loads of "[[[[…" (a few hundred thousand bytes, well within MAX_BODY) raises RecursionError
TOO_DEEP = "JSON nested too deeply"


class Forbidden(PermissionError):
    """403: the signature or token does not match."""


@dataclass
class Page:
    key: str                          # one investigation per key (incident id / alert fingerprint)
    source: str                       # pagerduty | alertmanager
    service: str | None
    at: datetime
    summary: str
    resolved: bool = False
    labels: dict[str, Any] = field(default_factory=dict)
    reply_to: tuple[str, str] | None = None     # (channel, thread_ts) when asked in Slack; never from a label
    attempt: int = 1                  # 2 and up: taken over from a replica that stopped (agent/slack/store.py)


def verify_pagerduty(raw: bytes, header: str | None, secrets: list[str]) -> None:
    """X-PagerDuty-Signature: comma-separated `v1=<hex HMAC-SHA256 of the raw body>`; any secret in
    rotation may match. Constant-time compare. Without a configured secret nothing is accepted."""
    if not secrets:
        raise Forbidden("FIVEWHYS_PAGERDUTY_SECRET is not set: PagerDuty webhooks are refused")
    sigs = [s.strip()[3:].encode("latin-1", "replace") for s in (header or "").split(",") if s.strip().startswith("v1=")]
    for secret in secrets:
        want = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest().encode()
        if any(hmac.compare_digest(want, s) for s in sigs):
            return
    raise Forbidden("bad PagerDuty signature")


def parse_pagerduty(raw: bytes) -> Page | None:
    """V3 webhook: {"event": {"event_type": "incident.triggered", "occurred_at", "data": {...}}}."""
    try:
        ev = json.loads(raw)["event"]
        kind = ev["event_type"]
        data = ev["data"]
        if kind not in ("incident.triggered", "incident.resolved"):
            return None
        return Page(key=f"pd:{data['id']}", source="pagerduty", service=(data.get("service") or {}).get("summary"),
                    at=_time(ev.get("occurred_at")), summary=data.get("title") or data.get("summary") or "",
                    resolved=kind == "incident.resolved",
                    labels={"urgency": data.get("urgency"), "pagerduty_service_id": (data.get("service") or {}).get("id")})
    except RecursionError:
        raise BadRequest(TOO_DEEP) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BadRequest(f"not a PagerDuty v3 webhook: {e}") from None


def verify_bearer(header: str | None, token: str | None) -> None:
    if token and not hmac.compare_digest((header or "").encode("latin-1", "replace"), f"Bearer {token}".encode()):
        raise Forbidden("bad bearer token")


def parse_alertmanager(raw: bytes) -> list[Page]:
    """Version 4 payload: one page per alert (fingerprint); firing starts, resolved ends."""
    try:
        body = json.loads(raw)
        if str(body.get("version")) != "4":
            raise BadRequest("Alertmanager webhook version 4 expected")
        pages = []
        for a in body["alerts"]:
            labels = {**body.get("commonLabels", {}), **a.get("labels", {})}
            pages.append(Page(key=f"am:{a['fingerprint']}", source="alertmanager",
                              service=labels.get("service") or labels.get("job") or labels.get("app"),
                              at=_time(a.get("startsAt")), resolved=a.get("status") == "resolved",
                              summary=(a.get("annotations") or {}).get("summary") or labels.get("alertname", ""),
                              labels=labels))
        return pages
    except BadRequest:
        raise
    except RecursionError:
        raise BadRequest(TOO_DEEP) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BadRequest(f"not an Alertmanager webhook: {e}") from None


def _time(s: str | None) -> datetime:
    if not s:
        return datetime.now(timezone.utc)
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return as_utc(t)
