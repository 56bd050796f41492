"""Translate exceptions of the Stainless-generated SDKs (openai, anthropic).

Both SDKs share one exception hierarchy by name, so one translator serves
both; it is given the SDK module so neither is imported unless used.
"""

from __future__ import annotations

from types import ModuleType

import httpx

from core.providers import errors as E

_CONTEXT_HINTS = (
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "context window",
    "too many tokens",
    "exceeds the context",
)


def retry_after_seconds(headers: httpx.Headers | None) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime
        from datetime import UTC, datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", None) or exc)


def translate(sdk: ModuleType, exc: BaseException, provider: str) -> E.TrellisError:
    """Map one SDK (or httpx) exception to Trellis's typed error."""
    if isinstance(exc, E.TrellisError):
        return exc
    msg = _message(exc) if isinstance(exc, Exception) else str(exc)
    if isinstance(exc, sdk.APITimeoutError | httpx.TimeoutException):
        return E.Timeout(msg, provider=provider)
    if isinstance(exc, sdk.APIConnectionError | httpx.ConnectError):
        return E.ConnectionFailed(msg, provider=provider)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return E.StreamInterrupted(msg, provider=provider)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        code = ""
        if isinstance(exc.body, dict):
            err = exc.body.get("error", exc.body)
            if isinstance(err, dict):
                code = str(err.get("code") or err.get("type") or "")
        lowered = f"{code} {msg}".lower()
        if status == 429:
            return E.RateLimited(
                msg, provider=provider, retry_after=retry_after_seconds(exc.response.headers)
            )
        if status in (401, 403):
            return E.AuthenticationFailed(msg, provider=provider)
        if status == 413 or any(hint in lowered for hint in _CONTEXT_HINTS):
            return E.ContextTooLong(msg, provider=provider)
        if status == 408:
            return E.Timeout(msg, provider=provider)
        if status >= 500:
            return E.ServerError(msg, provider=provider)
        return E.BadRequest(msg, provider=provider)
    if isinstance(exc, sdk.APIError):
        # Raised mid-stream when the server sends an error event or the body breaks.
        return E.StreamInterrupted(msg, provider=provider)
    return E.ServerError(f"{type(exc).__name__}: {msg}", provider=provider)
