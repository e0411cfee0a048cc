"""Retries for provider calls: 429, 5xx, timeouts and dropped connections, honouring Retry-After (capped);
never on 401/403/404 or a bad request, which retrying cannot fix."""
from __future__ import annotations

import time
from typing import Any, Callable

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

MAX_WAIT_S = 60.0


def retry_after(exc: BaseException) -> float | None:
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None) or {}
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None     # an HTTP date or garbage: fall back to backoff
    return None


def transient(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        return status == 429 or status == 408 or status >= 500
    name = type(exc).__name__
    return isinstance(exc, (httpx.TransportError, TimeoutError)) or name in ("APIConnectionError", "APITimeoutError")


def call_with_retries(fn: Callable[[], Any], attempts: int = 6, sleep: Callable[[float], None] = time.sleep,
                      on_retry: Callable[[BaseException, float], None] | None = None) -> Any:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = retry_after(exc) if exc else None
        w = hinted if hinted is not None else min(MAX_WAIT_S, 0.5 * 2 ** (state.attempt_number - 1))
        w = min(MAX_WAIT_S, max(0.0, w))
        if on_retry and exc:
            on_retry(exc, w)
        return w
    return Retrying(retry=retry_if_exception(transient), stop=stop_after_attempt(attempts), wait=wait,
                    sleep=sleep, reraise=True)(fn)
