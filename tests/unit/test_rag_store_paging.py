"""ChromaStore.get reads a collection in pages (one unbounded read of 100,000
chunks fails inside embedded Chroma with "too many SQL variables")."""

from __future__ import annotations

import numpy as np

from core.rag import store as store_mod
from core.rag.store import ChromaStore


def test_get_returns_every_chunk_across_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "_PAGE", 3)
    store = ChromaStore(tmp_path / "chroma")
    store.create("paged")
    vecs = np.eye(8, 4, dtype=np.float32) + 0.1
    store.add("paged", [f"c{i}" for i in range(8)], vecs, [f"text {i}" for i in range(8)],
              [{"document_id": i % 2, "chunk": i} for i in range(8)])
    try:
        got = store.get("paged")
        assert sorted(c.id for c in got) == [f"c{i}" for i in range(8)]
        assert sorted(c.id for c in store.get("paged", where={"document_id": 1})) == [
            "c1", "c3", "c5", "c7"]
        assert [c.text for c in store.get("paged", ids=["c6"])] == ["text 6"]
    finally:
        store.close()
