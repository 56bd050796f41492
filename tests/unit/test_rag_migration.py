"""The 0003_rag migration builds the registry tables the SQLModel classes use."""

from __future__ import annotations

from sqlmodel import Session, select

from core.db import make_engine, migrate
from core.rag.models import READY, RagCollection, RagDocument
from core.rag.registry import DocumentRegistry


def test_fresh_database_has_rag_tables(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(engine)
    reg = DocumentRegistry(engine)
    coll = reg.add_collection(RagCollection(name="handbook", created_by="ana"))
    doc = reg.add_document(RagDocument(collection_id=coll.id, file_name="a.md",
                                       content_hash="f" * 64, size_bytes=10))
    reg.finish(doc.id, READY, 3)
    assert reg.served(coll.id).ready == (doc.id,)
    assert reg.ready_matching(coll.id, content_hash="f" * 64)[0].chunk_count == 3
    reg.delete_collection(coll.id)
    with Session(engine) as s:
        assert s.exec(select(RagDocument)).all() == []
    engine.dispose()
