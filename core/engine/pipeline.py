"""The request pipeline: the one entry for every completion.

Stages run in the order DESIGN.md gives, each a timed span of the call's
trace:

    render -> validate -> limits -> input_guards -> cache -> retrieve ->
    context_guards -> route -> provider -> output_guards -> cache_store -> record

`render` comes first so that every later stage sees the messages that will
be sent: validate checks the filled-in prompt's size, limits count its
tokens, and the input guards redact PII in variable values, which are user
data like any other. Without a registry prompt on the request it does
nothing.

`limits`, `input_guards`, `render`, `cache`, `retrieve`, `context_guards`
(guards for text added after the input guards: retrieved documents),
`output_guards` and `cache_store` are hook points: capabilities register callables there
(`Engine.add_hook`). `route` and `provider` are run by the engine's
`executor` (a direct call by default; core.reliability installs retries,
fallbacks and circuit breakers). Finalizers (`add_finalizer`) run once per
call just before the row is written, success or not: they release what
`limits` reserved. A hook
marked optional that fails with an unexpected error degrades the call (the
stage is recorded as degraded and the call goes on); a `TrellisError` from
any hook ends the call with that error. Whatever happens, `record` writes
exactly one log row.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from core.config import Settings
from core.costs import PriceBook
from core.engine import checks
from core.engine.types import CallContext, CompletionRequest, CompletionResponse
from core.providers import errors as E
from core.providers.base import ChatRequest, Completion, Message, StreamedCompletion, Usage
from core.providers.registry import ProviderRegistry
from core.telemetry.models import utcnow
from core.telemetry.store import CallRecord, SpanRecord, TelemetryStore

log = logging.getLogger(__name__)

#: `ctx.extra` keys the record stage fills for record filters: the input as the row
#: keeps it (role/content dicts, the caller's text) and the engine's note when it
#: was shortened (Trellis's own sentence, not the caller's).
STORED_INPUT_KEY = "stored_input"
STORED_NOTE_KEY = "stored_input_note"

HOOK_STAGES = (
    "limits",
    "input_guards",
    "render",
    "cache",
    "retrieve",
    "context_guards",
    "output_guards",
    "cache_store",
)
STAGES = (
    "render",
    "validate",
    "limits",
    "input_guards",
    "cache",
    "retrieve",
    "context_guards",
    "route",
    "provider",
    "output_guards",
    "cache_store",
    "record",
)

Hook = Callable[[CallContext], dict[str, Any] | None]


@dataclass(slots=True)
class _RegisteredHook:
    fn: Hook
    optional: bool


class InternalError(E.TrellisError):
    """A bug, not a provider failure: the details go to the server log only."""

    error_class = "internal"

    @property
    def user_message(self) -> str:
        return "Trellis hit an unexpected problem answering this; it has been logged. Try again."


class Cancelled(E.TrellisError):
    error_class = "cancelled"

    @property
    def user_message(self) -> str:
        return "The answer was stopped before it finished."


class Engine:
    """Runs completions through the pipeline and records each one."""

    def __init__(
        self,
        settings: Settings,
        registry: ProviderRegistry,
        prices: PriceBook,
        telemetry: TelemetryStore,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.prices = prices
        self.telemetry = telemetry
        self._hooks: dict[str, list[_RegisteredHook]] = {name: [] for name in HOOK_STAGES}
        self._finalizers: list[Callable[[CallContext], None]] = []
        self.executor: Executor = DirectExecutor(self)
        #: Called on each log row before it is written (the guards redact its texts here).
        self.record_filters: list[Callable[[CallContext, CallRecord], None]] = []

    # -- hooks ------------------------------------------------------------
    def add_hook(self, stage: str, fn: Hook, *, optional: bool = True) -> None:
        if stage not in self._hooks:
            raise ValueError(f"unknown stage {stage!r}; hook stages are {HOOK_STAGES}")
        self._hooks[stage].append(_RegisteredHook(fn, optional))

    def add_finalizer(self, fn: Callable[[CallContext], None]) -> None:
        """Run `fn(ctx)` once per call, after everything else and before the row is written."""
        self._finalizers.append(fn)

    def clear_hooks(self, stage: str | None = None) -> None:
        for name in [stage] if stage else list(self._hooks):
            self._hooks[name].clear()

    # -- public entry points ----------------------------------------------
    def chat(self, request: CompletionRequest) -> CompletionResponse:
        """Run one completion to the end and return it; raises a TrellisError on failure."""
        ctx = self._new_context(request, stream=False)
        try:
            self._before_provider(ctx)
            if ctx.result is None:
                self._stage(ctx, "provider", self._call_provider)
            self._after_provider(ctx)
            self._hook_stage(ctx, "cache_store")
        except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised typed
            raise self._fail(ctx, exc) from (None if isinstance(exc, E.TrellisError) else exc)
        finally:
            self._record(ctx)
        return self._response(ctx)

    def stream(self, request: CompletionRequest) -> EngineStream:
        """A stream of text deltas; `.response` is set once it has been read to the end."""
        return EngineStream(self, request)

    # -- stages -----------------------------------------------------------
    def _new_context(self, request: CompletionRequest, *, stream: bool) -> CallContext:
        # Never raises: whatever the caller sent, the call gets its validate
        # stage (a plain sentence) and its log row.
        request = checks.clean_request(request)
        extra: dict[str, Any] = {}
        try:
            messages = list(request.messages)
        except TypeError:
            messages = []
            extra["messages_unreadable"] = True
        if request.system:
            messages.insert(0, Message("system", request.system))
        return CallContext(
            request=request,
            trace_id=request.trace_id or uuid.uuid4().hex,
            created_at=utcnow(),
            t0=time.perf_counter(),
            model_id=request.model or self.settings.default_model,
            messages=messages,
            stream=stream,
            extra=extra,
        )

    def _stage(
        self, ctx: CallContext, name: str, fn: Callable[[CallContext], dict[str, Any] | None]
    ) -> None:
        _report_stage(ctx, name)
        start = time.perf_counter()
        status = "ok"
        detail: dict[str, Any] | None = None
        try:
            detail = fn(ctx)
        except BaseException as exc:
            status = "error"
            # A failed stage still shows what it tried (the provider's attempts).
            detail = {"error": getattr(exc, "error_class", type(exc).__name__)}
            detail.update(ctx.extra.get(f"{name}_detail") or {})
            raise
        finally:
            ctx.spans.append(
                SpanRecord(
                    name,
                    (start - ctx.t0) * 1000.0,
                    (time.perf_counter() - start) * 1000.0,
                    status,
                    detail,
                )
            )

    def _hook_stage(self, ctx: CallContext, name: str) -> None:
        hooks = self._hooks[name]
        if not hooks:
            ctx.spans.append(
                SpanRecord(name, (time.perf_counter() - ctx.t0) * 1000.0, 0.0, "skipped")
            )
            return
        _report_stage(ctx, name)
        start = time.perf_counter()
        status = "ok"
        detail: dict[str, Any] = {}
        try:
            for hook in hooks:
                try:
                    out = hook.fn(ctx)
                except E.TrellisError:
                    raise
                except Exception as exc:
                    if not hook.optional:
                        raise
                    # An optional stage that breaks must not take the call down with it.
                    log.warning("stage %s degraded: %s", name, exc, exc_info=True)
                    status = "degraded"
                    if name not in ctx.degraded:
                        ctx.degraded.append(name)
                    detail.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}")
                    continue
                if out:
                    detail.update(out)
            if name in ctx.degraded:
                status = "degraded"  # a hook that handled its own failure said so
        except BaseException:
            status = "error"
            raise
        finally:
            ctx.spans.append(
                SpanRecord(
                    name,
                    (start - ctx.t0) * 1000.0,
                    (time.perf_counter() - start) * 1000.0,
                    status,
                    detail or None,
                )
            )

    def _before_provider(self, ctx: CallContext) -> None:
        self._hook_stage(ctx, "render")
        self._stage(ctx, "validate", self._validate)
        self._hook_stage(ctx, "limits")
        self._hook_stage(ctx, "input_guards")
        self._hook_stage(ctx, "cache")
        if ctx.result is not None:
            return
        self._hook_stage(ctx, "retrieve")
        self._hook_stage(ctx, "context_guards")
        self._stage(ctx, "route", self._route)

    def _after_provider(self, ctx: CallContext) -> None:
        self._hook_stage(ctx, "output_guards")

    def _validate(self, ctx: CallContext) -> dict[str, Any] | None:
        checks.validate_request(ctx, self.settings)
        ctx.provider_name, ctx.model_name = ctx.model_id.split("/", 1)
        return None

    def _route(self, ctx: CallContext) -> dict[str, Any] | None:
        return self.executor.plan(ctx)

    def chat_request(self, ctx: CallContext, model: str | None = None) -> ChatRequest:
        req = ctx.request
        return ChatRequest(
            model=model or ctx.model_name or "",
            messages=ctx.messages,
            temperature=req.temperature,
            max_tokens=req.max_tokens,
            top_p=req.top_p,
            stop=req.stop,
            timeout=req.timeout,
            extra=req.options.get("provider_params"),
            json_schema=req.options.get("json_schema"),
        )

    def _call_provider(self, ctx: CallContext) -> dict[str, Any] | None:
        start = time.perf_counter()
        try:
            ctx.result = self.executor.complete(ctx)
        finally:
            ctx.gen_ms = (time.perf_counter() - start) * 1000.0
        detail: dict[str, Any] = {"provider": ctx.provider_name, "model": ctx.model_name}
        detail.update(ctx.extra.get("provider_detail") or {})
        return detail

    # -- endings ----------------------------------------------------------
    def _fail(self, ctx: CallContext, exc: BaseException) -> E.TrellisError:
        if isinstance(exc, E.TrellisError):
            err = exc
        elif isinstance(exc, GeneratorExit | KeyboardInterrupt):
            err = Cancelled("the caller stopped reading")
        else:
            log.exception("unexpected error in trace %s", ctx.trace_id)
            err = InternalError(f"{type(exc).__name__}: {exc}")
        ctx.error = err
        if ctx.status == "ok":
            ctx.status = "cancelled" if isinstance(err, Cancelled) else "error"
        return err

    def _record(self, ctx: CallContext) -> None:
        start = time.perf_counter()
        ctx.latency_ms = (start - ctx.t0) * 1000.0
        result = ctx.result
        usage = result.usage if result else Usage()
        if result is not None and ctx.cache_hit is None and ctx.provider_name and ctx.model_name:
            ctx.cost_usd = self.prices.cost(ctx.provider_name, ctx.model_name, usage)
            if ctx.extra.get("usage_unknown") and self.prices.cost(
                ctx.provider_name, ctx.model_name, Usage(1000, 1000)
            ):
                # Usage stopped with the stream: any figure would undercount, so the
                # cost is unknown (a free model stays at 0).
                ctx.cost_usd = None
        elif ctx.cache_hit:
            ctx.cost_usd = 0.0
        for finalize in self._finalizers:
            try:
                finalize(ctx)
            except Exception:  # noqa: BLE001
                # A finalizer must never cost the call its log row.
                log.exception("finalizer failed for trace %s", ctx.trace_id)
        status = ctx.status
        if status == "ok" and ctx.cache_hit:
            status = "cached"
        tps = None
        if result is not None and usage.output_tokens and ctx.gen_ms:
            # Streaming: decode speed after the first token; otherwise the whole call.
            gen_ms = ctx.extra.get("decode_ms") if ctx.stream else ctx.gen_ms
            if gen_ms:
                tps = usage.output_tokens / (gen_ms / 1000.0)
        req = ctx.request
        err = ctx.error
        ctx.spans.append(
            SpanRecord("record", (start - ctx.t0) * 1000.0, (time.perf_counter() - start) * 1000.0)
        )
        # A refused input is stored as a short excerpt (the row says so): storing and
        # redacting a million characters would cost more than the refusal itself.
        stored, note = checks.stored_messages(
            ctx.messages, refused=isinstance(err, E.InvalidRequest)
        )
        ctx.extra[STORED_INPUT_KEY] = stored
        ctx.extra[STORED_NOTE_KEY] = note
        record = CallRecord(
            trace_id=ctx.trace_id,
            created_at=ctx.created_at,
            source=req.source or "unknown",
            user_id=req.user_id,
            session_id=req.session_id,
            tags=",".join(req.tags) if req.tags else None,
            provider=checks.bounded(ctx.provider_name, 50),
            model=checks.bounded(ctx.model_name, 200),
            prompt_name=req.prompt_name,
            prompt_version=req.prompt_version,
            experiment=req.experiment,
            variant=req.variant,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=ctx.cost_usd,
            cost_saved_usd=ctx.cost_saved_usd,
            latency_ms=ctx.latency_ms,
            ttft_ms=ctx.ttft_ms,
            tokens_per_s=tps,
            status=status,
            error_class=err.error_class if err else None,
            error_message=checks.storable(err.user_message) if err else None,
            retries=ctx.retries,
            route=ctx.extra.get("route"),
            fallback_from=ctx.fallback_from,
            downgraded_from=ctx.extra.get("downgraded_from"),
            cache_hit=ctx.cache_hit,
            stream=ctx.stream,
            guard_actions=ctx.guard_report or None,
            degraded=ctx.degraded or None,
            params=checks.json_safe(_params(req)),
            input_text=json.dumps(
                stored + ([{"role": "note", "content": note}] if note else []),
                ensure_ascii=False,
            ),
            output_text=checks.storable(result.text) if result else None,
            spans=ctx.spans,
        )
        ctx.extra["tokens_per_s"] = tps
        for record_filter in self.record_filters:
            try:
                record_filter(ctx, record)
            except Exception:  # noqa: BLE001
                # Unfiltered text must not be stored: keep the row, drop its texts.
                log.exception("record filter failed for trace %s", ctx.trace_id)
                record.input_text = record.output_text = record.error_message = None
                for span in record.spans:
                    span.detail = None
        try:
            if req.record_async:
                self.telemetry.record_later(record)
            else:
                ctx.call_id = self.telemetry.record(record)
        except Exception:  # noqa: BLE001
            # The caller still gets their answer; the failure is loud in the server log.
            log.exception("could not write the log row for trace %s", ctx.trace_id)

    def _response(self, ctx: CallContext) -> CompletionResponse:
        result = ctx.result or Completion(text="")
        return CompletionResponse(
            text=result.text,
            model=f"{ctx.provider_name}/{ctx.model_name}",
            provider=ctx.provider_name or "",
            usage=result.usage,
            cost_usd=ctx.cost_usd,
            latency_ms=ctx.latency_ms,
            ttft_ms=ctx.ttft_ms,
            tokens_per_s=ctx.extra.get("tokens_per_s"),
            finish_reason=result.finish_reason,
            trace_id=ctx.trace_id,
            call_id=ctx.call_id,
            status="cached" if ctx.cache_hit else ctx.status,
            spans=ctx.spans,
            cache_hit=ctx.cache_hit,
            retries=ctx.retries,
            fallback_from=ctx.fallback_from,
            degraded=list(ctx.degraded),
            guard_report=dict(ctx.guard_report),
            sources=list(ctx.sources),
        )


class EngineStream:
    """Iterate for text deltas. The pipeline runs as the caller reads.

    Errors surface while iterating, as TrellisError, after the log row is
    written. `response` is set when the stream has been read to the end.
    """

    def __init__(self, engine: Engine, request: CompletionRequest) -> None:
        self._engine = engine
        self._request = request
        self.response: CompletionResponse | None = None
        self.error: E.TrellisError | None = None
        self.trace_id: str | None = None

    def __iter__(self) -> Iterator[str]:
        engine = self._engine
        ctx = engine._new_context(self._request, stream=True)
        self.trace_id = ctx.trace_id
        try:
            engine._before_provider(ctx)
            buffered = bool(ctx.extra.get("buffer_stream"))
            if ctx.result is not None:
                # A cache hit replays as one delta.
                ctx.ttft_ms = (time.perf_counter() - ctx.t0) * 1000.0
                if not buffered:
                    yield ctx.result.text
            elif buffered:
                # A guard must rewrite the answer first: read it all, send it once.
                for _ in self._provider_stream(ctx):
                    pass
            else:
                yield from self._provider_stream(ctx)
            engine._after_provider(ctx)
            engine._hook_stage(ctx, "cache_store")
            if buffered and ctx.result is not None:
                yield ctx.result.text
        except BaseException as exc:  # noqa: BLE001
            err = engine._fail(ctx, exc)
            self.error = err
            engine._record(ctx)
            if isinstance(exc, GeneratorExit):
                raise
            raise err from (None if isinstance(exc, E.TrellisError) else exc)
        engine._record(ctx)
        self.response = engine._response(ctx)

    def _provider_stream(self, ctx: CallContext) -> Iterator[str]:
        engine = self._engine
        _report_stage(ctx, "provider")
        start = time.perf_counter()
        status = "ok"
        streamed = None
        try:
            streamed = engine.executor.stream(ctx)
            first = 0.0
            for delta in streamed:
                if ctx.ttft_ms is None:
                    first = time.perf_counter()
                    ctx.ttft_ms = (first - ctx.t0) * 1000.0
                yield delta
            if first:
                ctx.extra["decode_ms"] = (time.perf_counter() - first) * 1000.0
            ctx.result = Completion(
                text=streamed.text,
                usage=streamed.usage,
                finish_reason=streamed.finish_reason,
                model=streamed.model,
            )
        except BaseException as exc:
            status = "cancelled" if isinstance(exc, GeneratorExit | KeyboardInterrupt) else "error"
            if streamed is not None:
                if streamed.text:
                    # Keep what arrived before the failure on the log row.
                    ctx.result = Completion(text=streamed.text, usage=streamed.usage)
                    usage = streamed.usage
                    if not usage.input_tokens or not usage.output_tokens:
                        # Providers report usage in the last chunks: a cut stream was
                        # billed for tokens nobody counted, so its cost is unknown.
                        ctx.extra["usage_unknown"] = True
                streamed.close()
            raise
        finally:
            now = time.perf_counter()
            ctx.gen_ms = (now - start) * 1000.0
            detail: dict[str, Any] = {
                "provider": ctx.provider_name,
                "model": ctx.model_name,
                "stream": True,
            }
            detail.update(ctx.extra.get("provider_detail") or {})
            ctx.spans.append(
                SpanRecord("provider", (start - ctx.t0) * 1000.0, ctx.gen_ms, status, detail)
            )


class Executor(Protocol):
    """Runs the route and provider stages: which deployment serves, and the call itself."""

    def plan(self, ctx: CallContext) -> dict[str, Any] | None: ...

    def complete(self, ctx: CallContext) -> Completion: ...

    def stream(self, ctx: CallContext) -> StreamedCompletion: ...


class DirectExecutor:
    """One deployment, one attempt: the engine without a reliability layer."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def plan(self, ctx: CallContext) -> dict[str, Any] | None:
        provider, model = self._engine.registry.resolve(ctx.model_id)
        ctx.provider, ctx.provider_name, ctx.model_name = provider, provider.name, model
        return {"provider": provider.name, "model": model}

    def complete(self, ctx: CallContext) -> Completion:
        assert ctx.provider is not None
        return ctx.provider.complete(self._engine.chat_request(ctx))

    def stream(self, ctx: CallContext) -> StreamedCompletion:
        assert ctx.provider is not None
        return ctx.provider.stream(self._engine.chat_request(ctx))


def _report_stage(ctx: CallContext, name: str) -> None:
    """Tell the caller's `on_stage` (if any) that stage `name` starts; never fail the call."""
    callback = ctx.request.on_stage
    if callback is None:
        return
    try:
        callback(name)
    except Exception:  # noqa: BLE001 - a progress display must not cost the answer
        log.warning("on_stage callback failed at %s", name, exc_info=True)


def _params(req: CompletionRequest) -> dict[str, Any] | None:
    params = {
        k: v
        for k, v in (
            ("temperature", req.temperature),
            ("max_tokens", req.max_tokens),
            ("top_p", req.top_p),
            ("stop", req.stop),
        )
        if v is not None
    }
    return params or None
