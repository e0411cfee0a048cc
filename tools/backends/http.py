"""The one place live backends make HTTP requests: transport failures become a clear TelemetryError."""
from __future__ import annotations

import httpx

from .base import TelemetryError


def request(http: httpx.Client, method: str, url: str, who: str, **kwargs) -> httpx.Response:
    try:
        return http.request(method, url, **kwargs)
    except httpx.HTTPError as e:
        raise TelemetryError(f"{who}: {type(e).__name__}: {e}") from None
