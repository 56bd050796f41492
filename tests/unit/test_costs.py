"""Prices from genai-prices on real usage, overrides, self-hosted and unknown models."""

from __future__ import annotations

import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price

from core.costs import Price, PriceBook
from core.providers.base import Usage


def _library(model: str, provider: str, **usage) -> float:
    return float(calc_price(GUsage(**usage), model_ref=model, provider_id=provider).total_price)


def test_cost_is_the_library_price_of_the_real_usage():
    book = PriceBook()
    usage = Usage(input_tokens=1200, output_tokens=300, cached_tokens=200)
    expected = _library("gpt-4o-mini", "openai", input_tokens=1200, output_tokens=300,
                        cache_read_tokens=200)
    assert book.cost("openai", "gpt-4o-mini", usage) == pytest.approx(expected)
    # Cached input is cheaper than fresh input.
    assert expected < _library("gpt-4o-mini", "openai", input_tokens=1200, output_tokens=300)


def test_long_context_calls_pay_the_long_context_tier():
    book = PriceBook()
    short = book.price("anthropic", "claude-sonnet-4-5")
    assert short is not None and short.input_per_mtok == pytest.approx(3.0)
    # Above 200k input tokens the model bills at its long-context rate.
    long_usage = Usage(input_tokens=300_000, output_tokens=1_000)
    cost = book.cost("anthropic", "claude-sonnet-4-5", long_usage)
    assert cost == pytest.approx(
        _library("claude-sonnet-4-5", "anthropic", input_tokens=300_000, output_tokens=1_000)
    )
    assert cost > short.cost(long_usage)


def test_unknown_models_cost_unknown_and_self_hosted_cost_nothing():
    book = PriceBook(self_hosted=frozenset({"local", "compat"}))
    usage = Usage(input_tokens=10, output_tokens=10)
    assert book.cost("openai", "no-such-model-xyz", usage) is None
    assert book.cost("mystery", "model", usage) is None
    assert book.cost("local", "gemma-3-270m", usage) == 0.0


def test_override_wins_over_the_library(tmp_path):
    from core.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'prices.db'}")
    migrate(engine)
    book = PriceBook(engine, self_hosted=frozenset({"local"}))
    book.set_override("openai", "gpt-4o-mini", Price(10.0, 20.0))
    book.set_override("local", "gemma-3-270m", Price(1.0, 1.0))
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert book.cost("openai", "gpt-4o-mini", usage) == pytest.approx(30.0)
    assert book.cost("local", "gemma-3-270m", usage) == pytest.approx(2.0)
    book.remove_override("openai", "gpt-4o-mini")
    assert book.cost("openai", "gpt-4o-mini", usage) == pytest.approx(
        _library("gpt-4o-mini", "openai", input_tokens=1_000_000, output_tokens=1_000_000)
    )
    engine.dispose()


@pytest.mark.parametrize("model,provider", [("gpt-4o-mini", "openai"), ("gpt-4o", "openai"),
                                            ("claude-haiku-4-5", "anthropic"),
                                            ("claude-sonnet-4-5", "anthropic")])
@pytest.mark.parametrize("tokens", [(0, 1, 0), (950, 410, 0), (31_999, 2_000, 8_000),
                                    (32_000, 2_000, 0), (250_000, 4_000, 100_000)])
def test_fast_path_and_library_agree_on_every_size(model, provider, tokens):
    fresh_and_cached, output, cached = tokens
    usage = Usage(input_tokens=fresh_and_cached, output_tokens=output, cached_tokens=cached)
    expected = _library(model, provider, input_tokens=fresh_and_cached, output_tokens=output,
                        cache_read_tokens=cached or None)
    assert PriceBook().cost(provider, model, usage) == pytest.approx(expected, rel=1e-9)
