"""Route and call: retries with backoff, fallback along a chain, breakers.

Retries use tenacity: exponential backoff with full jitter, or the
provider's `retry-after` when it sends one, within a total deadline per
request. Only transient errors are retried. A deployment that fails after
its retries, or whose breaker is open, hands over to the next in the chain.
A stream is retried or handed over only before its first token: after that
the caller has part of the answer and the error is theirs to see.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception
from tenacity.wait import wait_random_exponential

from core.engine.types import CallContext
from core.providers import errors as E
from core.providers.base import Completion, StreamedCompletion
from core.reliability.breaker import BreakerBoard
from core.reliability.config import ReliabilityConfig
from core.reliability.routes import PREFIX, RouteTable

T = TypeVar("T")

# Failures that say something about the deployment, so they count against its breaker.
_BREAKER_CLASSES = {"rate_limit", "timeout", "connection", "server", "stream_cut", "auth"}
# Failures another deployment may not share; plain bad requests would fail everywhere.
_FALLBACK_CLASSES = _BREAKER_CLASSES | {"unavailable", "circuit_open", "context_length"}


class CircuitOpen(E.TrellisError):
    error_class = "circuit_open"

    def __init__(self, deployment: str, retry_in: float) -> None:
        super().__init__(f"circuit open for {deployment}")
        self.deployment = deployment
        self.retry_in = retry_in

    @property
    def user_message(self) -> str:
        return (
            f"{self.deployment} is failing and paused for now; try again in "
            f"{max(1, round(self.retry_in))} s or pick another model."
        )


class ReliableExecutor:
    def __init__(
        self,
        engine: Any,
        routes: RouteTable,
        breakers: BreakerBoard,
        config: Callable[[], ReliabilityConfig],
    ) -> None:
        self._engine = engine
        self._routes = routes
        self._breakers = breakers
        self._config = config

    # -- route stage ------------------------------------------------------
    def plan(self, ctx: CallContext) -> dict[str, Any] | None:
        chain = self._routes.chain(ctx.model_id)
        ctx.extra["chain"] = chain
        if ctx.model_id.startswith(PREFIX):
            ctx.extra["route"] = ctx.model_id[len(PREFIX) :]
        provider, _, model = chain[0].partition("/")
        # Until a deployment serves, the row names the first one asked for.
        ctx.provider_name, ctx.model_name = provider, model
        ctx.extra["deadline"] = time.monotonic() + self._config().deadline_s
        return {"route": ctx.extra.get("route"), "chain": chain}

    # -- provider stage ---------------------------------------------------
    def complete(self, ctx: CallContext) -> Completion:
        def call(dep: str, provider: Any, model: str) -> Completion:
            return self._retrying(ctx, dep, lambda: provider.complete(self._request(ctx, model)))

        return self._along_chain(ctx, call)

    def stream(self, ctx: CallContext) -> StreamedCompletion:
        def deltas(acc: StreamedCompletion) -> Iterator[str]:
            opened: dict[str, Any] = {}

            def call(dep: str, provider: Any, model: str) -> bool:
                def first_token() -> tuple[StreamedCompletion, Iterator[str], str | None]:
                    streamed = provider.stream(self._request(ctx, model))
                    it = iter(streamed)
                    try:
                        return streamed, it, next(it)
                    except StopIteration:
                        return streamed, it, None
                    except BaseException:
                        streamed.close()
                        raise

                opened["stream"] = self._retrying(ctx, dep, first_token)
                opened["dep"] = dep
                return True

            self._along_chain(ctx, call)
            streamed, it, first = opened["stream"]
            dep = opened["dep"]
            try:
                if first is not None:
                    yield first
                    yield from it
            except E.TrellisError as exc:
                if exc.error_class in _BREAKER_CLASSES:
                    self._breakers.record_failure(dep, exc.error_class)
                raise
            finally:
                # However the reader stops (done, error, or walking away), the
                # provider's stream is closed now: the local model holds a lock.
                streamed.close()
            acc.usage, acc.finish_reason, acc.model = (
                streamed.usage,
                streamed.finish_reason,
                streamed.model,
            )

        return StreamedCompletion(deltas)

    # -- internals --------------------------------------------------------
    def _request(self, ctx: CallContext, model: str):  # noqa: ANN202
        req = self._engine.chat_request(ctx, model=model)
        remaining = ctx.extra["deadline"] - time.monotonic()
        limit = min(self._config().attempt_timeout_s, max(remaining, 0.1))
        req.timeout = min(req.timeout, limit) if req.timeout else limit
        return req

    def _along_chain(self, ctx: CallContext, call: Callable[[str, Any, str], T]) -> T:
        chain: list[str] = ctx.extra["chain"]
        attempts: list[dict[str, Any]] = []
        ctx.extra["provider_detail"] = {"attempts": attempts}
        failed: list[str] = []
        last: E.TrellisError | None = None
        for dep in chain:
            try:
                provider, model = self._engine.registry.resolve(dep)
            except E.TrellisError as exc:
                attempts.append({"deployment": dep, "error": exc.error_class})
                failed.append(dep)
                last = exc
                continue
            if not self._breakers.allow(dep):
                attempts.append({"deployment": dep, "skipped": "circuit_open"})
                failed.append(dep)
                last = CircuitOpen(dep, self._breakers.retry_in(dep))
                continue
            ctx.extra["attempt_log"] = attempts
            ctx.extra["attempt_dep"] = dep
            try:
                out = call(dep, provider, model)
            except E.TrellisError as exc:
                failed.append(dep)
                last = exc
                if exc.error_class not in _FALLBACK_CLASSES:
                    raise
                if time.monotonic() >= ctx.extra["deadline"]:
                    break
                continue
            ctx.provider, ctx.provider_name, ctx.model_name = provider, provider.name, model
            if failed:
                ctx.fallback_from = ",".join(failed)
            return out
        assert last is not None
        raise last

    def _retrying(self, ctx: CallContext, dep: str, fn: Callable[[], T]) -> T:
        cfg = self._config()
        deadline = ctx.extra["deadline"]
        backoff = wait_random_exponential(multiplier=cfg.backoff_base_s, max=cfg.backoff_max_s)
        attempts: list[dict[str, Any]] = ctx.extra["attempt_log"]

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = getattr(exc, "retry_after", None)
            return float(retry_after) if retry_after else backoff(state)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number > cfg.max_retries:
                return True
            # No point sleeping past the deadline, nor retrying a tripped deployment.
            if time.monotonic() + (state.upcoming_sleep or 0.0) >= deadline:
                return True
            return not self._breakers.allow(dep)

        def before_sleep(state: RetryCallState) -> None:
            ctx.retries += 1
            attempts[-1]["wait_s"] = round(state.upcoming_sleep or 0.0, 3)

        def attempt() -> T:
            try:
                out = fn()
            except E.TrellisError as exc:
                attempts.append({"deployment": dep, "error": exc.error_class})
                if exc.error_class in _BREAKER_CLASSES:
                    self._breakers.record_failure(dep, exc.error_class)
                raise
            attempts.append({"deployment": dep, "ok": True})
            self._breakers.record_success(dep)
            return out

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, E.TrellisError) and e.transient),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(attempt)
