"""Reliability and spend control, installed on the engine.

Retries, fallback chains and circuit breakers run the route and provider
stages; rate limits and budgets run in the `limits` stage (released by a
finalizer however the call ends); the response caches run in `cache` and
`cache_store`.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine as DBEngine

from core.costs import PriceBook
from core.engine import CallContext, Engine
from core.providers import errors as E
from core.reliability.breaker import BreakerBoard, BreakerView
from core.reliability.budgets import (
    RESERVATION_TTL,
    BudgetExceeded,
    BudgetManager,
    estimate_input_tokens,
)
from core.reliability.cache import ResponseCache
from core.reliability.config import ReliabilityConfig, load_config, save_config
from core.reliability.executor import CircuitOpen, ReliableExecutor
from core.reliability.limits import RateLimiter, RateLimitExceeded
from core.reliability.routes import RouteTable

__all__ = [
    "BreakerView",
    "BudgetExceeded",
    "CircuitOpen",
    "RateLimitExceeded",
    "Reliability",
    "ReliabilityConfig",
]

_CONFIG_TTL_S = 2.0


class Reliability:
    def __init__(self, db: DBEngine, prices: PriceBook, max_output_tokens: int) -> None:
        self._db = db
        self._max_output_tokens = max_output_tokens
        self._config_lock = threading.Lock()
        self._config_cache: tuple[float, ReliabilityConfig] | None = None
        self.routes = RouteTable(db)
        self.breakers = BreakerBoard(db, self.config)
        self.limiter = RateLimiter()
        self.budgets = BudgetManager(db, prices)
        self.cache = ResponseCache(db, prices, self.config)

    # -- settings ---------------------------------------------------------
    def config(self) -> ReliabilityConfig:
        """The current settings, re-read from the database every few seconds."""
        with self._config_lock:
            now = time.monotonic()
            if self._config_cache is None or now - self._config_cache[0] > _CONFIG_TTL_S:
                self._config_cache = (now, load_config(self._db))
            return self._config_cache[1]

    def update_config(self, **changes: Any) -> ReliabilityConfig:
        config = ReliabilityConfig(**{**self.config().model_dump(), **changes})
        save_config(self._db, config)
        self._config_cache = None
        return config

    # -- wiring -----------------------------------------------------------
    def install(self, engine: Engine) -> None:
        engine.executor = ReliableExecutor(engine, self.routes, self.breakers, self.config)
        # Limits must hold: a failure there is an error, not a degradation.
        engine.add_hook("limits", self._limits, optional=False)
        engine.add_hook("cache", self.cache.lookup)
        engine.add_hook("cache_store", self.cache.store)
        engine.add_finalizer(self._release)

    def _limits(self, ctx: CallContext) -> dict[str, Any] | None:
        cfg = self.config()
        req = ctx.request
        max_tokens = req.max_tokens or self._max_output_tokens
        try:
            chain = self.routes.chain(ctx.model_id)
            ctx.extra["admission"] = self.limiter.admit(
                user=req.user_id,
                tokens=estimate_input_tokens(ctx.messages) + max_tokens,
                rpm_global=cfg.rpm_global,
                rpm_user=cfg.rpm_user,
                tpm_global=cfg.tpm_global,
                tpm_user=cfg.tpm_user,
                max_concurrent=cfg.max_concurrent,
            )
        except RateLimitExceeded:
            ctx.status = "blocked"
            raise
        detail: dict[str, Any] = {}
        budgets = self.budgets.applicable(req.user_id, req.tags)
        if not budgets:
            return detail or None
        amount = self.budgets.max_cost(chain, ctx.messages, max_tokens)
        hold = timedelta(seconds=cfg.deadline_s) + RESERVATION_TTL
        reservation, refused = self.budgets.reserve(budgets, amount, hold)
        if refused is not None and refused.policy == "downgrade" and refused.downgrade_model:
            target = refused.downgrade_model
            if target != ctx.model_id:
                cheaper = self.budgets.max_cost(self.routes.chain(target), ctx.messages, max_tokens)
                reservation, still = self.budgets.reserve(budgets, cheaper, hold)
                if reservation is not None:
                    ctx.extra["downgraded_from"] = ctx.model_id
                    detail["downgraded"] = {
                        "from": ctx.model_id,
                        "to": target,
                        "budget": refused.name,
                    }
                    ctx.model_id = target
                    amount = cheaper
                refused = still
        if reservation is None:
            ctx.status = "blocked"
            assert refused is not None
            raise BudgetExceeded(
                f"budget {refused.name} has no room for ${amount:.6f}",
                budget=refused.name,
                period=refused.period,
            )
        ctx.extra["reservation"] = reservation
        detail["reserved_usd"] = round(amount, 8)
        detail["budgets"] = [b.name for b, _ in budgets]
        return detail

    def _release(self, ctx: CallContext) -> None:
        admission = ctx.extra.pop("admission", None)
        if admission is not None:
            usage = ctx.result.usage if ctx.result is not None else None
            actual = usage.input_tokens + usage.output_tokens if usage else 0
            self.limiter.settle(admission, 0 if ctx.cache_hit else actual)
        reservation = ctx.extra.pop("reservation", None)
        if reservation is not None:
            self.budgets.settle(reservation, _spend(ctx, reservation.amount))


def _spend(ctx: CallContext, reserved: float) -> float:
    """What a finished call counts against its budgets."""
    if ctx.cache_hit or ctx.result is None:
        return 0.0  # served from cache, or no answer (providers do not bill failures)
    if ctx.cost_usd is None:
        # Known model, unknown usage (a stream cut before its usage arrived): charge
        # the reservation, the call's estimated maximum. Unknown price: reserved 0.
        return reserved if ctx.extra.get("usage_unknown") else 0.0
    return ctx.cost_usd


def is_blocking(exc: E.TrellisError) -> bool:
    """Errors raised by Trellis's own limits rather than by a provider."""
    return isinstance(exc, RateLimitExceeded | BudgetExceeded)
