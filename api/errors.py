"""Core's typed errors as OpenAI-shaped HTTP errors.

The body is OpenAI's `{"error": {"message", "type", "param", "code"}}`; the
message is the error's one plain sentence, never exception text or a key.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSON

from core.access import AccessDenied, Unauthenticated
from core.engine.pipeline import Cancelled
from core.providers import errors as E
from core.reliability import BudgetExceeded, CircuitOpen, RateLimitExceeded
from core.telemetry.models import utcnow


class JSONResponse(_StarletteJSON):
    """A JSON response serialised by orjson (several times faster than the stdlib's)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(raw: bytes) -> Any:
    """Parse JSON with orjson; what orjson refuses but the stdlib takes (NaN, integers
    beyond 64 bits) is parsed by the stdlib, so the gateway accepts what it always did."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        import json

        return json.loads(raw)


class ApiError(E.TrellisError):
    """An error the gateway itself raises (not found, too large, bad JSON)."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type_ = type_
        self.code = code
        self.param = param

    @property
    def user_message(self) -> str:
        return self.detail


def _retry_after(err: E.TrellisError) -> float | None:
    if isinstance(err, RateLimitExceeded | E.RateLimited):
        return err.retry_after or 1.0
    if isinstance(err, CircuitOpen):
        return err.retry_in
    if isinstance(err, BudgetExceeded):
        now = utcnow()
        if err.period == "monthly":
            nxt = datetime(now.year + now.month // 12, now.month % 12 + 1, 1)
        else:
            nxt = datetime(now.year, now.month, now.day) + timedelta(days=1)
        return (nxt - now).total_seconds()
    return None


def describe(err: E.TrellisError) -> tuple[int, str, str | None, dict[str, str]]:
    """(HTTP status, OpenAI error type, code, extra headers) for a core error."""
    headers: dict[str, str] = {}
    wait = _retry_after(err)
    if wait is not None:
        headers["retry-after"] = str(max(1, math.ceil(wait)))
    if isinstance(err, ApiError):
        return err.status, err.type_, err.code, headers
    if isinstance(err, Unauthenticated):
        return 401, "invalid_request_error", "invalid_api_key", headers
    if isinstance(err, AccessDenied):
        return 403, "permission_error", "forbidden", headers
    if isinstance(err, BudgetExceeded):
        return 429, "insufficient_quota", "budget_exceeded", headers
    if isinstance(err, RateLimitExceeded | E.RateLimited):
        return 429, "rate_limit_error", "rate_limit_exceeded", headers
    if isinstance(err, E.Timeout):
        return 408, "timeout_error", "timeout", headers
    if isinstance(err, E.ContextTooLong):
        return 400, "invalid_request_error", "context_length_exceeded", headers
    if isinstance(err, E.InvalidRequest | E.BadRequest):
        return 400, "invalid_request_error", err.error_class, headers
    if isinstance(err, CircuitOpen | E.ProviderUnavailable):
        return 503, "service_unavailable", err.error_class, headers
    if isinstance(err, E.ProviderError):  # connection, server, cut stream, upstream key
        return 502, "upstream_error", err.error_class, headers
    if isinstance(err, Cancelled):
        return 499, "cancelled", "cancelled", headers
    cls = err.error_class
    if cls == "guard_block":
        return 400, "invalid_request_error", "guardrail_blocked", headers
    if cls == "guard_error":
        return 503, "service_unavailable", cls, headers
    if cls == "schema":
        return 502, "upstream_error", "schema_mismatch", headers
    if cls in ("prompt", "not_found") or "NotFound" in type(err).__name__:
        return 404, "not_found_error", cls, headers
    if cls == "validation":
        return 400, "invalid_request_error", cls, headers
    return 500, "server_error", cls, headers


def body(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
