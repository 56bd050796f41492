"""The log tables: one row per call, its stage spans, and user feedback.

Timestamps are naive UTC everywhere (stored and compared as UTC); pages
convert to local time for display only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

#: The status of a request the gateway refused before the engine (api/refusals.py).
REFUSED = "refused"


def utcnow() -> datetime:
    """Now in UTC, naive: SQLite has no time zones, so all stored times are UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class CallLog(SQLModel, table=True):
    """One completion request, whatever became of it."""

    __tablename__ = "call_log"
    __table_args__ = (
        Index("ix_call_log_created_at", "created_at"),
        Index("ix_call_log_model_created", "model", "created_at"),
        Index("ix_call_log_user_created", "user_id", "created_at"),
        Index("ix_call_log_status_created", "status", "created_at"),
        # Added by migration 0005 for the dashboards' filters.
        Index("ix_call_log_provider_created", "provider", "created_at"),
        Index("ix_call_log_source_created", "source", "created_at"),
        Index("ix_call_log_prompt_created", "prompt_name", "created_at"),
        Index("ix_call_log_error_class_created", "error_class", "created_at"),
        # Migration 0014: an experiment's results read its calls per variant.
        Index("ix_call_log_experiment", "experiment", "variant"),
        # Covers every column the dashboards aggregate, so unfiltered views are
        # answered from the index without reading prompt and answer text.
        Index(
            "ix_call_log_dashboard",
            "created_at", "status", "provider", "model", "latency_ms", "ttft_ms",
            "tokens_per_s", "cost_usd", "cost_saved_usd", "input_tokens", "output_tokens",
            "cache_hit", "user_id", "tags", "prompt_name", "prompt_version", "error_class",
            "retries", "fallback_from", "source",
        ),
        # Migration 0008, on SQLite only: rows in (user, tags) order, so the
        # top-spenders tables group without sorting. Its other index, on the
        # day bucket expression, is not declared here: SQLAlchemy cannot
        # reflect expression indexes, so a comparison would not see it.
        Index(
            "ix_call_log_user_tags",
            "user_id", "tags", "created_at", "provider", "model", "prompt_name", "source",
            "status", "cost_usd", "cost_saved_usd", "input_tokens", "output_tokens", "cache_hit",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    trace_id: str = Field(max_length=32, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    source: str = Field(default="playground", max_length=20)
    user_id: str | None = Field(default=None, max_length=200)
    session_id: str | None = Field(default=None, max_length=200)
    tags: str | None = Field(default=None, max_length=500)

    provider: str | None = Field(default=None, max_length=50)
    model: str | None = Field(default=None, max_length=200)
    prompt_name: str | None = Field(default=None, max_length=200)
    prompt_version: int | None = None
    experiment: str | None = Field(default=None, max_length=200)
    variant: str | None = Field(default=None, max_length=200)

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    # None means the price is unknown, which is not the same as free.
    cost_usd: float | None = None
    cost_saved_usd: float | None = None

    latency_ms: float = 0.0
    ttft_ms: float | None = None
    tokens_per_s: float | None = None

    #: ok | cached | error | blocked | cancelled | refused (the gateway turned the request
    #: away before the engine: no model was called; dashboards count these apart)
    status: str = Field(default="ok", max_length=20)
    error_class: str | None = Field(default=None, max_length=50)
    error_message: str | None = Field(default=None, sa_column=Column(Text))

    retries: int = 0
    route: str | None = Field(default=None, max_length=100)
    fallback_from: str | None = Field(default=None, max_length=300)
    downgraded_from: str | None = Field(default=None, max_length=300)
    cache_hit: str | None = Field(default=None, max_length=20)  # exact | semantic
    stream: bool = False
    guard_actions: dict | None = Field(default=None, sa_column=Column(JSON))
    degraded: list | None = Field(default=None, sa_column=Column(JSON))
    params: dict | None = Field(default=None, sa_column=Column(JSON))

    input_text: str | None = Field(default=None, sa_column=Column(Text))
    output_text: str | None = Field(default=None, sa_column=Column(Text))


class Span(SQLModel, table=True):
    """One timed pipeline stage of a call."""

    __tablename__ = "span"

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("call_log.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    seq: int = 0
    name: str = Field(max_length=50)
    start_ms: float = 0.0  # offset from the start of the call
    duration_ms: float = 0.0
    status: str = Field(default="ok", max_length=20)  # ok | error | cancelled | skipped | degraded
    detail: dict | None = Field(default=None, sa_column=Column(JSON))


class Feedback(SQLModel, table=True):
    """A thumbs up or down, with an optional comment, on one call."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_created_at", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("call_log.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    score: int  # +1 or -1
    comment: str | None = Field(default=None, sa_column=Column(Text))
    user_id: str | None = Field(default=None, max_length=200)


class ModelPrice(SQLModel, table=True):
    """A user's price for a model the price library does not know, or overrides."""

    __tablename__ = "model_price"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=50)
    model: str = Field(max_length=200)
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cached_input_per_mtok: float | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))

    __table_args__ = (Index("ux_model_price_provider_model", "provider", "model", unique=True),)
