"""RagService: the one RAG handle pages, the engine hook, the CLI and tests use.

Collections (Chroma + registry), all-or-nothing ingestion, search, and the
engine's `retrieve` hook that puts numbered, cited context in front of the
model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from sqlalchemy import Engine as DBEngine

from core.config import Settings
from core.forms import name_problem
from core.rag.chunking import STRATEGIES, Chunk, iter_chunks
from core.rag.embeddings import LocalEmbedder, OpenAIEmbedder, get_embedder
from core.rag.loaders import DocumentError, Limits, Section, clean_file_name, iter_document
from core.rag.models import (
    CANCELLED,
    FAILED,
    INGESTING,
    READY,
    SKIPPED,
    RagCollection,
    RagDocument,
)
from core.rag.registry import DocumentRegistry
from core.rag.retrieval import MODES, Hit, Retriever, build_context, indexed_text
from core.rag.store import ChromaStore, StoreError
from core.telemetry.models import utcnow

__all__ = ["IngestResult", "RagError", "RagService", "RetrievalFailed"]

log = logging.getLogger(__name__)

#: Chunks are embedded this many at a time inside a write batch, and the
#: documents' (and jobs') heartbeat is renewed between slices at most every
#: `_BEAT_EVERY_S`: on a slow machine one batch can take minutes, and recovery
#: must not take a live, slow upload for an abandoned one.
_EMBED_SLICE = 32
_BEAT_EVERY_S = 10.0

Progress = Callable[[float, str], None]


#: Demo documents shipped with the repository.
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data" / "samples"


class RagError(ValueError):
    """A request the RAG service refuses; `str(err)` is one plain sentence."""


class RetrievalFailed(RuntimeError):
    """Raised by the retrieve hook so the engine marks the stage degraded and goes on."""


@dataclass(slots=True)
class IngestResult:
    file_name: str
    status: str  # "ready" | "skipped" | "failed" | "cancelled"
    message: str
    document_id: int | None = None
    chunks: int = 0


@dataclass(slots=True)
class _Pending:
    """A file being read, chunked and embedded (its chunks flow through in batches)."""

    index: int
    name: str
    digest: str
    data: bytes
    replaces: list[int]
    row_id: int = 0
    base: dict[str, Any] = field(default_factory=dict)
    produced: int = 0
    written: int = 0
    loaded: bool = False
    pos: float = 0.0
    error: str | None = None
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    result: IngestResult | None = None


def owner_id() -> str:
    """Who is ingesting: "host:pid" (taken when needed, so a forked worker gets its own)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool:
    """False when `owner` is a process on this host that no longer exists.

    An owner on another host cannot be checked from here; staleness decides.
    """
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname()[:60]:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


class RagService:
    def __init__(self, settings: Settings, db: DBEngine, *, store: ChromaStore | None = None,
                 batch_size: int = 256) -> None:
        self.settings = settings
        self.registry = DocumentRegistry(db)
        self.store = store or (
            ChromaStore(host=settings.chroma_host, port=settings.chroma_port)
            if settings.chroma_host
            else ChromaStore(settings.data_dir / "chroma")
        )
        self.retriever = Retriever(self.store, feedback_chunks=settings.rag_feedback_chunks,
                                   feedback_weight=settings.rag_feedback_weight,
                                   k1=settings.rag_bm25_k1, b=settings.rag_bm25_b)
        self.batch_size = batch_size
        self.files_dir = settings.data_dir / "documents"
        self.engine: Any = None

    # -- wiring -----------------------------------------------------------
    def install(self, engine: Any) -> None:
        """Register the retrieve hook on the engine (and use it for query rewriting)."""
        self.engine = engine
        engine.add_hook("retrieve", self.retrieve_hook, optional=True)

    def close(self) -> None:
        self.store.close()

    def embedder(self, collection: RagCollection | None = None) -> LocalEmbedder | OpenAIEmbedder:
        s = self.settings
        key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
        model = collection.embedding_model if collection else s.embedding_model
        return get_embedder(model, openai_api_key=key, openai_base_url=s.openai_base_url)

    # -- collections ------------------------------------------------------
    def collections(self) -> list[RagCollection]:
        return self.registry.collections()

    def collection(self, name: str) -> RagCollection:
        row = self.registry.collection(name)
        if row is None:
            raise RagError(f"There is no collection named '{name}'.")
        return row

    def create_collection(self, name: str, *, chunking: str | None = None,
                          chunk_tokens: int | None = None, chunk_overlap: int | None = None,
                          user: str | None = None) -> RagCollection:
        """Create a collection in Chroma and the registry."""
        s = self.settings
        name = name.strip()
        _check_name(name)
        if self.registry.collection(name) is not None:
            raise RagError(f"A collection named '{name}' already exists.")
        chunking = chunking or s.rag_chunking
        if chunking not in STRATEGIES:
            raise RagError(f"Chunking must be one of: {', '.join(STRATEGIES)}.")
        size = int(chunk_tokens or s.rag_chunk_tokens)
        overlap = int(s.rag_chunk_overlap if chunk_overlap is None else chunk_overlap)
        if not 16 <= size <= 2000 or not 0 <= overlap < size // 2 + 1:
            raise RagError("Chunk size must be 16–2000 tokens and overlap at most half of it.")
        self.store.create(name, {"trellis": "rag"})
        return self.registry.add_collection(
            RagCollection(name=name, chunking=chunking, chunk_tokens=size, chunk_overlap=overlap,
                          embedding_model=s.embedding_model, created_by=user)
        )

    def rename_collection(self, old: str, new: str) -> None:
        row = self.collection(old)
        new = new.strip()
        _check_name(new)
        if new == old:
            return
        if self.registry.collection(new) is not None:
            raise RagError(f"A collection named '{new}' already exists.")
        self.store.rename(old, new)
        assert row.id is not None
        self.registry.rename_collection(row.id, new)

    def delete_collection(self, name: str) -> None:
        row = self.collection(name)
        self.store.drop(name)
        assert row.id is not None
        self.retriever.forget(row.id)
        self.registry.delete_collection(row.id)

    def load_samples(self, name: str = "samples", *, user: str | None = None) -> list[IngestResult]:
        """Create `name` (if missing) and ingest the demo documents shipped in data/samples."""
        files = sorted(p for p in SAMPLES_DIR.iterdir() if p.is_file())
        if not files:
            raise RagError(f"No sample documents found in {SAMPLES_DIR}.")
        if self.registry.collection(name) is None:
            self.create_collection(name, user=user)
        return self.ingest(name, [(p.name, p.read_bytes()) for p in files], user=user)

    # -- documents --------------------------------------------------------
    def documents(self, collection: str | None = None) -> list[RagDocument]:
        cid = self.collection(collection).id if collection else None
        return self.registry.documents(cid)

    def ingest(self, collection: str, files: Iterable[tuple[str, bytes]], *,
               user: str | None = None, tags: list[str] | None = None, replace: bool = False,
               progress: Callable[[int, float, str], None] | None = None,
               cancelled: Callable[[int], bool] | None = None,
               on_document: Callable[[int, int], None] | None = None,
               on_done: Callable[[int, IngestResult], None] | None = None,
               ) -> list[IngestResult]:
        """Ingest each file on its own terms: one bad file never stops the others.

        Each document is all or nothing: its registry row says "ready" only
        once every chunk is in Chroma; on any failure its chunks are removed
        and the row says "failed" with the reason. Chunks flow from the
        parser to the embedder in batches as they are produced (batches span
        files, so many small files cost little more than one big one), so a
        large file is never held as a full list of chunks. Same content
        already in the collection is skipped unless `replace`, which also
        replaces a ready document with the same file name once the new one is
        in. `cancelled(i)` is asked between batches; `on_document(i, id)` is
        told each new registry row, and `on_done(i, result)` each file's outcome
        as soon as it is known (a small file need not wait for a big one
        sharing its batches). If anything escapes (a progress callback
        raising, an interrupt), every unfinished document is marked failed and
        its chunks removed before the exception goes on.
        """
        def report(i: int, frac: float, msg: str) -> None:
            if progress:
                progress(i, frac, msg)

        told: set[int] = set()

        def tell(i: int, result: IngestResult | None) -> None:
            if result is not None and i not in told:
                told.add(i)
                report(i, 1.0, result.status)
                if on_done is not None:
                    on_done(i, result)

        def tell_finished() -> None:
            for q in started:
                tell(q.index, q.result)

        if not hasattr(files, "__len__"):
            files = list(files)
        count = len(files)  # type: ignore[arg-type]
        names: list[str] = []
        try:
            coll = self.collection(collection)
        except RagError as err:
            return [IngestResult(clean_file_name(n), FAILED, str(err)) for n, _ in files]
        assert coll.id is not None
        results: list[IngestResult | None] = [None] * count
        embedder = self.embedder(coll)
        clean_tags = _clean_tags(tags)
        user = _clean_meta(user, 200)
        ready = self.registry.ready_matching(coll.id, any_ready=True)
        by_hash = {d.content_hash: d for d in ready}
        by_name: dict[str, list[int]] = {}
        for d in ready:
            by_name.setdefault(d.file_name, []).append(int(d.id))  # type: ignore[arg-type]
        twins: dict[str, _Pending] = {}
        started: list[_Pending] = []
        buffer: list[tuple[_Pending, Chunk]] = []
        s = self.settings
        size = min(coll.chunk_tokens, embedder.max_tokens)
        try:
            for i, (raw_name, data) in enumerate(files):
                name = clean_file_name(raw_name)
                names.append(name)
                if cancelled is not None and cancelled(i):
                    results[i] = IngestResult(name, CANCELLED,
                                              f"Indexing of {name} was cancelled.")
                    tell(i, results[i])
                    continue
                digest = hashlib.sha256(data).hexdigest()
                twin = twins.get(digest)
                skip = None
                if twin is not None and twin.error is None and not twin.cancelled:
                    skip = (f"{name} has the same content as {twin.name} in this upload; "
                            "skipped.")
                elif digest in by_hash and not replace:
                    skip = (f"{name} is already in '{coll.name}' (same content as "
                            f"{by_hash[digest].file_name}); skipped. Tick 'Replace existing' "
                            "to index it again.")
                if skip:
                    same = by_hash.get(digest)
                    results[i] = IngestResult(name, SKIPPED, skip, same.id if same else None,
                                              same.chunk_count if same else 0)
                    tell(i, results[i])
                    continue
                old = {int(by_hash[digest].id)} if digest in by_hash else set()  # type: ignore[arg-type]
                p = _Pending(i, name, digest, bytes(data),
                             sorted(old | set(by_name.get(name, []))) if replace else [])
                twins[digest] = p
                row = self.registry.add_document(RagDocument(
                    collection_id=coll.id, file_name=name, content_hash=digest,
                    size_bytes=len(p.data), status=INGESTING, tags=",".join(clean_tags) or None,
                    chunking=coll.chunking, created_by=user, owner=owner_id()))
                p.row_id = int(row.id)  # type: ignore[arg-type]
                p.base = {"document_id": p.row_id, "document": name,
                          **{f"tag:{t}": True for t in clean_tags}}
                started.append(p)
                self._keep_file(digest, name, p.data)  # so a failed document can be retried
                if on_document is not None:
                    on_document(i, p.row_id)
                report(i, 0.02, "reading")
                limits = Limits.from_settings(s)
                try:
                    sections = self._tracked(p, iter_document(name, p.data, limits))
                    for chunk in iter_chunks(sections, embedder.tokenizer,
                                             strategy=coll.chunking, size=size,
                                             overlap=coll.chunk_overlap,
                                             min_tokens=s.rag_min_chunk_tokens,
                                             max_chars=s.rag_max_chunk_chars):
                        buffer.append((p, chunk))
                        p.produced += 1
                        if len(buffer) >= self.batch_size:
                            buffer = self._flush(coll, embedder, buffer, report, cancelled)
                            tell_finished()
                        if p.error or p.cancelled:
                            break
                except Exception as exc:  # noqa: BLE001 - every failure is a per-file message
                    if p.error is None and not p.cancelled:
                        self._fail(coll, p, exc)
                    buffer = [x for x in buffer if x[0] is not p]
                p.loaded = True
                p.data = b""  # kept on disk already; the chunks in flight are all we need
                p.notes = limits.notes
                if p.error is None and not p.cancelled:
                    if p.produced == 0:
                        self._fail(coll, p, DocumentError(
                            f"{name} has no text that could be extracted."))
                    elif p.written == p.produced:
                        self._complete([p])
                tell_finished()
            if buffer:
                self._flush(coll, embedder, buffer, report, cancelled)
            tell_finished()
        except BaseException as exc:
            for p in started:
                if p.result is None:
                    self._abandon(coll, p, exc)
            raise
        for p in started:
            results[p.index] = p.result
        return [r or IngestResult(names[i] if i < len(names) else "file", FAILED,
                                  "Not indexed.")
                for i, r in enumerate(results)]

    @staticmethod
    def _tracked(p: _Pending, sections: Iterator[Section]) -> Iterator[Section]:
        for section in sections:
            p.pos = section.pos
            yield section

    def _flush(self, coll: RagCollection, embedder: Any, buffer: list[tuple[_Pending, Chunk]],
               report: Callable[[int, float, str], None],
               cancelled: Callable[[int], bool] | None) -> list[tuple[_Pending, Chunk]]:
        """Embed and write the buffered chunks (after honouring cancellations)."""
        docs = list({id(p): p for p, _ in buffer}.values())
        if cancelled is not None:
            for p in docs:
                if p.error is None and not p.cancelled and cancelled(p.index):
                    self._cancel(coll, p)
        batch = [(p, c) for p, c in buffer if p.error is None and not p.cancelled]
        if batch:
            self._write_batch(coll, embedder, batch, report)
        return []

    def _write_batch(self, coll: RagCollection, embedder: Any,
                     batch: list[tuple[_Pending, Chunk]],
                     report: Callable[[int, float, str], None]) -> None:
        """Embed and write one batch of chunks (from one or more documents)."""
        docs = list({id(p): p for p, _ in batch}.values())
        try:
            # The vector indexes the heading with the text, as BM25 does.
            vectors = self._embed(embedder, [indexed_text(c.text, c.heading) for _, c in batch],
                                  docs, report)
            for p in docs:  # counted first: a failed add may still have written some
                p.written += sum(1 for q, _ in batch if q is p)
            self.store.add(
                coll.name,
                [f"d{p.row_id}-{c.index}" for p, c in batch],
                vectors,
                [c.text for _, c in batch],
                [{**p.base, "chunk": c.index, "page": c.page, "heading": c.heading,
                  "tokens": c.tokens} for p, c in batch],
            )
        except Exception as exc:  # noqa: BLE001 - fails the documents in this batch only
            for p in docs:
                self._fail(coll, p, exc)
            return
        done = [p for p in docs if p.loaded and p.written == p.produced]
        if done:
            self._complete(done)
        going = [p for p in docs if p.result is None]
        self.registry.touch([p.row_id for p in going])
        for p in going:
            share = p.written / max(p.produced, 1)
            report(p.index, 0.05 + 0.9 * min(p.pos * share, 1.0),
                   f"{p.written:,} chunks embedded")

    def _embed(self, embedder: Any, texts: list[str], docs: list[_Pending],
               report: Callable[[int, float, str], None]) -> Any:
        """Embed in slices, renewing the heartbeat of `docs` while it takes long."""
        if len(texts) <= _EMBED_SLICE:
            return embedder.encode(texts)
        parts = []
        last = time.monotonic()
        for start in range(0, len(texts), _EMBED_SLICE):
            parts.append(embedder.encode(texts[start : start + _EMBED_SLICE]))
            if time.monotonic() - last >= _BEAT_EVERY_S and start + _EMBED_SLICE < len(texts):
                last = time.monotonic()
                self.registry.touch([p.row_id for p in docs])
                for p in docs:  # the job's heartbeat is written with its progress
                    share = p.written / max(p.produced, 1)
                    report(p.index, 0.05 + 0.9 * min(p.pos * share, 1.0),
                           f"{p.written:,} chunks embedded")
        return np.concatenate(parts) if parts else embedder.encode(texts)

    def _cancel(self, coll: RagCollection, p: _Pending) -> None:
        """Stop one document: its chunks and its row go (the user asked for it)."""
        p.cancelled = True
        self._remove_chunks(coll.name, p.row_id)
        self.registry.delete_document(p.row_id)
        p.result = IngestResult(p.name, CANCELLED, f"Indexing of {p.name} was cancelled.")

    def _abandon(self, coll: RagCollection, p: _Pending, exc: BaseException) -> None:
        """Something escaped mid-way: fail this unfinished document, never leave it ingesting."""
        reason = (f"Indexing of {p.name} was interrupted; nothing of it is searchable. "
                  "Retry it, or delete it.")
        log.warning("ingestion of document %s interrupted by %s", p.row_id, type(exc).__name__)
        try:
            removed = self._remove_chunks(coll.name, p.row_id)
            self.registry.finish(p.row_id, FAILED, 0 if removed else max(p.written, 1), reason)
        except Exception:  # noqa: BLE001 - the original exception matters more; recovery retries
            log.exception("could not mark interrupted document %s failed", p.row_id)
        p.result = IngestResult(p.name, FAILED, reason, p.row_id)

    def ingest_file(self, collection: str, name: str, data: bytes, *, user: str | None = None,
                    tags: list[str] | None = None, replace: bool = False,
                    progress: Progress | None = None) -> IngestResult:
        """One file through `ingest`."""
        def step(_i: int, frac: float, msg: str) -> None:
            if progress:
                progress(frac, msg)

        return self.ingest(collection, [(name, data)], user=user, tags=tags, replace=replace,
                           progress=step)[0]

    def _fail(self, coll: RagCollection, p: _Pending, exc: BaseException) -> None:
        p.error = _plain(p.name, exc)
        left = 0 if not p.written or self._remove_chunks(coll.name, p.row_id) else p.written
        # chunk_count > 0 on a failed row marks chunks that may still be in the store;
        # retrieval leaves them out and deleting the document removes them.
        stored = p.error + (" Delete this document once the store is back to clear "
                            "partly written chunks." if left else "")
        self.registry.finish(p.row_id, FAILED, left, stored)
        p.result = IngestResult(p.name, FAILED, p.error, p.row_id)

    def _complete(self, done: list[_Pending]) -> None:
        self.registry.finish_many([(p.row_id, READY, p.produced, None) for p in done])
        for p in done:
            for old_id in p.replaces:
                if old_id != p.row_id and self.registry.document(old_id) is not None:
                    self.delete_document(old_id)
            verb = "Replaced" if p.replaces else "Indexed"
            notes = "".join(f" {n}" for n in p.notes)
            p.result = IngestResult(p.name, READY, f"{verb} {p.name}: {p.produced:,} chunks."
                                    + notes, p.row_id, p.produced)

    def recover(self) -> int:
        """Documents left "ingesting" by a process that is gone: failed, chunks removed.

        Gone means a process on this host that no longer exists, or an owner
        that has not touched the row for `rag_stale_after_s` (another host, a
        hung process). Runs when services start and periodically in the
        ingestion worker; returns how many documents it recovered.
        """
        stale_before = utcnow() - timedelta(seconds=self.settings.rag_stale_after_s)
        recovered = 0
        for doc in self.registry.stuck():
            if owner_alive(doc.owner) and doc.updated_at > stale_before:
                continue
            assert doc.id is not None
            coll = self.registry.collection_by_id(doc.collection_id)
            removed = coll is None or self._remove_chunks(coll.name, doc.id)
            reason = (f"Indexing of {doc.file_name} stopped part-way (the app stopped or "
                      "restarted); nothing of it is searchable. Retry it, or delete it.")
            if not removed:
                reason += (" Delete this document once the store is back to clear partly "
                           "written chunks.")
            self.registry.finish(doc.id, FAILED, 0 if removed else 1, reason)
            log.warning("recovered document %s left ingesting by %s", doc.id, doc.owner)
            recovered += 1
        return recovered

    def _remove_chunks(self, collection: str, doc_id: int) -> bool:
        try:
            self.store.delete(collection, where={"document_id": doc_id})
        except StoreError:
            # Retrieval leaves this document's chunks out; deleting the row retries.
            log.exception("could not remove the chunks of failed document %s", doc_id)
            return False
        return True

    def _file_path(self, digest: str, name: str) -> Path:
        return self.files_dir / f"{digest}{PurePath(name).suffix.lower()}"

    def _keep_file(self, digest: str, name: str, data: bytes) -> None:
        # Kept so a document can be re-indexed later with other chunking.
        path = self._file_path(digest, name)
        if not path.exists():
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def delete_document(self, doc_id: int) -> None:
        """Remove a document's chunks, then its row (and its kept file if unused)."""
        doc = self.registry.document(doc_id)
        if doc is None:
            raise RagError("That document no longer exists.")
        coll = next((c for c in self.collections() if c.id == doc.collection_id), None)
        if coll is not None:
            self.store.delete(coll.name, where={"document_id": doc_id})
        self.registry.delete_document(doc_id)
        others = [
            d for d in self.registry.documents()
            if d.content_hash == doc.content_hash and d.id != doc_id
        ]
        if not others:
            self._file_path(doc.content_hash, doc.file_name).unlink(missing_ok=True)

    def reindex(self, doc_id: int, progress: Progress | None = None) -> IngestResult:
        """Chunk and embed a document again with its collection's current settings."""
        doc = self.registry.document(doc_id)
        if doc is None:
            raise RagError("That document no longer exists.")
        path = self._file_path(doc.content_hash, doc.file_name)
        if not path.exists():
            return IngestResult(doc.file_name, FAILED,
                                f"The original of {doc.file_name} is not kept; upload it again.")
        coll = next((c for c in self.collections() if c.id == doc.collection_id), None)
        if coll is None:
            raise RagError(f"The collection of {doc.file_name} no longer exists.")
        try:
            data = path.read_bytes()
        except OSError:
            log.warning("cannot read the kept original of %s", doc.file_name, exc_info=True)
            return IngestResult(doc.file_name, FAILED,
                                f"The kept original of {doc.file_name} cannot be read; "
                                "upload it again.")
        if doc.status != READY:
            self.delete_document(doc_id)
        return self.ingest_file(coll.name, doc.file_name, data,
                                user=doc.created_by, tags=doc.tag_list, replace=True,
                                progress=progress)

    # -- retrieval --------------------------------------------------------
    def search(self, collection: str, query: str, *, mode: str = "hybrid", top_k: int | None = None,
               filters: dict[str, Any] | None = None) -> list[Hit]:
        """The best chunks for `query` in `collection`, best first."""
        if mode not in MODES:
            raise RagError(f"Retrieval mode must be one of: {', '.join(MODES)}.")
        coll, served = self.registry.lookup(collection)
        if coll is None:
            raise RagError(f"There is no collection named '{collection}'.")
        assert coll.id is not None
        embedder = self.embedder(coll)
        return self.retriever.search(
            coll.name, coll.id, query, embedder.encode, served,
            mode=mode, top_k=int(top_k or self.settings.rag_top_k), filters=filters,
        )

    def rewrite_query(self, question: str, model: str | None) -> str:
        """A search query for `question` written by the LLM; the question itself on any failure."""
        if self.engine is None:
            return question
        from core.engine.types import CompletionRequest
        from core.providers.base import Message

        prompt = (
            "Rewrite the question below as a short keyword search query for a document "
            "search engine. Reply with the query only.\n\n"
            f"Question: {question}\nSearch query:"
        )
        try:
            resp = self.engine.chat(CompletionRequest(
                messages=[Message("user", prompt)], model=model, temperature=0.0, max_tokens=48,
                source="rag_rewrite",
            ))
        except Exception:  # noqa: BLE001 - rewriting is an optimisation, never a failure
            log.warning("query rewrite failed; searching with the question", exc_info=True)
            return question
        text = resp.text.strip().splitlines()[0].strip().strip('"') if resp.text.strip() else ""
        return text or question

    def retrieve_hook(self, ctx: Any) -> dict[str, Any] | None:
        """Engine `retrieve` stage: runs when ``request.options["rag"]`` names a collection.

        Options: collection (required), mode, top_k, filters, rewrite (bool),
        budget (context tokens).
        """
        opts = ctx.request.options.get("rag")
        if not opts:
            return None
        if isinstance(opts, str):
            opts = {"collection": opts}
        question = next((m.content for m in reversed(ctx.messages) if m.role == "user"), "")
        collection = str(opts.get("collection", ""))
        mode = str(opts.get("mode", "hybrid"))
        detail: dict[str, Any] = {"collection": collection, "mode": mode}
        try:
            query = question
            if opts.get("rewrite"):
                query = self.rewrite_query(question, ctx.request.model)
                detail["rewritten_query"] = query
            hits = self.search(collection, query, mode=mode, top_k=opts.get("top_k"),
                               filters=opts.get("filters"))
            coll = self.collection(collection)
            tokenizer = self.embedder(coll).tokenizer
        except Exception as exc:  # noqa: BLE001 - any failure degrades, never ends the call
            reason = str(exc) if isinstance(exc, RagError | StoreError) else type(exc).__name__
            ctx.extra["rag_error"] = reason
            raise RetrievalFailed(f"retrieval failed: {reason}") from exc
        budget = int(opts.get("budget") or self.settings.rag_context_tokens)
        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

        context, used = build_context(hits, count, budget)
        ctx.sources = [
            {"n": n, "document": h.document, "document_id": h.document_id, "page": h.page,
             "heading": h.heading, "score": round(h.score, 6), "text": h.text,
             "chunk_id": h.chunk_id,
             "scores": {k: round(float(v), 6) for k, v in (h.scores or {}).items()}}
            for n, h in enumerate(used, start=1)
        ]
        _put_context(ctx, context)
        detail["hits"] = [
            {"n": s["n"], "chunk_id": s["chunk_id"], "document_id": s["document_id"],
             "score": s["score"]}
            for s in ctx.sources
        ]
        detail["context_chunks"] = len(used)
        return detail


_INSTRUCTION = (
    "Answer the user's question using only the numbered context below. Cite the sources you "
    "use by their numbers in square brackets, like [1] or [2][3]. If the context does not "
    "contain the answer, say that the documents do not cover it."
)
_NO_CONTEXT = (
    "The user's document collection was searched and nothing relevant was found. Say that the "
    "documents do not cover the question."
)


def _put_context(ctx: Any, context: str) -> None:
    from core.providers.base import Message

    text = f"{_INSTRUCTION}\n\nContext:\n{context}" if context else _NO_CONTEXT
    messages = list(ctx.messages)
    if messages and messages[0].role == "system":
        messages[0] = Message("system", f"{messages[0].content}\n\n{text}")
    else:
        messages.insert(0, Message("system", text))
    ctx.messages = messages


def _check_name(name: str) -> None:
    # The one naming rule of policies, collections and recognizers (core/forms.py);
    # it fits inside what Chroma accepts for a collection.
    problem = name_problem(name)
    if problem:
        raise RagError(problem)


def _clean_meta(value: str | None, limit: int) -> str | None:
    """Metadata safe for any database: valid UTF-8, no control characters, bounded."""
    if value is None:
        return None
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})
    text = " ".join(text.split())
    return text[:limit] or None


def _clean_tags(tags: list[str] | None) -> list[str]:
    """Distinct tags, each cleaned and at most 50 characters, 500 in all when joined."""
    out: list[str] = []
    for tag in sorted({_clean_meta(t.replace(",", " "), 50) or "" for t in (tags or [])}):
        if tag and len(",".join([*out, tag])) <= 500:
            out.append(tag)
    return out


def _plain(name: str, exc: BaseException) -> str:
    if isinstance(exc, DocumentError | RagError):
        return str(exc)
    if isinstance(exc, StoreError):
        return f"{name} was not indexed: {exc}"
    log.error("ingesting %s failed", name, exc_info=exc)
    return (f"{name} could not be indexed because of an unexpected error; the details are in "
            "the server log.")
