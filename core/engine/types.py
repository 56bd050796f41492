"""Requests into the engine and responses out of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.providers.base import Completion, Message, Provider, Usage
from core.providers.errors import TrellisError
from core.telemetry.store import SpanRecord


@dataclass(slots=True)
class CompletionRequest:
    """One completion as a caller asks for it. `model` is `provider/model`."""

    messages: list[Message]
    model: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    source: str = "playground"
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    prompt_label: str | None = None
    experiment: str | None = None
    variant: str | None = None
    variables: dict[str, Any] | None = None
    #: Per-request opt-out of the caches.
    cache: bool = True
    timeout: float | None = None
    #: Options read by optional stages (collection for retrieval, guard policy, ...).
    options: dict[str, Any] = field(default_factory=dict)
    #: The call's id when the caller must know it before the call runs (the gateway
    #: sends it in a header); a fresh one otherwise.
    trace_id: str | None = None
    #: Called with each stage's name as it starts (a stage with nothing to do is not
    #: reported), so a caller can show where a long call is. It must be quick; an
    #: error it raises is logged and ignored.
    on_stage: Callable[[str], None] | None = None
    #: Write the log row in the background (batched) instead of before returning; the
    #: response's `call_id` is then None. For callers that identify calls by trace id.
    record_async: bool = False


@dataclass(slots=True)
class CompletionResponse:
    text: str
    model: str
    provider: str
    usage: Usage
    cost_usd: float | None
    latency_ms: float
    ttft_ms: float | None
    tokens_per_s: float | None
    finish_reason: str | None
    trace_id: str
    call_id: int | None
    status: str
    spans: list[SpanRecord]
    cache_hit: str | None = None
    retries: int = 0
    fallback_from: str | None = None
    degraded: list[str] = field(default_factory=list)
    guard_report: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cost_known(self) -> bool:
        return self.cost_usd is not None


@dataclass(slots=True)
class CallContext:
    """The state of one call as it moves through the stages.

    Stage hooks read and change it: guards rewrite `messages`, the cache
    sets `result`, retrieval adds `sources`, reliability fills `retries`.
    """

    request: CompletionRequest
    trace_id: str
    created_at: datetime
    t0: float
    model_id: str
    messages: list[Message]
    stream: bool = False
    provider: Provider | None = None
    provider_name: str | None = None
    model_name: str | None = None
    result: Completion | None = None
    status: str = "ok"
    error: TrellisError | None = None
    ttft_ms: float | None = None
    gen_ms: float | None = None
    latency_ms: float = 0.0
    retries: int = 0
    fallback_from: str | None = None
    cache_hit: str | None = None
    cost_saved_usd: float | None = None
    cost_usd: float | None = None
    degraded: list[str] = field(default_factory=list)
    guard_report: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    call_id: int | None = None
