"""SQL side of RAG: the collection and document rows (no Chroma here)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import session_scope
from core.rag.models import FAILED, INGESTING, READY, RagCollection, RagDocument
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
