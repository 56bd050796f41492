"""What a call costs.

Prices come from the maintained `genai-prices` package, its bundled data
only: Trellis never runs the package's network updater. A user's override
for a (provider, model) wins over the library. Self-hosted and local models
cost nothing unless overridden. A price nobody knows gives `None`, which the
log stores as unknown, never as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import Engine, delete, select

from core.db import session_scope
from core.providers.base import Usage
from core.telemetry.models import ModelPrice, utcnow

__all__ = ["Price", "PriceBook"]

_PER_MTOK = Decimal(1_000_000)

# Trellis provider names that are not genai-prices provider ids.
_PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic"}


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    source: str = "override"

    def cost(self, usage: Usage) -> float:
        cached = usage.cached_tokens if self.cached_input_per_mtok is not None else 0
        fresh_input = max(0, usage.input_tokens - cached)
        total = (
            Decimal(fresh_input) * Decimal(str(self.input_per_mtok))
            + Decimal(usage.output_tokens) * Decimal(str(self.output_per_mtok))
            + Decimal(cached) * Decimal(str(self.cached_input_per_mtok or 0))
        ) / _PER_MTOK
        return float(total)


#: Token count used to read a model's base per-MTok rates off the library: small
#: enough to stay below any long-context tier (those start at 128k-200k tokens).
_RATE_PROBE = 1_000
#: Below this many input tokens a call is priced from the cached base rates (a
#: few microseconds); at or above it, by the library on the exact usage (about
#: 0.2 ms), so tiered prices apply.
_TIERS_FROM = 32_000


def _library_cost(provider_id: str, model: str, usage: Usage) -> float | None:
    """The library's price for this exact usage (tiers included), or None when unknown."""
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    try:
        calc = calc_price(
            GUsage(
                input_tokens=usage.input_tokens,
                cache_read_tokens=usage.cached_tokens or None,
                output_tokens=usage.output_tokens,
            ),
            model_ref=model,
            provider_id=provider_id,
        )
    except LookupError:
        return None
    return float(calc.total_price)


@lru_cache(maxsize=512)
def _library_price(provider_id: str, model: str) -> Price | None:
    """The library's base rates for a model (for display and estimates), or None."""
    scale = _PER_MTOK / _RATE_PROBE
    fresh = _library_cost(provider_id, model, Usage(input_tokens=_RATE_PROBE))
    if fresh is None:
        return None
    out = _library_cost(provider_id, model, Usage(output_tokens=_RATE_PROBE)) or 0.0
    cached = _library_cost(
        provider_id, model, Usage(input_tokens=_RATE_PROBE, cached_tokens=_RATE_PROBE)
    )
    return Price(
        input_per_mtok=float(Decimal(str(fresh)) * scale),
        output_per_mtok=float(Decimal(str(out)) * scale),
        cached_input_per_mtok=None if cached is None else float(Decimal(str(cached)) * scale),
        source="genai-prices",
    )


class PriceBook:
    """Prices per (provider, model): user overrides in the database, then the library."""

    def __init__(self, engine: Engine | None = None, self_hosted: frozenset[str] = frozenset()):
        self._engine = engine
        self._self_hosted = self_hosted
        self._overrides: dict[tuple[str, str], Price] | None = None

    def _load_overrides(self) -> dict[tuple[str, str], Price]:
        if self._overrides is None:
            rows: dict[tuple[str, str], Price] = {}
            if self._engine is not None:
                with session_scope(self._engine) as s:
                    for row in s.execute(select(ModelPrice)).scalars():
                        rows[(row.provider, row.model)] = Price(
                            row.input_per_mtok, row.output_per_mtok, row.cached_input_per_mtok
                        )
            self._overrides = rows
        return self._overrides

    def price(self, provider: str, model: str) -> Price | None:
        override = self._load_overrides().get((provider, model))
        if override is not None:
            return override
        if provider in self._self_hosted:
            return Price(0.0, 0.0, 0.0, source="self-hosted")
        provider_id = _PROVIDER_IDS.get(provider)
        if provider_id is None:
            return None
        return _library_price(provider_id, model)

    def cost(self, provider: str, model: str, usage: Usage) -> float | None:
        """USD for one call, or None when the price is unknown.

        Library prices are computed on the call's real usage, so tiered
        prices (long-context rates above 200k input tokens) apply as billed.
        """
        override = self._load_overrides().get((provider, model))
        if override is not None:
            return override.cost(usage)
        if provider in self._self_hosted:
            return 0.0
        provider_id = _PROVIDER_IDS.get(provider)
        if provider_id is None:
            return None
        base = _library_price(provider_id, model)
        if base is None:
            return None
        if usage.input_tokens < _TIERS_FROM:
            return base.cost(usage)
        return _library_cost(provider_id, model, usage)

    def set_override(self, provider: str, model: str, price: Price) -> None:
        if self._engine is None:
            raise RuntimeError("PriceBook has no database to store overrides in")
        with session_scope(self._engine) as s:
            row = s.execute(
                select(ModelPrice).where(ModelPrice.provider == provider, ModelPrice.model == model)
            ).scalar_one_or_none()
            if row is None:
                row = ModelPrice(provider=provider, model=model)
                s.add(row)
            row.input_per_mtok = price.input_per_mtok
            row.output_per_mtok = price.output_per_mtok
            row.cached_input_per_mtok = price.cached_input_per_mtok
            row.updated_at = utcnow()
        self._overrides = None

    def remove_override(self, provider: str, model: str) -> None:
        if self._engine is None:
            return
        with session_scope(self._engine) as s:
            s.execute(
                delete(ModelPrice).where(ModelPrice.provider == provider, ModelPrice.model == model)
            )
        self._overrides = None
