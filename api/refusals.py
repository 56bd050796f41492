"""The log row of a request the gateway refuses before the engine sees it.

A missing, wrong, expired or revoked key (401), a key scoped away from the
model or prompt (403), an unknown model (404), a body over the size limit
(413), malformed JSON or an unsupported value (400), a field of the wrong type
(422) and a key's own rate limit (429): each leaves one row in the call log,
as LiteLLM's proxy and Helicone log failed requests, so ops staff see on the
Errors dashboard that an application is sending a dead key or bad bodies.

The row has status `refused` (dashboards count model calls without these; the
Errors page lists them apart), the error code and its one plain sentence, the
HTTP status and the key's name and public prefix in `params` — never the key
itself, never a header. A 400 or 422 keeps the first 200 characters of the
body, with anything shaped like a key blanked out (and the guards' PII
redaction applied when they are on); other refusals keep none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from api.errors import ApiError, describe
from core.access import Actor, Unauthenticated
from core.engine import checks
from core.providers import errors as E
from core.telemetry.models import utcnow
from core.telemetry.store import CallRecord

#: What a refused body's row keeps, in characters.
EXCERPT_CHARS = 200
#: Strings shaped like credentials (Trellis keys, OpenAI/Anthropic keys, bearer
#: tokens, "api_key": "..." values), blanked out of excerpts.
_SECRET = re.compile(
    r"trl_[A-Za-z0-9_\-]+|sk-[A-Za-z0-9_\-]{8,}|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]+"
    r"|(?i:(?<=\"api_key\":)\s*\"[^\"]*\"|(?<=\"authorization\":)\s*\"[^\"]*\")"
)


def excerpt(raw: bytes | None) -> str | None:
    """The first EXCERPT_CHARS characters of a body, credentials blanked."""
    if not raw:
        return None
    text = raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    text = _SECRET.sub("[hidden]", text)
    cut = text[:EXCERPT_CHARS]
    return cut + ("…" if len(text) > EXCERPT_CHARS or len(raw) > EXCERPT_CHARS * 4 else "")


def refusal_record(err: E.TrellisError, status: int, call_id: str, started: float,
                   actor: Actor | None, chat: Any, raw: bytes | None,
                   stream: bool, text_filter: Callable[[str], str | None] | None = None
                   ) -> CallRecord:
    """The row; `text_filter` (the guards' PII redaction, when they are on) is applied to
    the body excerpt like every other stored text."""
    _, _, code, _ = describe(err)
    params: dict[str, Any] = {"http_status": status, "endpoint": "/v1/chat/completions"}
    tags = None
    if actor is not None and actor.kind == "key":
        params["api_key"] = f"{actor.name.removeprefix('key:')} ({actor.key_prefix})"
        tags = actor.budget_tag
    elif isinstance(err, Unauthenticated) and getattr(err, "key_label", None):
        # An expired or revoked key: its name, so ops can tell which application.
        params["api_key"] = err.key_label
        tags = f"apikey:{err.key_prefix}"
    model = getattr(chat, "model", None)
    provider = model.split("/", 1)[0] if model and "/" in model else None
    note = None
    if status in (400, 422) and isinstance(err, ApiError):
        body = excerpt(raw)
        if body and text_filter is not None:
            body = text_filter(body)
        if body:
            note = f"Request body (first {EXCERPT_CHARS} characters): {body}"
    input_text = None
    if note:
        import json

        input_text = json.dumps([{"role": "note", "content": note}], ensure_ascii=False)
    return CallRecord(
        trace_id=call_id,
        created_at=utcnow(),
        source="api",
        tags=tags,
        provider=checks.bounded(provider, 50),
        model=checks.bounded(model.split("/", 1)[-1] if model else None, 200),
        latency_ms=(time.perf_counter() - started) * 1000.0,
        status="refused",
        error_class=checks.bounded(code or err.error_class, 50),
        error_message=checks.storable(err.user_message),
        stream=bool(stream),
        params=params,
        input_text=input_text,
    )
