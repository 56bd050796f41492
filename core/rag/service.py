"""RagService: the one RAG handle pages, the engine hook, the CLI and tests use.

Collections (Chroma + registry), all-or-nothing ingestion, search, and the
engine's `retrieve` hook that puts numbered, cited context in front of the
model.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import Engine as DBEngine

from core.config import Settings
from core.rag.chunking import STRATEGIES, chunk_sections
from core.rag.embeddings import LocalEmbedder, OpenAIEmbedder, get_embedder
from core.rag.loaders import DocumentError, load_document
from core.rag.models import FAILED, INGESTING, READY, RagCollection, RagDocument
from core.rag.registry import DocumentRegistry
from core.rag.retrieval import MODES, Hit, Retriever, build_context
from core.rag.store import ChromaStore, StoreError

__all__ = ["IngestResult", "RagError", "RagService", "RetrievalFailed"]

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")


class RagError(ValueError):
    """A request the RAG service refuses; `str(err)` is one plain sentence."""


class RetrievalFailed(RuntimeError):
    """Raised by the retrieve hook so the engine marks the stage degraded and goes on."""


@dataclass(slots=True)
class IngestResult:
    file_name: str
    status: str  # "ready" | "skipped" | "failed"
    message: str
    document_id: int | None = None
    chunks: int = 0


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
        self.retriever = Retriever(self.store)
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

    # -- documents --------------------------------------------------------
    def documents(self, collection: str | None = None) -> list[RagDocument]:
        cid = self.collection(collection).id if collection else None
        return self.registry.documents(cid)

    def ingest(self, collection: str, files: list[tuple[str, bytes]], *, user: str | None = None,
               tags: list[str] | None = None, replace: bool = False,
               progress: Callable[[int, float, str], None] | None = None) -> list[IngestResult]:
        """Ingest each file on its own: one bad file never stops the others."""
        results = []
        for i, (name, data) in enumerate(files):
            def step(frac: float, msg: str, i: int = i) -> None:
                if progress:
                    progress(i, frac, msg)
            results.append(self.ingest_file(collection, name, data, user=user, tags=tags,
                                            replace=replace, progress=step))
        return results

    def ingest_file(self, collection: str, name: str, data: bytes, *, user: str | None = None,
                    tags: list[str] | None = None, replace: bool = False,
                    progress: Progress | None = None) -> IngestResult:
        """Load, chunk, embed and store one file; all or nothing.

        Same content already in the collection is skipped, unless `replace`,
        which also replaces a ready document with the same file name once the
        new one is in.
        """
        report = progress or (lambda _f, _m: None)
        name = PurePath(name).name or "unnamed"
        try:
            coll = self.collection(collection)
        except RagError as err:
            return IngestResult(name, FAILED, str(err))
        assert coll.id is not None
        digest = hashlib.sha256(data).hexdigest()
        same = self.registry.ready_matching(coll.id, content_hash=digest)
        if same and not replace:
            report(1.0, "skipped")
            return IngestResult(
                name, "skipped",
                f"{name} is already in '{coll.name}' (same content as {same[0].file_name}); "
                "skipped. Tick 'replace' to index it again.",
                same[0].id, same[0].chunk_count,
            )
        old = self.registry.ready_matching(coll.id, content_hash=digest, file_name=name) \
            if replace else []
        clean_tags = sorted({t.strip() for t in (tags or []) if t.strip()})
        doc = self.registry.add_document(RagDocument(
            collection_id=coll.id, file_name=name, content_hash=digest, size_bytes=len(data),
            status=INGESTING, tags=",".join(clean_tags) or None, chunking=coll.chunking,
            created_by=user,
        ))
        assert doc.id is not None
        written = 0
        try:
            report(0.02, "reading")
            max_bytes = int(self.settings.rag_max_upload_mb * 1_000_000)
            sections = load_document(name, data, max_bytes=max_bytes)
            embedder = self.embedder(coll)
            size = min(coll.chunk_tokens, embedder.max_tokens)
            report(0.08, "chunking")
            chunks = chunk_sections(
                sections, embedder.tokenizer, strategy=coll.chunking, size=size,
                overlap=coll.chunk_overlap, min_tokens=self.settings.rag_min_chunk_tokens,
            )
            if not chunks:
                raise DocumentError(f"{name} has no text that could be extracted.")
            base = {"document_id": doc.id, "document": name}
            base.update({f"tag:{t}": True for t in clean_tags})
            for start in range(0, len(chunks), self.batch_size):
                batch = chunks[start : start + self.batch_size]
                report(0.1 + 0.88 * start / len(chunks), f"embedding {start}/{len(chunks)} chunks")
                vectors = embedder.encode([c.text for c in batch])
                metas = [
                    {**base, "chunk": c.index, "page": c.page, "heading": c.heading,
                     "tokens": c.tokens}
                    for c in batch
                ]
                ids = [f"d{doc.id}-{c.index}" for c in batch]
                written += len(batch)  # counted first: a failing add may still have written
                self.store.add(coll.name, ids, vectors, [c.text for c in batch], metas)
            self._keep_file(digest, name, data)
            self.registry.finish(doc.id, READY, len(chunks))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a per-file message
            message = _plain(name, exc)
            if written:
                self._remove_chunks(coll.name, doc.id)
            self.registry.finish(doc.id, FAILED, 0, message)
            report(1.0, "failed")
            return IngestResult(name, FAILED, message, doc.id)
        for prev in old:
            if prev.id != doc.id:
                self.delete_document(prev.id)  # type: ignore[arg-type]
        report(1.0, "done")
        verb = "Replaced" if old else "Indexed"
        return IngestResult(name, READY, f"{verb} {name}: {len(chunks)} chunks.", doc.id,
                            len(chunks))

    def _remove_chunks(self, collection: str, doc_id: int) -> None:
        try:
            self.store.delete(collection, where={"document_id": doc_id})
        except StoreError:
            # Retrieval only serves ready documents, so these cannot leak into answers.
            log.exception("could not remove the chunks of failed document %s", doc_id)

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
        coll = next(c for c in self.collections() if c.id == doc.collection_id)
        if doc.status != READY:
            self.delete_document(doc_id)
        return self.ingest_file(coll.name, doc.file_name, path.read_bytes(),
                                user=doc.created_by, tags=doc.tag_list, replace=True,
                                progress=progress)

    # -- retrieval --------------------------------------------------------
    def search(self, collection: str, query: str, *, mode: str = "hybrid", top_k: int | None = None,
               filters: dict[str, Any] | None = None) -> list[Hit]:
        """The best chunks for `query` in `collection`, best first."""
        if mode not in MODES:
            raise RagError(f"Retrieval mode must be one of: {', '.join(MODES)}.")
        coll = self.collection(collection)
        assert coll.id is not None
        embedder = self.embedder(coll)
        return self.retriever.search(
            coll.name, coll.id, query, embedder.encode, self.registry.ready_ids(coll.id),
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
        context, used = build_context(
            hits, lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"]), budget
        )
        ctx.sources = [
            {"n": n, "document": h.document, "document_id": h.document_id, "page": h.page,
             "heading": h.heading, "score": round(h.score, 6), "text": h.text,
             "chunk_id": h.chunk_id}
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
    if not _NAME.match(name) or ".." in name:
        raise RagError(
            "A collection name needs 3–63 characters: letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit."
        )


def _plain(name: str, exc: BaseException) -> str:
    if isinstance(exc, DocumentError | RagError):
        return str(exc)
    if isinstance(exc, StoreError):
        return f"{name} was not indexed: {exc}"
    log.error("ingesting %s failed", name, exc_info=exc)
    return f"{name} could not be indexed because of an unexpected error ({type(exc).__name__})."
