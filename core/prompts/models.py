"""Tables behind the prompt registry: prompts, their immutable numbered
versions, the labels that point at versions, and every label move.

Versions are never updated or deleted: a label move (deploy, rollback) is
the only thing that changes which text serves traffic, and each move is a
row in `prompt_label_move`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from core.telemetry.models import utcnow


def _ts() -> Column:
    return Column(DateTime, nullable=False)


class PromptRow(SQLModel, table=True):
    __tablename__ = "prompt"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    description: str | None = Field(default=None, sa_column=Column(Text))
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    archived: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


class PromptVersionRow(SQLModel, table=True):
    __tablename__ = "prompt_version"
    # Two editors saving at once both read the same highest number; this
    # constraint makes the second insert fail so it retries with the next one.
    __table_args__ = (UniqueConstraint("prompt_id", "version", name="uq_prompt_version"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(
        sa_column=Column(Integer, ForeignKey("prompt.id", ondelete="CASCADE"), nullable=False)
    )
    version: int
    messages: list = Field(sa_column=Column(JSON, nullable=False))
    variables: list = Field(sa_column=Column(JSON, nullable=False))
    config: dict = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    author: str = Field(max_length=200)
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class PromptLabelRow(SQLModel, table=True):
    __tablename__ = "prompt_label"
    __table_args__ = (UniqueConstraint("prompt_id", "name", name="uq_prompt_label"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(
        sa_column=Column(Integer, ForeignKey("prompt.id", ondelete="CASCADE"), nullable=False)
    )
    name: str = Field(max_length=50)
    #: The version number it points at; None until a version is deployed.
    version: int | None = None
    protected: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    updated_by: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class PromptLabelMoveRow(SQLModel, table=True):
    __tablename__ = "prompt_label_move"
    __table_args__ = (Index("ix_prompt_label_move_prompt", "prompt_id", "moved_at"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(
        sa_column=Column(Integer, ForeignKey("prompt.id", ondelete="CASCADE"), nullable=False)
    )
    label: str = Field(max_length=50)
    from_version: int | None = None
    to_version: int | None = None
    moved_by: str = Field(max_length=200)
    moved_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    reason: str | None = Field(default=None, sa_column=Column(Text))
