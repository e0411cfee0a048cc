"""Page webhooks: PagerDuty v3 and Alertmanager v4, verified and turned into investigation requests."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from tools.backends.base import as_utc


class BadRequest(ValueError):
    """400: the body is not what the sender's API promises."""


# json.loads of "[[[[…" (a few hundred thousand bytes, well within MAX_BODY) raises RecursionError
TOO_DEEP = "JSON nested too deeply"


class Forbidden(PermissionError):
    """403: the signature or token does not match."""


# a signed PagerDuty page must be about now: its occurred_at picks the telemetry window investigated
PAGE_PAST, PAGE_FUTURE = timedelta(days=7), timedelta(hours=1)
ALLOW_OPEN_ALERTMANAGER = "FIVEWHYS_ALERTMANAGER_ALLOW_UNAUTHENTICATED"


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
        at = _time(ev.get("occurred_at"))
        now = datetime.now(timezone.utc)
        if not now - PAGE_PAST <= at <= now + PAGE_FUTURE:
            raise BadRequest(f"occurred_at {at:%Y-%m-%dT%H:%MZ} is not within 7 days before and 1 hour after now")
        return Page(key=f"pd:{data['id']}", source="pagerduty", service=(data.get("service") or {}).get("summary"),
                    at=at, summary=data.get("title") or data.get("summary") or "",
                    resolved=kind == "incident.resolved",
                    labels={"urgency": data.get("urgency"), "pagerduty_service_id": (data.get("service") or {}).get("id")})
    except (BadRequest, RecursionError) as e:
        raise BadRequest(TOO_DEEP if isinstance(e, RecursionError) else str(e)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BadRequest(f"not a PagerDuty v3 webhook: {e}") from None


def verify_bearer(header: str | None, token: str | None, allow_open: bool = False) -> None:
    """Alertmanager's bearer token. Without one configured, refused (as PagerDuty is without its secret)
    unless the operator said the endpoint may be open (a network only Alertmanager can reach)."""
    if not token:
        if allow_open:
            return
        raise Forbidden(f"FIVEWHYS_ALERTMANAGER_TOKEN is not set: Alertmanager webhooks are refused "
                        f"({ALLOW_OPEN_ALERTMANAGER}=1 accepts them without a token)")
    if not hmac.compare_digest((header or "").encode("latin-1", "replace"), f"Bearer {token}".encode()):
        raise Forbidden("bad bearer token")


class AlertCaps:
    """New investigations from Alertmanager: at most `per_request` from one notification and `per_group` from
    one group (its groupKey) over time. The rest are grouped: reported once each in the thread of the group's
    first investigation, not investigated separately (4,000 alerts in one 1 MiB body were 4,000 runs)."""

    def __init__(self, per_request: int = 10, per_group: int = 10, groups: int = 1000):
        self.per_request, self.per_group, self.keep = per_request, per_group, groups
        self.groups: OrderedDict[str, tuple[list[str], set[str]]] = OrderedDict()   # → (investigated, grouped)
        self.lock = threading.Lock()

    def split(self, group: str, pages: list[Page]) -> tuple[list[Page], str | None, list[Page]]:
        """(pages to pass on, the group's first key, pages newly grouped under it)."""
        with self.lock:
            mine, noted = self.groups.setdefault(group, ([], set()))
            self.groups.move_to_end(group)
            while len(self.groups) > self.keep:
                self.groups.popitem(last=False)
            passed, grouped, new = [], [], 0
            for page in pages:
                if page.resolved or page.key in mine:
                    passed.append(page)
                elif new < self.per_request and len(mine) < self.per_group:
                    mine.append(page.key)
                    new += 1
                    passed.append(page)
                elif page.key not in noted and len(noted) < 10 * self.per_group * self.per_request:
                    noted.add(page.key)
                    grouped.append(page)
            return passed, (mine[0] if mine else None), grouped


def parse_alertmanager(raw: bytes) -> list[Page]:
    return parse_alertmanager_group(raw)[1]


def parse_alertmanager_group(raw: bytes) -> tuple[str, list[Page]]:
    """Version 4 payload: its groupKey, and one page per alert (fingerprint); firing starts, resolved ends."""
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
        return str(body.get("groupKey") or ""), pages
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
