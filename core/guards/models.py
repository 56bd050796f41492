"""Stored guard policies and the custom recognizers admins add in the app.

Mirrors migration 0004_guards; the migration, not `create_all`, owns the schema.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel

from core.telemetry.models import utcnow


class GuardPolicyRow(SQLModel, table=True):
    """A named policy; `config` is a `GuardPolicy` as JSON."""

    __tablename__ = "guard_policy"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=50, unique=True)
    description: str | None = Field(default=None, sa_column=Column(Text))
    config: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    builtin: bool = False
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime, nullable=False)
    )


class GuardRecognizerRow(SQLModel, table=True):
    """A regular-expression recognizer for an organisation's own identifiers."""

    __tablename__ = "guard_recognizer"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    entity_type: str = Field(max_length=50)
    pattern: str = Field(sa_column=Column(Text, nullable=False))
    score: float = 0.8
    context: list | None = Field(default=None, sa_column=Column(JSON))
    enabled: bool = True
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime, nullable=False)
    )
