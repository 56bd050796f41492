"""SQL side of RAG: the collection and document rows (no Chroma here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from core.db import session_scope
from core.rag.models import (
    ACTIVE,
    FAILED,
    INGESTING,
    QUEUED,
    READY,
    RUNNING,
    RagCollection,
    RagDocument,
    RagJob,
)
from core.rag.retrieval import Served
from core.telemetry.models import utcnow

__all__ = ["DocumentRegistry"]


class DocumentRegistry:
    """Reads and writes `rag_collection` and `rag_document`; returns detached rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- collections ------------------------------------------------------
    def add_collection(self, row: RagCollection) -> RagCollection:
        with session_scope(self.engine) as s:
            s.add(row)
            s.flush()
            s.refresh(row)
            return row

    def collection(self, name: str) -> RagCollection | None:
        with Session(self.engine) as s:
            return s.exec(select(RagCollection).where(RagCollection.name == name)).first()

    def collections(self) -> list[RagCollection]:
        with Session(self.engine) as s:
            return list(s.exec(select(RagCollection).order_by(RagCollection.name)))

    def rename_collection(self, collection_id: int, new: str) -> None:
        with session_scope(self.engine) as s:
            row = s.get(RagCollection, collection_id)
            if row is not None:
                row.name = new

    def delete_collection(self, collection_id: int) -> None:
        with session_scope(self.engine) as s:
            docs = select(RagDocument).where(RagDocument.collection_id == collection_id)
            for doc in s.exec(docs):
                s.delete(doc)
            row = s.get(RagCollection, collection_id)
            if row is not None:
                s.delete(row)

    # -- documents --------------------------------------------------------
    def add_document(self, row: RagDocument) -> RagDocument:
        with session_scope(self.engine) as s:
            s.add(row)
            s.flush()
            s.refresh(row)
            return row

    def add_documents(self, rows: list[RagDocument]) -> list[RagDocument]:
        """Insert several rows in one transaction; returns them with ids."""
        return self._insert(rows)

    def _insert(self, rows: list[Any]) -> list[Any]:
        if not rows:
            return []
        with session_scope(self.engine) as s:
            s.add_all(rows)
            s.flush()
            for row in rows:
                s.refresh(row)
            return rows

    def finish(self, doc_id: int, status: str, chunk_count: int, error: str | None = None) -> None:
        self.finish_many([(doc_id, status, chunk_count, error)])

    def finish_many(self, updates: list[tuple[int, str, int, str | None]]) -> None:
        """(id, status, chunk count, error) for each row, in one transaction."""
        with session_scope(self.engine) as s:
            for doc_id, status, chunk_count, error in updates:
                row = s.get(RagDocument, doc_id)
                if row is not None:
                    row.status, row.chunk_count, row.error = status, chunk_count, error
                    row.updated_at = utcnow()

    def touch(self, doc_ids: list[int]) -> None:
        """Mark documents as still being worked on (recovery leaves fresh ones alone)."""
        if doc_ids:
            with session_scope(self.engine) as s:
                s.exec(update(RagDocument).where(col(RagDocument.id).in_(doc_ids))  # type: ignore[call-overload]
                       .values(updated_at=utcnow()))

    def stuck(self) -> list[RagDocument]:
        """Documents whose status still says "ingesting"."""
        with Session(self.engine) as s:
            return list(s.exec(select(RagDocument).where(RagDocument.status == INGESTING)))

    def collection_by_id(self, collection_id: int) -> RagCollection | None:
        with Session(self.engine) as s:
            return s.get(RagCollection, collection_id)

    def document(self, doc_id: int) -> RagDocument | None:
        with Session(self.engine) as s:
            return s.get(RagDocument, doc_id)

    def documents(self, collection_id: int | None = None) -> list[RagDocument]:
        with Session(self.engine) as s:
            q = select(RagDocument).order_by(col(RagDocument.created_at).desc())
            if collection_id is not None:
                q = q.where(RagDocument.collection_id == collection_id)
            return list(s.exec(q))

    def ready_matching(
        self, collection_id: int, *, content_hash: str | None = None,
        file_name: str | None = None, any_ready: bool = False,
    ) -> list[RagDocument]:
        """Ready documents in the collection with this content or this name (or all)."""
        with Session(self.engine) as s:
            q = select(RagDocument).where(
                RagDocument.collection_id == collection_id, RagDocument.status == READY
            )
            rows = list(s.exec(q))
        return [
            r for r in rows
            if any_ready
            or (content_hash and r.content_hash == content_hash)
            or (file_name and r.file_name == file_name)
        ]

    def served(self, collection_id: int) -> Served:
        """Ready documents, and the others whose chunks retrieval must leave out."""
        with Session(self.engine) as s:
            return self._served(s, collection_id)

    def lookup(self, name: str) -> tuple[RagCollection | None, Served]:
        """A collection and what it serves, in one session (the per-query path)."""
        with Session(self.engine) as s:
            row = s.exec(select(RagCollection).where(RagCollection.name == name)).first()
            if row is None or row.id is None:
                return None, Served(())
            return row, self._served(s, row.id)

    @staticmethod
    def _served(s: Session, collection_id: int) -> Served:
        q = select(RagDocument.id, RagDocument.status, RagDocument.chunk_count).where(
            RagDocument.collection_id == collection_id
        )
        rows = list(s.exec(q))
        ready = tuple(sorted(int(i) for i, st, _ in rows if i is not None and st == READY))
        # A failed row with a chunk count is one whose chunks could not be removed.
        other = tuple(sorted(
            int(i) for i, st, n in rows
            if i is not None and (st == INGESTING or (st == FAILED and n))
        ))
        return Served(ready, other)

    def delete_document(self, doc_id: int) -> None:
        with session_scope(self.engine) as s:
            row = s.get(RagDocument, doc_id)
            if row is not None:
                s.delete(row)

    # -- ingestion jobs ---------------------------------------------------
    def add_jobs(self, rows: list[RagJob]) -> list[RagJob]:
        return self._insert(rows)

    def job(self, job_id: int) -> RagJob | None:
        with Session(self.engine) as s:
            return s.get(RagJob, job_id)

    def jobs(self, collection_id: int | None = None, *, include_dismissed: bool = False,
             statuses: tuple[str, ...] | None = None, limit: int = 200) -> list[RagJob]:
        with Session(self.engine) as s:
            q = select(RagJob).order_by(col(RagJob.id).desc()).limit(limit)
            if collection_id is not None:
                q = q.where(RagJob.collection_id == collection_id)
            if not include_dismissed:
                q = q.where(col(RagJob.dismissed).is_(False))
            if statuses:
                q = q.where(col(RagJob.status).in_(statuses))
            return list(s.exec(q))

    def active_hashes(self, collection_id: int) -> dict[str, str]:
        """Content hash -> file name of jobs queued or running in the collection."""
        with Session(self.engine) as s:
            q = select(RagJob.content_hash, RagJob.file_name).where(
                RagJob.collection_id == collection_id, col(RagJob.status).in_(ACTIVE))
            return {h: n for h, n in s.exec(q)}

    def claim(self, worker: str, limit: int, max_bytes: int) -> list[RagJob]:
        """Queued jobs of one collection and one set of options, oldest first, now
        marked running by `worker`; a job another worker claimed first is left out."""
        with Session(self.engine) as s:
            queued = list(s.exec(select(RagJob).where(RagJob.status == QUEUED)
                                 .order_by(col(RagJob.id)).limit(limit)))
        if not queued:
            return []
        first = queued[0]
        group, size = [], 0
        for job in queued:
            same = (job.collection_id, job.tags, job.replace, job.created_by) == (
                first.collection_id, first.tags, first.replace, first.created_by)
            if same and (not group or size + job.size_bytes <= max_bytes):
                group.append(job)
                size += job.size_bytes
        claimed = []
        now = utcnow()
        with session_scope(self.engine) as s:
            for job in group:
                res = s.exec(update(RagJob)  # type: ignore[call-overload]
                             .where(RagJob.id == job.id, RagJob.status == QUEUED)
                             .values(status=RUNNING, worker=worker, started_at=now,
                                     heartbeat_at=now, message="Waiting for the file before it"))
                if res.rowcount == 1:
                    claimed.append(job.id)
        with Session(self.engine) as s:
            return [s.get(RagJob, i) for i in claimed]  # type: ignore[misc]

    def update_job(self, job_id: int, **values: object) -> None:
        with session_scope(self.engine) as s:
            s.exec(update(RagJob).where(RagJob.id == job_id)  # type: ignore[call-overload]
                   .values(**values))

    def update_jobs(self, job_ids: list[int], **values: object) -> None:
        if job_ids:
            with session_scope(self.engine) as s:
                s.exec(update(RagJob).where(col(RagJob.id).in_(job_ids))  # type: ignore[call-overload]
                       .values(**values))

    def cancel_requested(self, job_ids: list[int]) -> set[int]:
        if not job_ids:
            return set()
        with Session(self.engine) as s:
            q = select(RagJob.id).where(col(RagJob.id).in_(job_ids),
                                        col(RagJob.cancel_requested).is_(True))
            return {int(i) for i in s.exec(q) if i is not None}

    def running_jobs(self) -> list[RagJob]:
        with Session(self.engine) as s:
            return list(s.exec(select(RagJob).where(RagJob.status == RUNNING)))

    def delete_job(self, job_id: int) -> None:
        with session_scope(self.engine) as s:
            row = s.get(RagJob, job_id)
            if row is not None:
                s.delete(row)

    def staged_in_use(self, staged: str) -> bool:
        with Session(self.engine) as s:
            q = select(RagJob.id).where(RagJob.staged == staged,
                                        col(RagJob.dismissed).is_(False)).limit(1)
            return s.exec(q).first() is not None
