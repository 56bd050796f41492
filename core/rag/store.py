"""The Chroma vector store: embedded on disk by default, a Chroma server by setting.

Collections are always opened with ``embedding_function=None`` and every add
and query passes its own vectors: Chroma's default embedding function would
try to download an ONNX model, and Trellis never downloads at run time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ChromaStore", "StoreError", "StoredChunk"]


#: Chunks per read in `ChromaStore.get`.
_PAGE = 5000


class StoreError(RuntimeError):
    """The vector store failed; `str(err)` is one plain sentence."""


@dataclass(slots=True)
class StoredChunk:
    id: str
    text: str
    metadata: dict[str, Any]
    #: Cosine similarity to the query (1 = same direction); 0 for plain reads.
    score: float = 0.0


class ChromaStore:
    """A thin, typed face over one Chroma client (created on first use)."""

    def __init__(
        self, path: Path | None = None, *, host: str | None = None, port: int = 8000
    ) -> None:
        if path is None and host is None:
            raise ValueError("ChromaStore needs a path (embedded) or a host (server).")
        self.path, self.host, self.port = path, host, port
        self._client: Any = None
        self._lock = threading.Lock()
        # Collection handles by name: fetching one is a round trip per query otherwise.
        self._handles: dict[str, Any] = {}

    @property
    def where(self) -> str:
        return f"the Chroma server at {self.host}:{self.port}" if self.host else "the vector store"

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import chromadb
                from chromadb.config import Settings as ChromaSettings

                chroma_settings = ChromaSettings(anonymized_telemetry=False)
                with self._errors():
                    if self.host:
                        self._client = chromadb.HttpClient(
                            host=self.host, port=self.port, settings=chroma_settings
                        )
                    else:
                        assert self.path is not None
                        self.path.mkdir(parents=True, exist_ok=True)
                        self._client = chromadb.PersistentClient(
                            path=str(self.path), settings=chroma_settings
                        )
            return self._client

    @contextmanager
    def _guard(self, name: str | None = None) -> Iterator[None]:
        try:
            yield
        except BaseException:
            if name is not None:
                self._handles.pop(name, None)  # refetch next time: it may be gone or moved
            raise

    @contextmanager
    def _errors(self, name: str | None = None) -> Iterator[None]:
        try:
            with self._guard(name):
                yield
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - chromadb and httpx raise many kinds
            where = self.where[0].upper() + self.where[1:]
            raise StoreError(
                f"{where} could not be reached or failed ({type(exc).__name__})."
            ) from exc

    def _collection(self, name: str) -> Any:
        from chromadb.errors import NotFoundError

        handle = self._handles.get(name)
        if handle is not None:
            return handle
        try:
            handle = self._handles[name] = self.client.get_collection(
                name, embedding_function=None
            )
            return handle
        except NotFoundError as exc:
            raise StoreError(
                f"The collection '{name}' does not exist in the vector store."
            ) from exc

    # -- collections ------------------------------------------------------
    def create(self, name: str, metadata: dict[str, Any] | None = None) -> None:
        """Create (or open) a cosine-distance collection."""
        with self._errors():
            self.client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=metadata or None,
            )

    def names(self) -> list[str]:
        with self._errors():
            return sorted(c.name for c in self.client.list_collections())

    def rename(self, old: str, new: str) -> None:
        with self._errors(old):
            self._collection(old).modify(name=new)
        self._handles.pop(old, None)

    def drop(self, name: str) -> None:
        from chromadb.errors import NotFoundError

        self._handles.pop(name, None)
        with self._errors(), suppress(NotFoundError):
            self.client.delete_collection(name)

    def count(self, name: str) -> int:
        with self._errors(name):
            return int(self._collection(name).count())

    # -- chunks -----------------------------------------------------------
    def add(
        self,
        name: str,
        ids: Sequence[str],
        embeddings: np.ndarray,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Write one batch of chunks (the caller batches, so it can undo a partial write)."""
        clean = [{k: v for k, v in m.items() if v is not None} for m in metadatas]
        with self._errors(name):
            self._collection(name).add(
                ids=list(ids), embeddings=embeddings, documents=list(texts), metadatas=clean
            )

    def delete(self, name: str, *, where: dict[str, Any] | None = None,
               ids: Sequence[str] | None = None) -> None:
        with self._errors(name):
            self._collection(name).delete(ids=list(ids) if ids else None, where=where)

    def query(
        self, name: str, vector: np.ndarray, k: int, where: dict[str, Any] | None = None
    ) -> list[StoredChunk]:
        """The `k` nearest chunks to `vector` (cosine), best first."""
        with self._errors(name):
            res = self._collection(name).query(
                query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        return [
            StoredChunk(cid, text or "", dict(meta or {}), 1.0 - float(dist))
            for cid, text, meta, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0],
                strict=True,
            )
        ]

    def vectors(self, name: str, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of these chunks (rows in no particular order; ids not
        in the collection are left out)."""
        with self._errors(name):
            res = self._collection(name).get(ids=list(ids), include=["embeddings"])
        found = res.get("embeddings")
        if found is None or len(found) == 0:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(found, dtype=np.float32)

    def get(self, name: str, where: dict[str, Any] | None = None,
            ids: Sequence[str] | None = None) -> list[StoredChunk]:
        """Chunks by filter or id, without vectors.

        Read in pages: one unbounded read of a large collection makes embedded
        Chroma fail ("too many SQL variables", seen at 100,000 chunks).
        """
        out: list[StoredChunk] = []
        offset = 0
        while True:
            with self._errors(name):
                res = self._collection(name).get(
                    ids=list(ids) if ids else None, where=where,
                    include=["documents", "metadatas"], limit=_PAGE, offset=offset,
                )
            out.extend(
                StoredChunk(cid, text or "", dict(meta or {}))
                for cid, text, meta in zip(res["ids"], res["documents"], res["metadatas"],
                                           strict=True)
            )
            if len(res["ids"]) < _PAGE:
                return out
            offset += _PAGE

    def close(self) -> None:
        """Release the client (and, embedded, the files it holds open)."""
        with self._lock:
            client, self._client = self._client, None
            self._handles.clear()
        if client is not None:
            with suppress(Exception):  # best effort on shutdown
                client.close()
