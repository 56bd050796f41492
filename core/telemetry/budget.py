"""Where the monitoring pages and alerts read the daily budget from.

The global daily budget set on the Operations page (the smallest, if there
are several) wins; the `TRELLIS_DAILY_BUDGET_USD` setting is the fallback
for installs that set a budget line without enforcing one.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from core.config import Settings
from core.db import session_scope

#: How every "spent today" figure counts, said the same way wherever one is shown
#: (the sidebar, the budgets on Operations, the daily-budget alert).
SPEND_BASIS = "Real calls only: demo traffic is not counted, here or in any budget."
#: What a budget's own figure covers beyond that.
BUDGET_BASIS = (
    "A budget counts the calls it governed: those made since it was saved, in its "
    "current period (days and months in UTC). Demo traffic is never counted."
)


def daily_budget_usd(settings: Settings, db: Engine | None = None) -> float | None:
    """The daily spend budget in USD, or None when none is set."""
    if db is not None:
        from core.reliability.models import Budget

        with session_scope(db) as s:
            limits = list(
                s.execute(
                    select(Budget.limit_usd).where(
                        Budget.enabled.is_(True),
                        Budget.scope == "global",
                        Budget.period == "daily",
                    )
                ).scalars()
            )
        if limits:
            return float(min(limits))
    value = settings.daily_budget_usd
    return float(value) if value is not None and value > 0 else None
