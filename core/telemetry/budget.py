"""Where the monitoring pages read the daily budget from.

Today it is the `daily_budget_usd` setting. When the reliability layer owns
budgets, this one function is the place to re-point.
"""

from __future__ import annotations

from core.config import Settings


def daily_budget_usd(settings: Settings) -> float | None:
    """The daily spend budget in USD, or None when none is set."""
    value = settings.daily_budget_usd
    return float(value) if value is not None and value > 0 else None
