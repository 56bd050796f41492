"""Alert rules and the events they fired (tables created by migration 0005)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from core.telemetry.models import utcnow

#: kind -> what `threshold` means for it.
RULE_KINDS: dict[str, str] = {
    "error_rate": "error rate above X % over the last N minutes",
    "p95_latency": "p95 latency above X ms over the last N minutes",
    "user_spend": "spend of any single user above $X over the last N minutes",
    "tag_spend": "spend of any single tag above $X over the last N minutes",
    "daily_budget": "today's spend (UTC) above X % of the daily budget",
}

#: kind -> the label of its threshold field, with the unit.
RULE_THRESHOLDS: dict[str, str] = {
    "error_rate": "Above (% of calls)",
    "p95_latency": "Above (ms)",
    "user_spend": "Above (USD)",
    "tag_spend": "Above (USD)",
    "daily_budget": "Above (% of the daily budget)",
}


class AlertRule(SQLModel, table=True):
    """A condition over the call log, checked on page load and by `check-alerts`."""

    __tablename__ = "alert_rule"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=30)
    threshold: float
    window_minutes: int = 60
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class AlertEvent(SQLModel, table=True):
    """One notification of a firing rule (also the cooldown record for the webhook)."""

    __tablename__ = "alert_event"
    __table_args__ = (Index("ix_alert_event_rule_fired", "rule_id", "fired_at"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("alert_rule.id", ondelete="CASCADE"), nullable=False
        )
    )
    fired_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    subject: str | None = Field(default=None, max_length=200)
    value: float
    threshold: float
    message: str = Field(sa_column=Column(Text, nullable=False))
    #: "sent 200", "failed: ConnectError", or None when no webhook is configured.
    delivery: str | None = Field(default=None, max_length=200)
