"""BM25 analysis and scoring (core/rag/bm25.py), checked against rank-bm25."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from core.rag.bm25 import Bm25Index, analyze

TEXTS = [
    "Parental leave: employees may take sixteen weeks of paid parental leave.",
    "The travel policy covers flights, hotels and meals while travelling.",
    "Studies of boundary layers on heated wings; the study was repeated.",
    "Zürich office opening hours are 8:00 to 18:00, Monday to Friday.",
    "Leave requests go to your manager; sick leave needs a note after three days.",
]


def test_words_are_stemmed_and_stop_words_dropped():
    assert analyze("The studies studied by the study") == ["studi", "studi", "studi"]
    assert analyze("travelling travels traveled") == ["travel", "travel", "travel"]
    assert analyze("What is the leave policy for employees?") == ["leav", "polici", "employe"]


def test_non_ascii_words_and_numbers_are_terms():
    assert analyze("Zürich office 2024, naïve café") == ["zurich", "offic", "2024", "naiv", "cafe"]
    assert analyze("Zurich") == analyze("ZÜRICH") and analyze("Ελλάδα") == ["ελλαδα"]
    assert analyze("") == [] and analyze("the of and") == []


class _LuceneIdf(BM25Okapi):
    def _calc_idf(self, nd):
        for word, freq in nd.items():
            self.idf[word] = math.log(1.0 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0)])
@pytest.mark.parametrize("query", ["parental leave weeks", "study of heated wings",
                                   "leave leave manager", "Zürich hours"])
def test_scores_equal_rank_bm25_with_lucene_idf_on_the_same_terms(k1, b, query):
    index = Bm25Index(TEXTS, k1=k1, b=b)
    reference = _LuceneIdf([analyze(t) for t in TEXTS], k1=k1, b=b)
    assert index.scores(query) == pytest.approx(reference.get_scores(analyze(query)), rel=1e-5)


def test_no_matching_term_scores_zero_and_repeats_count_again():
    index = Bm25Index(TEXTS)
    assert not index.scores("quantum chromodynamics").any()
    once, twice = index.scores("manager"), index.scores("manager manager")
    assert twice[4] == pytest.approx(2 * once[4]) and once[4] > 0


def test_idf_stays_positive_for_a_term_in_most_texts():
    index = Bm25Index(["leave one", "leave two", "leave three", "other"])
    scores = index.scores("leave")
    assert (scores[:3] > 0).all() and scores[3] == 0


def test_an_empty_index_scores_nothing():
    assert Bm25Index([]).scores("anything").shape == (0,)
    assert np.asarray(Bm25Index(["", "the"]).scores("the")).tolist() == [0.0, 0.0]


# -- fusion and what BM25 indexes (core/rag/retrieval.py) --------------------------
def _hit(chunk_id: str, score: float):
    from core.rag.retrieval import Hit

    return Hit(chunk_id, f"text of {chunk_id}", 1, "doc.md", None, None, score)


def _retriever(tmp_path, **kw):
    from core.rag.retrieval import Retriever
    from core.rag.store import ChromaStore

    return Retriever(ChromaStore(tmp_path / "chroma"), **kw)


def test_rrf_sums_weighted_reciprocal_ranks(tmp_path):
    r = _retriever(tmp_path, rrf_k=20, weights=(1.0, 1.5))
    fused = r.fuse([_hit("a", 0.9), _hit("b", 0.8)], [_hit("b", 7.0), _hit("c", 5.0)], top_k=3)
    assert [h.chunk_id for h in fused] == ["b", "c", "a"]
    b = fused[0]
    assert b.score == pytest.approx(1.0 / 22 + 1.5 / 21)
    assert (b.scores["vector_rank"], b.scores["bm25_rank"]) == (2, 1)
    assert b.scores["vector"] == 0.8 and b.scores["bm25"] == 7.0


def test_weights_decide_between_two_lists_first_places(tmp_path):
    vec, kw = [_hit("v", 0.9)], [_hit("k", 3.0)]
    assert _retriever(tmp_path, weights=(1.0, 1.5)).fuse(vec, kw, 1)[0].chunk_id == "k"
    assert _retriever(tmp_path, weights=(1.5, 1.0)).fuse(vec, kw, 1)[0].chunk_id == "v"


def test_the_defaults_are_the_benchmarked_ones(tmp_path):
    from core.config import Settings
    from core.rag.bm25 import DEFAULT_B, DEFAULT_K1
    from core.rag.retrieval import FEEDBACK_CHUNKS, FEEDBACK_WEIGHT, RRF_K, RRF_WEIGHTS

    r = _retriever(tmp_path)
    assert (r.rrf_k, r.weights) == (RRF_K, RRF_WEIGHTS) == (60, (1.0, 1.25))
    assert (r.feedback_chunks, r.feedback_weight) == (FEEDBACK_CHUNKS, FEEDBACK_WEIGHT) == (0, 0.5)
    assert (r.k1, r.b) == (DEFAULT_K1, DEFAULT_B) == (1.2, 0.3)
    s = Settings()
    assert (s.rag_feedback_chunks, s.rag_feedback_weight) == (FEEDBACK_CHUNKS, FEEDBACK_WEIGHT)
    assert (s.rag_bm25_k1, s.rag_bm25_b) == (DEFAULT_K1, DEFAULT_B)


def test_a_lower_b_discounts_a_long_chunk_less():
    """b = 0.3 (the default) lets a longer chunk that repeats the query word outrank a
    short one that says it once; the textbook 0.75 puts the short one first."""
    filler = " ".join(f"word{i}" for i in range(10))
    texts = ["Zeppelin hangar.", f"Zeppelin flights and zeppelin crews. {filler}",
             "Travel policy for flights.", "Office hours."]
    short, long_ = Bm25Index(texts, b=0.75).scores("zeppelin")[:2]
    assert short > long_
    short, long_ = Bm25Index(texts).scores("zeppelin")[:2]
    assert long_ > short


def test_bm25_settings_reach_the_retriever_and_are_checked(monkeypatch, tmp_path):
    from pydantic import ValidationError

    from core.config import Settings
    from core.services import Services

    monkeypatch.setenv("TRELLIS_RAG_BM25_B", "0.75")
    monkeypatch.setenv("TRELLIS_RAG_BM25_K1", "0.9")
    svc = Services.build(Settings())
    try:
        assert (svc.rag.retriever.k1, svc.rag.retriever.b) == (0.9, 0.75)
    finally:
        svc.close()
    with pytest.raises(ValidationError):
        Settings(rag_bm25_b=1.5)
    with pytest.raises(ValidationError):
        Settings(rag_bm25_k1=0)


def test_feedback_settings_out_of_range_are_refused(tmp_path):
    from pydantic import ValidationError

    from core.config import Settings

    with pytest.raises(ValueError, match="Feedback needs"):
        _retriever(tmp_path, feedback_chunks=-1)
    with pytest.raises(ValueError, match="Feedback needs"):
        _retriever(tmp_path, feedback_weight=-0.5)
    with pytest.raises(ValidationError):
        Settings(rag_feedback_chunks=-1)


def _unit(*xs: float) -> list[float]:
    v = np.asarray(xs, dtype=np.float32)
    return list(v / np.linalg.norm(v))


def _feedback_store(tmp_path):
    """Four chunks of one document: a and b match the query's word and lie near the query
    vector; t (the one feedback should find) lies near a and b but farther from the query
    than d, which shares nothing with a and b."""
    from core.rag.store import ChromaStore

    store = ChromaStore(tmp_path / "chroma")
    store.create("feedback")
    vecs = np.asarray([_unit(0.9, 0.44, 0, 0), _unit(0.8, 0.6, 0, 0), _unit(0.35, 0.94, 0, 0),
                       _unit(0.5, 0, 0.87, 0)], dtype=np.float32)
    store.add("feedback", ["a", "b", "t", "d"], vecs,
              ["zeppelin hangar", "zeppelin mooring mast", "airship envelope", "garden hose"],
              [{"document_id": 1, "document": "doc.md"}] * 4)
    return store


def _hybrid(store, **kw) -> list:
    from core.rag.retrieval import Retriever, Served

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray([_unit(1, 0, 0, 0)] * len(texts), dtype=np.float32)

    return Retriever(store, **kw).search("feedback", 1, "zeppelin", encode, Served(ready=(1,)),
                                         mode="hybrid", top_k=4)


def test_feedback_moves_the_query_towards_the_best_fused_chunks(tmp_path):
    store = _feedback_store(tmp_path)
    try:
        plain = _hybrid(store, feedback_chunks=0)
        assert [h.chunk_id for h in plain] == ["a", "b", "d", "t"]
        moved = _hybrid(store, feedback_chunks=2, feedback_weight=1.0)
        # The query moved towards a and b (the two best fused chunks), so t, their
        # neighbour, now passes d; a and b keep their places.
        assert [h.chunk_id for h in moved] == ["a", "b", "t", "d"]
        t = next(h for h in moved if h.chunk_id == "t")
        q2 = np.asarray(_unit(1, 0, 0, 0)) + np.mean([_unit(0.9, 0.44, 0, 0),
                                                      _unit(0.8, 0.6, 0, 0)], axis=0)
        q2 /= np.linalg.norm(q2)
        assert t.scores["vector"] == pytest.approx(float(q2 @ np.asarray(_unit(0.35, 0.94, 0, 0))),
                                                   abs=1e-4)
        # Weight 0 is the same as no feedback; vector and BM25 modes never use it.
        assert [h.chunk_id for h in _hybrid(store, feedback_weight=0.0)] == ["a", "b", "d", "t"]
    finally:
        store.close()


def test_store_returns_the_vectors_of_the_chunks_asked_for(tmp_path):
    store = _feedback_store(tmp_path)
    try:
        got = store.vectors("feedback", ["t", "missing", "a"])
        assert got.shape == (2, 4)
        rows = sorted(map(tuple, np.round(got, 4)))
        assert rows == sorted(map(tuple, np.round([_unit(0.35, 0.94, 0, 0),
                                                   _unit(0.9, 0.44, 0, 0)], 4)))
        assert store.vectors("feedback", ["missing"]).shape[0] == 0
    finally:
        store.close()


def test_bm25_indexes_a_chunks_heading_with_its_text():
    from core.rag.retrieval import bm25_text
    from core.rag.store import StoredChunk

    under = StoredChunk("1", "Sixteen weeks, paid.", {"heading": "Parental leave"})
    assert bm25_text(under) == "Parental leave\nSixteen weeks, paid."
    # The markdown strategy already writes the heading at the top of the chunk.
    top = StoredChunk("2", "Parental leave\n\nSixteen weeks.", {"heading": "Parental leave"})
    assert bm25_text(top) == top.text
    assert bm25_text(StoredChunk("3", "No heading.", {})) == "No heading."


def test_score_combination_divides_each_list_by_its_best(tmp_path):
    r = _retriever(tmp_path, fusion="score", score_weights=(1.0, 1.0), rrf_k=20, weights=(1.0, 1.5))
    vec = [_hit("a", 0.8), _hit("b", 0.4)]
    kw = [_hit("b", 10.0), _hit("c", 9.0)]
    out = r.combine(vec, kw, top_k=3)
    # a: 0.8/0.8 = 1.0; b: 0.4/0.8 + 10/10 = 1.5; c: 9/10 = 0.9
    assert [h.chunk_id for h in out] == ["b", "a", "c"]
    assert [h.score for h in out] == pytest.approx([1.5, 1.0, 0.9])
    assert out[0].scores["combined"] == pytest.approx(1.5)
    assert (out[0].scores["vector_rank"], out[0].scores["bm25_rank"]) == (2, 1)
    # RRF over the same lists sees places only: with BM25 weighted 1.5, c (BM25's
    # second) passes a (the vector's first), though c's score is the further below.
    assert [h.chunk_id for h in r.fuse(vec, kw, 3)] == ["b", "c", "a"]


def test_score_combination_weights_and_an_empty_list(tmp_path):
    vec, kw = [_hit("v", 0.5)], [_hit("k", 2.0)]
    assert _retriever(tmp_path, score_weights=(1.0, 2.0)).combine(vec, kw, 1)[0].chunk_id == "k"
    assert _retriever(tmp_path, score_weights=(2.0, 1.0)).combine(vec, kw, 1)[0].chunk_id == "v"
    only = _retriever(tmp_path).combine(vec, [], 5)
    assert [(h.chunk_id, h.score) for h in only] == [("v", 1.0)]


def test_an_unknown_fusion_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Unknown fusion"):
        _retriever(tmp_path, fusion="borda")


def _doc_hit(chunk_id: str, doc: int, score: float):
    from core.rag.retrieval import Hit

    return Hit(chunk_id, chunk_id, doc, f"{doc}.md", None, None, score)


def test_documents_rank_by_their_best_chunk_or_the_sum_of_their_best_chunks():
    from core.rag.retrieval import rank_documents

    hits = [_doc_hit("1a", 1, 0.9), _doc_hit("2a", 2, 0.8), _doc_hit("2b", 2, 0.7),
            _doc_hit("3a", 3, 0.5), _doc_hit("2c", 2, 0.6), _doc_hit("1b", 1, 0.1)]
    best = rank_documents(hits, "max")
    assert [h.chunk_id for h in best] == ["1a", "2a", "3a"]
    assert best[0].scores["document"] == pytest.approx(0.9)
    summed = rank_documents(hits, "sum", n=2)
    # 2: 0.8 + 0.7 = 1.5 (its third chunk does not count); 1: 0.9 + 0.1; 3: 0.5
    assert [h.chunk_id for h in summed] == ["2a", "1a", "3a"]
    assert [h.scores["document"] for h in summed] == pytest.approx([1.5, 1.0, 0.5])
    assert rank_documents([], "sum") == []
    with pytest.raises(ValueError, match="Unknown aggregation"):
        rank_documents(hits, "mean")


def test_ties_between_documents_keep_the_order_of_their_best_chunks():
    from core.rag.retrieval import rank_documents

    hits = [_doc_hit("x", 7, 0.5), _doc_hit("y", 3, 0.5), _doc_hit("z", 5, 0.5)]
    assert [h.document_id for h in rank_documents(hits)] == [7, 3, 5]


def test_both_retrievers_index_the_heading_with_the_text():
    from core.rag.retrieval import indexed_text

    assert indexed_text("Sixteen weeks.", "Parental leave") == "Parental leave\nSixteen weeks."
    assert indexed_text("Parental leave\n\nSixteen weeks.", "Parental leave") == (
        "Parental leave\n\nSixteen weeks.")
    assert indexed_text("Plain.", None) == indexed_text("Plain.", "") == "Plain."
