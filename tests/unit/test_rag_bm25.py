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
    from core.rag.retrieval import RRF_K, RRF_WEIGHTS

    r = _retriever(tmp_path)
    assert (r.rrf_k, r.weights) == (RRF_K, RRF_WEIGHTS) == (20, (1.0, 1.5))


def test_bm25_indexes_a_chunks_heading_with_its_text():
    from core.rag.retrieval import bm25_text
    from core.rag.store import StoredChunk

    under = StoredChunk("1", "Sixteen weeks, paid.", {"heading": "Parental leave"})
    assert bm25_text(under) == "Parental leave\nSixteen weeks, paid."
    # The markdown strategy already writes the heading at the top of the chunk.
    top = StoredChunk("2", "Parental leave\n\nSixteen weeks.", {"heading": "Parental leave"})
    assert bm25_text(top) == top.text
    assert bm25_text(StoredChunk("3", "No heading.", {})) == "No heading."
