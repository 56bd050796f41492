"""The eval tables: versioned datasets and their cases, runs and per-cell results.

A dataset version is immutable: editing or re-importing makes a new version,
so a run always points at the exact cases it used. A run keeps a snapshot of
its whole configuration (suite, prompts, models, assertions, thresholds), and
each cell of its matrix is one row in `eval_result`, written as it finishes;
`(run_id, cell_key)` is unique, which is what lets a resumed run skip the
cells already done and never run one twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.telemetry.models import utcnow


class EvalDataset(SQLModel, table=True):
    """One version of a named dataset."""

    __tablename__ = "eval_dataset"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_eval_dataset_name_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    version: int = 1
    description: str | None = Field(default=None, sa_column=Column(Text))
    #: sha256 of the cases, so importing the same file twice does not add a version.
    digest: str = Field(default="", max_length=64)
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class EvalCase(SQLModel, table=True):
    """One case: a plain user message or input variables, with what is expected."""

    __tablename__ = "eval_case"
    __table_args__ = (Index("ix_eval_case_dataset", "dataset_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(
        sa_column=Column(Integer, ForeignKey("eval_dataset.id", ondelete="CASCADE"), nullable=False)
    )
    position: int = 0
    #: A stable name within the dataset ("case-3" when none is given): results
    #: of two runs on different versions are matched on it.
    key: str = Field(max_length=200)
    message: str | None = Field(default=None, sa_column=Column(Text))
    variables: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    expected: str | None = Field(default=None, sa_column=Column(Text))
    context: str | None = Field(default=None, sa_column=Column(Text))
    tags: list[str] | None = Field(default=None, sa_column=Column(JSON))
    meta: dict[str, Any] | None = Field(default=None, sa_column=Column("metadata", JSON))
    #: The call this case was copied from (add from the call log), if any.
    source_call_id: int | None = None


class EvalRun(SQLModel, table=True):
    """One run of a suite: its configuration snapshot and its totals."""

    __tablename__ = "eval_run"
    __table_args__ = (Index("ix_eval_run_suite_created", "suite", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    suite: str = Field(max_length=200)
    label: str | None = Field(default=None, max_length=200)
    dataset_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("eval_dataset.id", ondelete="SET NULL")),
    )
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: pending | running | cancelled | interrupted | done
    status: str = Field(default="pending", max_length=20)
    total_cells: int = 0
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    #: Seconds spent running, summed over every resume.
    duration_s: float = 0.0


class EvalResult(SQLModel, table=True):
    """One cell of a run's matrix: prompt × model × case × repeat."""

    __tablename__ = "eval_result"
    __table_args__ = (
        UniqueConstraint("run_id", "cell_key", name="uq_eval_result_cell"),
        Index("ix_eval_result_run_case", "run_id", "case_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(
        sa_column=Column(Integer, ForeignKey("eval_run.id", ondelete="CASCADE"), nullable=False)
    )
    cell_key: str = Field(max_length=400)
    prompt: str = Field(default="", max_length=200)
    model: str = Field(max_length=200)
    case_key: str = Field(max_length=200)
    case_id: int | None = None
    repeat: int = 0
    #: ok | blocked | error
    status: str = Field(default="ok", max_length=20)
    passed: bool = False
    score: float = 0.0
    output: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    error_class: str | None = Field(default=None, max_length=50)
    assertions: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    call_id: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    #: The eval result cache answered this cell (no model call was made).
    cached: bool = False
    request_key: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
