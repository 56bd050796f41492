"""Tables behind experiments: an experiment on one prompt, its variants, and
the eval suite that gates the prompt's `production` label."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from core.telemetry.models import utcnow


class ExperimentRow(SQLModel, table=True):
    __tablename__ = "experiment"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    hypothesis: str | None = Field(default=None, sa_column=Column(Text))
    prompt: str = Field(max_length=100, index=True)
    salt: str = Field(max_length=64)
    #: user | session | request
    unit: str = Field(default="user", max_length=20)
    primary_metric: str = Field(default="thumbs_up", max_length=40)
    guardrails: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Eval assertions (suite form) graded on a sample of live answers: the eval score metric.
    live_asserts: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    baseline_rate: float = Field(default=0.6, sa_column=Column(Float, nullable=False))
    mde: float = Field(default=0.05, sa_column=Column(Float, nullable=False))
    ramp: float = Field(default=1.0, sa_column=Column(Float, nullable=False))
    #: draft | running | paused | stopped
    state: str = Field(default="draft", max_length=20)
    decision: str | None = Field(default=None, sa_column=Column(Text))
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(DateTime, nullable=False))


class ExperimentVariantRow(SQLModel, table=True):
    __tablename__ = "experiment_variant"

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(sa_column=Column(
        Integer, ForeignKey("experiment.id", ondelete="CASCADE"), nullable=False, index=True))
    name: str = Field(max_length=100)
    version: int
    model: str | None = Field(default=None, max_length=200)
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    weight: float = Field(default=1.0, sa_column=Column(Float, nullable=False))
    control: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


class PromptGateRow(SQLModel, table=True):
    """The eval suite a prompt's `production` label must pass before it moves."""

    __tablename__ = "prompt_gate"

    id: int | None = Field(default=None, primary_key=True)
    prompt: str = Field(max_length=100, unique=True)
    suite: str = Field(max_length=200)
    set_by: str = Field(max_length=200)
    set_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
