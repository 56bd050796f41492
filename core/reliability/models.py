"""Tables behind the reliability layer: routes, breaker state, budgets and
their usage, budget alerts, cached responses and editable operations settings.

They live in the database so every app replica sees the same routes,
budgets, caches and breaker resets.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

from core.telemetry.models import utcnow


def _ts() -> Column:
    return Column(DateTime, nullable=False)


class Route(SQLModel, table=True):
    """A named, ordered chain of deployments (`provider/model`), tried in turn."""

    __tablename__ = "route"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    deployments: list = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class BreakerState(SQLModel, table=True):
    """The circuit breaker of one deployment, as last persisted."""

    __tablename__ = "breaker_state"

    deployment: str = Field(primary_key=True, max_length=300)
    state: str = Field(default="closed", max_length=20)  # closed | open | half_open
    failures: int = 0
    opened_count: int = 0
    opened_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    reopens_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    last_error: str | None = Field(default=None, max_length=50)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Budget(SQLModel, table=True):
    """A spend cap: global, per user or per tag; daily or monthly."""

    __tablename__ = "budget"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    scope: str = Field(default="global", max_length=10)  # global | user | tag
    subject: str | None = Field(default=None, max_length=200)  # user id or tag; None = each
    period: str = Field(default="daily", max_length=10)  # daily | monthly
    limit_usd: float
    policy: str = Field(default="block", max_length=10)  # block | downgrade
    downgrade_model: str | None = Field(default=None, max_length=300)
    alert_threshold: float = 0.8
    enabled: bool = True
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class BudgetUsage(SQLModel, table=True):
    """Spend and open reservations of one budget for one period and subject."""

    __tablename__ = "budget_usage"
    __table_args__ = (
        Index("ux_budget_usage", "budget_id", "period_start", "subject", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    budget_id: int = Field(
        sa_column=Column(Integer, ForeignKey("budget.id", ondelete="CASCADE"), nullable=False)
    )
    period_start: datetime = Field(sa_column=_ts())
    subject: str = Field(default="*", max_length=200)
    spent_usd: float = 0.0
    reserved_usd: float = 0.0


class BudgetReservation(SQLModel, table=True):
    """One call's open hold on a budget usage row, until it settles or expires."""

    __tablename__ = "budget_reservation"
    __table_args__ = (Index("ix_budget_reservation_expires", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    usage_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("budget_usage.id", ondelete="CASCADE"), nullable=False
        )
    )
    amount_usd: float
    expires_at: datetime = Field(sa_column=_ts())


class BudgetAlert(SQLModel, table=True):
    """A budget crossed its alert threshold (or its limit) in a period."""

    __tablename__ = "budget_alert"
    __table_args__ = (
        Index("ux_budget_alert", "budget_id", "period_start", "subject", "level", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    budget_id: int = Field(
        sa_column=Column(Integer, ForeignKey("budget.id", ondelete="CASCADE"), nullable=False)
    )
    period_start: datetime = Field(sa_column=_ts())
    subject: str = Field(default="*", max_length=200)
    level: str = Field(max_length=20)  # threshold | exhausted
    spent_usd: float
    limit_usd: float
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    acknowledged: bool = False


class CacheEntry(SQLModel, table=True):
    """A stored answer, found by exact key or by embedding similarity within a scope."""

    __tablename__ = "cache_entry"
    __table_args__ = (Index("ix_cache_entry_scope_expires", "scope", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    scope: str = Field(max_length=64)
    model: str = Field(max_length=300)
    prompt_text: str = Field(sa_column=Column(Text, nullable=False))
    response_text: str = Field(sa_column=Column(Text, nullable=False))
    usage: dict = Field(sa_column=Column(JSON, nullable=False))
    cost_usd: float | None = None
    embedding: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    hits: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())


class OpsSetting(SQLModel, table=True):
    """Operations settings edited in the app (retries, breakers, limits, caches)."""

    __tablename__ = "ops_setting"

    key: str = Field(primary_key=True, max_length=100)
    value: dict = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class RateWindow(SQLModel, table=True):
    """Requests and tokens one subject (an API key) used in one clock minute, shared by
    every gateway process, so a key's per-minute limits hold across replicas."""

    __tablename__ = "rate_window"
    __table_args__ = (Index("ux_rate_window", "subject", "minute", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=100)
    #: Minutes since the Unix epoch (UTC): the fixed window this row counts.
    minute: int
    requests: int = 0
    tokens: int = 0
