"""Retries for provider calls: 429, 5xx, timeouts and dropped connections, honouring Retry-After (capped);
never on 401/403/404 or a bad request, which retrying cannot fix."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

MAX_WAIT_S = 60.0
log = logging.getLogger("fivewhys.models")


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
        if on_retry and exc and state.attempt_number < attempts:
            on_retry(exc, w)
        return w
    return Retrying(retry=retry_if_exception(transient), stop=stop_after_attempt(attempts), wait=wait,
                    sleep=sleep, reraise=True)(fn)


def error_message(e: BaseException) -> str:
    """The provider's own words: OpenAI and Anthropic both put them in body.error.message."""
    body = getattr(e, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])[:200]
    return str(getattr(e, "message", None) or e)[:200]


def call_provider(fn: Callable[[], Any], who: str, key_env: str, attempts: int,
                  sleep: Callable[[float], None]) -> Any:
    """Retries, then one clear ModelError for what retrying could not fix."""
    from agent.models.base import ModelError

    def said(e: BaseException, wait: float) -> None:     # a user waiting on a retry should know why
        status = getattr(e, "status_code", None)
        log.warning("%s: %s; retrying in %.1f s", who, f"HTTP {status}" if status else f"cannot reach the server ({e})",
                    wait)
    try:
        return call_with_retries(fn, attempts, sleep, on_retry=said)
    except Exception as e:
        status = getattr(e, "status_code", None)
        if status == 401:
            raise ModelError(f"{who}: authentication failed (401): check {key_env} ({error_message(e)})") from None
        if status == 403:
            raise ModelError(f"{who}: permission denied (403): {error_message(e)}") from None
        if status == 404:
            raise ModelError(f"{who}: model or endpoint not found (404): {error_message(e)}") from None
        if status is not None:
            raise ModelError(f"{who}: HTTP {status}: {error_message(e)}") from None
        if transient(e):
            raise ModelError(f"{who}: cannot reach the server ({e})") from None
        raise
