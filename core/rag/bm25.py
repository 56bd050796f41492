"""Keyword ranking: BM25 over analysed terms, scored with a sparse matrix.

Analysis: Unicode words, lower-cased and without accents, English stop
words dropped, each word reduced to its Snowball (Porter 2) stem by
PyStemmer, so "studies", "studied" and "study" meet, and "Zurich" finds
"Zürich".
Scoring is Lucene's BM25 (its always-positive idf, k1 and b as parameters),
precomputed per (chunk, term) into a SciPy sparse matrix: a query costs one
column slice and a sum, so 100,000 chunks answer in milliseconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from scipy import sparse

__all__ = ["DEFAULT_B", "DEFAULT_K1", "STOP_WORDS", "Bm25Index", "analyze"]

DEFAULT_K1 = 1.2
#: Length normalisation: 0.3, not the textbook 0.75. Chosen on the two dev sets with
#: bench/rag_tune.py (hybrid nDCG@10, mean of CACM and Medline: 0.688 against 0.677 at
#: 0.75; every b from 0.2 to 0.5 gave 0.680-0.688); docs/rag.md has the grid and the
#: untuned sets' figures. TRELLIS_RAG_BM25_B=0.75 restores the old behaviour.
DEFAULT_B = 0.3

# Lucene's English stop set plus the question words and pronouns people type
# into a search box; kept short on purpose: a long list also drops words that
# carry meaning in a query ("system", "show", "part").
_STOP_WORDS = """
a an and are as at be but by for if in into is it no not of on or such that the their then
there these they this to was will with
am been being can could did do does doing had has have having he her hers him his how i its
me my our ours she should so than them those us we were what when where which who whom why
would you your yours
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202 - PyStemmer has no type information
    import Stemmer

    return Stemmer.Stemmer("english")


def _fold(text: str) -> str:
    """Accents dropped ("Zürich" -> "Zurich"), so either spelling finds the other."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def analyze(text: str) -> list[str]:
    """The BM25 terms of `text`, in order (repeats kept)."""
    words = [w for w in _WORD.findall(_fold(text).lower()) if w not in STOP_WORDS and w != "_"]
    return _stemmer().stemWords(words) if words else []


class Bm25Index:
    """BM25 scores of a fixed list of texts for any query."""

    def __init__(self, texts: Iterable[str], *, k1: float = DEFAULT_K1,
                 b: float = DEFAULT_B) -> None:
        self.k1, self.b = k1, b
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[int] = []
        lengths: list[int] = []
        for row, text in enumerate(texts):
            terms = analyze(text)
            lengths.append(len(terms))
            for term, tf in Counter(terms).items():
                rows.append(row)
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
        self.vocab = vocab
        self.size = len(lengths)
        n = self.size
        if not n:
            self._weights = sparse.csc_matrix((0, 0), dtype=np.float32)
            return
        dl = np.asarray(lengths, dtype=np.float64)
        avgdl = max(float(dl.mean()), 1e-9)
        r = np.asarray(rows, dtype=np.int64)
        c = np.asarray(cols, dtype=np.int64)
        tf = np.asarray(tfs, dtype=np.float64)
        df = np.bincount(c, minlength=len(vocab)).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * dl[r] / avgdl)
        w = idf[c] * tf * (k1 + 1.0) / (tf + norm)
        self._weights = sparse.csc_matrix(
            (w.astype(np.float32), (r, c)), shape=(n, len(vocab))
        )

    def scores(self, query: str | list[str]) -> np.ndarray:
        """One score per text (0 where no query term occurs); repeated query terms count
        again, as in Lucene."""
        terms = analyze(query) if isinstance(query, str) else query
        cols = [self.vocab[t] for t in terms if t in self.vocab]
        if not cols or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._weights[:, cols].sum(axis=1)).ravel()
