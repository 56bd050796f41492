"""RAG end to end on real parts: the bundled MiniLM, embedded Chroma, SQLite, the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.engine import CompletionRequest
from core.providers import Message
from core.rag.models import FAILED, READY
from core.rag.service import RagError, RagService
from core.rag.store import ChromaStore
from tests.hostile import make_pdf

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


@pytest.fixture(autouse=True)
def no_chroma_default_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chroma's default embedding function downloads an ONNX model: make any use of it fail."""
    import chromadb.api.types as chroma_types
    from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2

    def refuse(self, input):  # Chroma checks this exact signature  # noqa: A002
        raise AssertionError("Chroma's default embedding function was used")

    def no_download(self, *args, **kwargs):
        raise AssertionError("Chroma tried to download its ONNX model")

    monkeypatch.setattr(chroma_types.DefaultEmbeddingFunction, "__call__", refuse)
    monkeypatch.setattr(onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2, "__call__", refuse)
    monkeypatch.setattr(onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2, "_download_model_if_not_exists",
                        no_download)


def _samples(*names: str) -> list[tuple[str, bytes]]:
    return [(n, (SAMPLES / n).read_bytes()) for n in names]


def _chunks_of(rag: RagService, collection: str, doc_id: int) -> list:
    return rag.store.get(collection, where={"document_id": doc_id})


def test_ingest_then_search_in_every_mode_with_filters(services) -> None:
    rag = services.rag
    rag.create_collection("docs", chunking="markdown", user="ana")
    res = rag.ingest("docs", _samples("employee-handbook.md"), tags=["hr"], user="ana")
    res += rag.ingest("docs", _samples("api-reference.md", "support-sla.html"), tags=["product"])
    res += rag.ingest("docs", [("terms.pdf", make_pdf(["Refunds within 14 days.",
                                                      "Refunds for annual plans are pro rata."]))])
    assert [r.status for r in res] == [READY] * 4, [r.message for r in res]
    doc = rag.documents("docs")[-1]
    assert (doc.file_name, doc.created_by, doc.status) == ("employee-handbook.md", "ana", READY)
    assert doc.chunk_count == len(_chunks_of(rag, "docs", doc.id)) > 3

    for mode in ("vector", "bm25", "hybrid"):
        hits = rag.search("docs", "How many weeks of parental leave do birth parents get?",
                          mode=mode, top_k=3)
        assert hits[0].document == "employee-handbook.md", mode
        assert "20 weeks" in hits[0].text and hits[0].heading.endswith("Parental leave")
        assert hits == sorted(hits, key=lambda h: h.score, reverse=True)

    only_api = rag.search("docs", "leave", filters={"document": "api-reference.md"}, top_k=4)
    assert only_api and {h.document for h in only_api} == {"api-reference.md"}
    tagged = rag.search("docs", "response time and rate limits", mode="bm25",
                        filters={"tag": "hr"})
    assert {h.document for h in tagged} <= {"employee-handbook.md"}
    page2 = rag.search("docs", "refunds", filters={"page": 2}, mode="hybrid")
    assert [(h.document, h.page) for h in page2] == [("terms.pdf", 2)]


def test_bad_files_fail_alone_and_leave_nothing(services, monkeypatch) -> None:
    rag = services.rag
    monkeypatch.setattr(rag.settings, "rag_max_upload_mb", 0.01)
    rag.create_collection("batch")
    files = [
        ("empty.txt", b""),
        ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 40),
        ("photo.txt", bytes(range(256)) * 10),
        ("big.md", b"word " * 5000),
        ("blank.html", b"<html><body><script>x()</script></body></html>"),
    ] + _samples("onboarding-guide.txt")
    results = rag.ingest("batch", files)
    by_name = {r.file_name: r for r in results}
    assert by_name["onboarding-guide.txt"].status == READY
    for name in ("empty.txt", "broken.pdf", "photo.txt", "big.md", "blank.html"):
        r = by_name[name]
        assert r.status == FAILED and r.message.startswith(name), r.message
        assert "Traceback" not in r.message and "\n" not in r.message
    rows = {d.file_name: d for d in rag.documents("batch")}
    assert rows["big.md"].error.endswith("the upload limit is 0.0 MB.") or "limit" in \
        rows["big.md"].error
    assert all(rows[n].status == FAILED and rows[n].chunk_count == 0 for n in by_name
               if n != "onboarding-guide.txt")
    stored = {c.metadata["document"] for c in rag.store.get("batch")}
    assert stored == {"onboarding-guide.txt"}


def test_same_content_is_skipped_or_replaced(services) -> None:
    rag = services.rag
    rag.create_collection("dedupe")
    (first,) = rag.ingest("dedupe", _samples("product-faq.md"))
    (again,) = rag.ingest("dedupe", [("faq-copy.md", (SAMPLES / "product-faq.md").read_bytes())])
    assert again.status == "skipped" and "same content as product-faq.md" in again.message
    assert len(rag.documents("dedupe")) == 1

    newer = (SAMPLES / "product-faq.md").read_bytes() + b"\n## New question\n\nYes, we do.\n"
    (replaced,) = rag.ingest("dedupe", [("product-faq.md", newer)], replace=True)
    assert replaced.status == READY and replaced.message.startswith("Replaced")
    docs = rag.documents("dedupe")
    assert [d.id for d in docs] == [replaced.document_id]
    assert _chunks_of(rag, "dedupe", first.document_id) == []
    assert len(rag.store.get("dedupe")) == replaced.chunks


def test_delete_and_reindex(services) -> None:
    rag = services.rag
    rag.create_collection("del")
    a, b = rag.ingest("del", _samples("security-policy.md", "release-notes.md"))
    rag.delete_document(a.document_id)
    assert _chunks_of(rag, "del", a.document_id) == []
    assert {d.file_name for d in rag.documents("del")} == {"release-notes.md"}
    assert all(h.document == "release-notes.md" for h in rag.search("del", "passwords"))

    again = rag.reindex(b.document_id)
    assert again.status == READY and again.chunks == b.chunks
    assert _chunks_of(rag, "del", b.document_id) == []
    assert len(_chunks_of(rag, "del", again.document_id)) == again.chunks


def test_reindex_with_an_unreadable_original_fails_plainly_and_keeps_the_document(services):
    rag = services.rag
    rag.create_collection("keep")
    [doc] = rag.ingest("keep", _samples("release-notes.md"))
    kept = rag.files_dir / f"{rag.registry.document(doc.document_id).content_hash}.md"
    kept.unlink()
    kept.mkdir()  # still there, but reading it fails (root ignores file modes)
    again = rag.reindex(doc.document_id)
    assert again.status == FAILED and "cannot be read" in again.message
    # Nothing was lost: the indexed document and its chunks are untouched.
    assert [d.status for d in rag.documents("keep")] == [READY]
    assert len(_chunks_of(rag, "keep", doc.document_id)) == doc.chunks


class FailingOnSecondBatch(ChromaStore):
    """The real embedded store, except the second write fails (a disk or network fault)."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.adds = 0

    def add(self, *args, **kwargs) -> None:
        self.adds += 1
        if self.adds == 2:
            super().add(*args, **kwargs)  # the batch lands, then the connection drops
            raise OSError("connection reset while writing")
        super().add(*args, **kwargs)


def test_failure_half_way_leaves_no_chunks_and_no_success_row(services) -> None:
    store = FailingOnSecondBatch(services.settings.data_dir / "chroma")
    rag = RagService(services.settings, services.db, store=store, batch_size=4)
    rag.create_collection("atomic", chunk_tokens=40, chunk_overlap=0)
    (result,) = rag.ingest("atomic", _samples("employee-handbook.md"))
    assert store.adds >= 2
    assert result.status == FAILED
    assert result.message == ("employee-handbook.md could not be indexed because of an "
                              "unexpected error; the details are in the server log.")
    assert store.get("atomic") == []
    (row,) = rag.documents("atomic")
    assert (row.status, row.chunk_count) == (FAILED, 0)
    assert rag.search("atomic", "annual leave") == []
    # The same file goes in cleanly afterwards: a failed row does not count as a duplicate.
    store.adds = 10
    (ok,) = rag.ingest("atomic", _samples("employee-handbook.md"))
    assert ok.status == READY and len(store.get("atomic")) == ok.chunks
    rag.close()


def test_collections_create_rename_delete(services) -> None:
    rag = services.rag
    rag.create_collection("team-docs", chunking="recursive", chunk_tokens=120)
    with pytest.raises(RagError, match="already exists"):
        rag.create_collection("team-docs")
    with pytest.raises(RagError, match="3 to 50 characters"):
        rag.create_collection("a b")
    rag.ingest("team-docs", _samples("onboarding-guide.txt"))
    rag.rename_collection("team-docs", "people-docs")
    assert [c.name for c in rag.collections()] == ["people-docs"]
    assert rag.store.names() == ["people-docs"]
    assert rag.search("people-docs", "probation period")[0].document == "onboarding-guide.txt"
    assert len(rag.documents("people-docs")) == 1
    rag.delete_collection("people-docs")
    assert rag.collections() == [] and rag.store.names() == []
    assert rag.registry.documents() == []


@pytest.fixture
def wired_services(wire, monkeypatch):
    from core.config import Settings
    from core.services import Services

    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{wire.base_url}/v1")
    svc = Services.build(Settings())
    yield svc
    svc.close()


def test_chat_with_documents_cites_numbered_sources(wired_services, wire) -> None:
    svc = wired_services
    wire.reply = "Birth parents get 20 weeks [1]."
    svc.rag.create_collection("handbook")
    svc.rag.ingest("handbook", _samples("employee-handbook.md", "product-faq.md"))
    resp = svc.engine.chat(CompletionRequest(
        messages=[Message("user", "How long is parental leave for birth parents?")],
        model="openai/gpt-4o-mini",
        options={"rag": {"collection": "handbook", "mode": "hybrid", "top_k": 3}},
    ))
    assert resp.status == "ok" and resp.degraded == []
    assert [s["n"] for s in resp.sources] == [1, 2, 3]
    top = resp.sources[0]
    assert top["document"] == "employee-handbook.md" and "20 weeks" in top["text"]
    assert set(top) >= {"n", "document", "page", "heading", "score", "text", "chunk_id"}

    sent = wire.requests[-1].body["messages"]
    assert sent[0]["role"] == "system"
    assert "using only the numbered context" in sent[0]["content"]
    assert f"[1] (employee-handbook.md, section “{top['heading']}”)" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "How long is parental leave for birth parents?"}

    span = next(s for s in resp.spans if s.name == "retrieve")
    assert span.status == "ok"
    assert [h["chunk_id"] for h in span.detail["hits"]] == [s["chunk_id"] for s in resp.sources]
    row = svc.telemetry.get_call(resp.call_id)
    stored = svc.telemetry.spans(resp.call_id)
    assert row.degraded is None
    assert next(s for s in stored if s.name == "retrieve").detail["collection"] == "handbook"
    assert "20 weeks" in json.loads(row.input_text)[0]["content"]


def test_retrieval_failure_answers_without_documents_and_says_so(wired_services, wire) -> None:
    svc = wired_services
    svc.rag.create_collection("gone")
    svc.rag.ingest("gone", _samples("release-notes.md"))
    svc.rag.store.drop("gone")  # the store loses the collection behind the registry's back
    stream = svc.engine.stream(CompletionRequest(
        messages=[Message("user", "When was v1 switched off?")],
        model="openai/gpt-4o-mini", options={"rag": {"collection": "gone"}},
    ))
    text = "".join(stream)
    resp = stream.response
    assert text and resp.status == "ok"
    assert resp.degraded == ["retrieve"] and resp.sources == []
    assert [m["role"] for m in wire.requests[-1].body["messages"]] == ["user"]
    row = svc.telemetry.get_call(resp.call_id)
    assert row.degraded == ["retrieve"] and row.status == "ok"
    span = next(s for s in svc.telemetry.spans(resp.call_id) if s.name == "retrieve")
    assert span.status == "degraded"
    assert "retrieval failed" in span.detail["errors"][0]


def test_no_rag_option_leaves_the_call_alone(wired_services, wire) -> None:
    resp = wired_services.engine.chat(CompletionRequest(
        messages=[Message("user", "hi")], model="openai/gpt-4o-mini"))
    assert resp.sources == [] and resp.degraded == []
    assert wire.requests[-1].body["messages"] == [{"role": "user", "content": "hi"}]


def test_csv_rows_are_searchable(services) -> None:
    rag = services.rag
    rag.create_collection("offices")
    (r,) = rag.ingest("offices", _samples("offices.csv"))
    assert r.status == READY
    hit = rag.search("offices", "How many desks in Lisbon?", mode="bm25")[0]
    assert "office: Lisbon; city: Lisbon; address: Rua Augusta 88; desks: 60" in hit.text


def test_query_rewriting_goes_through_the_engine(wired_services, wire) -> None:
    svc = wired_services

    def reply(body: dict) -> str:
        last = body["messages"][-1]["content"]
        return "webhook signature header" if "Search query:" in last else "It is signed [1]."

    wire.reply = reply
    svc.rag.create_collection("api")
    svc.rag.ingest("api", _samples("api-reference.md", "product-faq.md"))
    resp = svc.engine.chat(CompletionRequest(
        messages=[Message("user", "how do I know a callback is really from you?")],
        model="openai/gpt-4o-mini",
        options={"rag": {"collection": "api", "rewrite": True, "top_k": 2}},
    ))
    span = next(s for s in resp.spans if s.name == "retrieve")
    assert span.detail["rewritten_query"] == "webhook signature header"
    assert len(wire.requests) == 2  # the rewrite, then the answer
    assert "X-Beacon-Signature" in resp.sources[0]["text"]
    sources = [r.source for r in svc.telemetry.recent_calls(5)]
    assert sorted(sources) == ["playground", "rag_rewrite"]


def test_an_openai_embedding_model_embeds_through_the_sdk(wire, monkeypatch) -> None:
    from core.config import Settings
    from core.services import Services

    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{wire.base_url}/v1")
    monkeypatch.setenv("TRELLIS_EMBEDDING_MODEL", "openai/text-embedding-3-small")
    svc = Services.build(Settings())
    try:
        coll = svc.rag.create_collection("remote-emb")
        assert coll.embedding_model == "openai/text-embedding-3-small"
        results = svc.rag.ingest("remote-emb", _samples("employee-handbook.md",
                                                        "onboarding-guide.txt"))
        assert [r.status for r in results] == [READY, READY]
        calls = [r for r in wire.requests if r.path == "/v1/embeddings"]
        assert calls and all(r.body["model"] == "text-embedding-3-small" for r in calls)
        hits = svc.rag.search("remote-emb", "probation period for new starters", mode="vector")
        assert hits[0].document == "onboarding-guide.txt"
        # The query went through the same model.
        assert wire.requests[-1].path == "/v1/embeddings"
    finally:
        svc.close()


def test_every_chunk_is_embedded_with_its_heading(services) -> None:
    """A section's later chunks do not repeat its heading in their text; the vector
    indexes it with them all the same (as BM25 does), so a search for the section's
    subject finds them."""
    import numpy as np

    rag = services.rag
    rag.create_collection("headed", chunking="recursive", chunk_tokens=60, chunk_overlap=0)
    body = " ".join(f"Clause {i} says the form is filed with the office in week {i}."
                    for i in range(1, 30))
    res = rag.ingest("headed", [("guide.md", f"# Volcano evacuation routes\n\n{body}\n".encode())])
    assert [r.status for r in res] == [READY], res[0].message
    chunks = sorted(_chunks_of(rag, "headed", res[0].document_id),
                    key=lambda c: c.metadata["chunk"])
    later = [c for c in chunks if not c.text.startswith("Volcano evacuation routes")]
    assert len(chunks) > 3 and later
    assert {c.metadata["heading"] for c in chunks} == {"Volcano evacuation routes"}
    stored = rag.store.client.get_collection("headed", embedding_function=None).get(
        ids=[later[0].id], include=["embeddings"])["embeddings"][0]
    encode = rag.embedder(rag.collection("headed")).encode
    with_heading, text_only = encode([f"Volcano evacuation routes\n{later[0].text}",
                                      later[0].text])
    assert np.allclose(stored, with_heading, atol=1e-4)
    assert not np.allclose(stored, text_only, atol=1e-2)


def test_hybrid_feedback_moves_the_query_and_follows_the_settings(isolated_env) -> None:
    """With feedback on, hybrid's vector scores are similarities to the query moved towards
    its best fused chunks (so they differ from vector mode's); with it off they are vector
    mode's own. The settings reach the retriever."""
    from core.config import Settings
    from core.services import Services

    svc = Services.build(Settings(rag_feedback_chunks=3, rag_feedback_weight=0.25))
    try:
        rag = svc.rag
        assert (rag.retriever.feedback_chunks, rag.retriever.feedback_weight) == (3, 0.25)
        rag.create_collection("feedback", chunking="markdown")
        res = rag.ingest("feedback", _samples("employee-handbook.md", "travel-and-expenses.html"))
        assert [r.status for r in res] == [READY, READY]
        q = "How many weeks of parental leave do birth parents get?"
        plain = {h.chunk_id: h.score for h in rag.search("feedback", q, mode="vector", top_k=50)}
        moved = rag.search("feedback", q, mode="hybrid", top_k=5)
        assert moved[0].document == "employee-handbook.md" and "20 weeks" in moved[0].text
        with_vector = [h for h in moved if "vector" in h.scores]
        assert with_vector and all(abs(h.scores["vector"] - plain[h.chunk_id]) > 1e-4
                                   for h in with_vector)
        rag.retriever.feedback_chunks = 0
        off = rag.search("feedback", q, mode="hybrid", top_k=5)
        assert off[0].chunk_id == moved[0].chunk_id
        assert all(h.scores["vector"] == pytest.approx(plain[h.chunk_id], abs=1e-5)
                   for h in off if "vector" in h.scores)
    finally:
        svc.close()
