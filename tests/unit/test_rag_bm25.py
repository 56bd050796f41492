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
