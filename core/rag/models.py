"""The document registry: which collections exist and what was ingested into each.

Chroma holds the chunks; these rows say what they came from, who added
them and whether ingestion finished. A document is served by retrieval only
while its row says "ready".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from core.telemetry.models import utcnow

#: Document statuses. Only "ready" documents are served; a process that dies
#: mid-way leaves "ingesting", never a claim of success. A "failed" row with a
#: non-zero chunk_count is one whose partial chunks could not be removed (store
#: down): retrieval excludes them and deleting the row removes them.
INGESTING, READY, FAILED = "ingesting", "ready", "failed"

#: Job statuses: queued, running, then one of ready / skipped / failed / cancelled.
QUEUED, RUNNING, SKIPPED, CANCELLED = "queued", "running", "skipped", "cancelled"
ACTIVE = (QUEUED, RUNNING)


class RagCollection(SQLModel, table=True):
    """A named Chroma collection and the chunking/embedding choices it was built with."""

    __tablename__ = "rag_collection"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    chunking: str = Field(default="recursive", max_length=20)
    chunk_tokens: int = 200
    chunk_overlap: int = 30
    embedding_model: str = Field(default="all-MiniLM-L6-v2", max_length=300)
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime, nullable=False)
    )


class RagDocument(SQLModel, table=True):
    """One uploaded file in one collection."""

    __tablename__ = "rag_document"
    __table_args__ = (
        Index("ix_rag_document_collection_hash", "collection_id", "content_hash"),
        Index("ix_rag_document_collection_status", "collection_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    collection_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("rag_collection.id", ondelete="CASCADE"), nullable=False
        )
    )
    file_name: str = Field(max_length=500)
    content_hash: str = Field(max_length=64)
    size_bytes: int = 0
    chunk_count: int = 0
    status: str = Field(default=INGESTING, max_length=20)
    error: str | None = Field(default=None, sa_column=Column(Text))
    tags: str | None = Field(default=None, max_length=500)
    chunking: str | None = Field(default=None, max_length=20)
    created_by: str | None = Field(default=None, max_length=200)
    #: "host:pid" of the process ingesting it while status is "ingesting": a
    #: row whose owner is gone is recovered (marked failed, chunks removed).
    owner: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime, nullable=False)
    )

    @property
    def tag_list(self) -> list[str]:
        return [t for t in (self.tags or "").split(",") if t]


class RagJob(SQLModel, table=True):
    """One uploaded file waiting for, going through, or done with ingestion.

    The page submits jobs and reads their progress from here, so a refresh, a
    second tab or a closed browser changes nothing; the worker (a thread in
    the app, or `python -m core.cli ingest-worker`) claims and runs them.
    """

    __tablename__ = "rag_job"
    __table_args__ = (
        Index("ix_rag_job_collection_status", "collection_id", "status"),
        Index("ix_rag_job_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    collection_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("rag_collection.id", ondelete="CASCADE"), nullable=False
        )
    )
    file_name: str = Field(max_length=500)
    size_bytes: int = 0
    content_hash: str = Field(max_length=64)
    #: The uploaded bytes, kept under data_dir/uploads until the job no longer needs them.
    staged: str | None = Field(default=None, max_length=200)
    tags: str | None = Field(default=None, max_length=500)
    replace: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    created_by: str | None = Field(default=None, max_length=200)
    status: str = Field(default=QUEUED, max_length=20)
    progress: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    message: str | None = Field(default=None, sa_column=Column(Text))
    document_id: int | None = None
    cancel_requested: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    dismissed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    worker: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime, nullable=False)
    )
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime))

    @property
    def tag_list(self) -> list[str]:
        return [t for t in (self.tags or "").split(",") if t]
