"""Translate exceptions of the Stainless-generated SDKs (openai, anthropic).

Both SDKs share one exception hierarchy by name, so one translator serves
both; it is given the SDK module so neither is imported unless used.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from core.providers import errors as E


def _transport_errors(name: str) -> tuple[type[BaseException], ...]:
    """`name` from httpx and httpx2 (newer SDKs use httpx2), whichever are installed."""
    found: list[type[BaseException]] = []
    for module in ("httpx", "httpx2"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_TIMEOUTS = _transport_errors("TimeoutException")
_CONNECT = _transport_errors("ConnectError")
_BROKEN = _transport_errors("RemoteProtocolError") + _transport_errors("ReadError")

_CONTEXT_HINTS = (
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "context window",
    "too many tokens",
    "exceeds the context",
)


def retry_after_seconds(headers) -> float | None:  # noqa: ANN001 - httpx(2).Headers
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
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

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


def translate(
    sdk: ModuleType, exc: BaseException, provider: str, *, mid_stream: bool = False
) -> E.TrellisError:
    """Map one SDK (or httpx) exception to Trellis's typed error.

    `mid_stream` marks a failure after the response started: a dropped
    connection there means the stream was cut, not that the server is down.
    """
    if isinstance(exc, E.TrellisError):
        return exc
    msg = _message(exc) if isinstance(exc, Exception) else str(exc)
    if isinstance(exc, (sdk.APITimeoutError, _TIMEOUTS)):
        return E.Timeout(msg, provider=provider)
    if isinstance(exc, _BROKEN) or (mid_stream and isinstance(exc, sdk.APIConnectionError)):
        return E.StreamInterrupted(msg, provider=provider)
    if isinstance(exc, (sdk.APIConnectionError, _CONNECT)):
        return E.ConnectionFailed(msg, provider=provider)
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
