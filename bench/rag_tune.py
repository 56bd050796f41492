"""Choosing retrieval settings on the dev sets only, fast, with cached vectors.

    PYTHONPATH=. python bench/rag_tune.py [--sets DIR] [--only cacm med]

Every dev set (bench/retrieval_sets.DEV_SETS) is chunked exactly as Trellis
chunks a text upload (the same loader, chunker and indexed text), its chunks
and queries embedded once with the bundled MiniLM and cached under
$TRELLIS_TUNE_CACHE (default /tmp/trellis-tune); then every variant below is
scored with exact (numpy) cosine instead of Chroma's approximate search, and
Trellis's own BM25, fusion and document ranking. That is within a point of
the full run (`bench/rag_quality.py`) and takes seconds per variant instead of
minutes per set.

It refuses untuned sets unless `--final` is given: choosing is done on the dev
sets, and the untuned sets are measured once, with `bench/rag_quality.py` (or,
for a set too large to ingest through the service in the time at hand,
`--final --grep defaults`, which gives the same figures where Chroma's
approximate search finds the exact neighbours).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.rag_quality import by_document, doc_text, ndcg_at, upload  # noqa: E402
from bench.retrieval_sets import DEV_SETS, Dataset, find_sets  # noqa: E402

CHUNKS_PER_QUERY = 60


@dataclass
class Prepared:
    ds: Dataset
    queries: dict[str, str]
    texts: list[str]
    owner: list[str]
    copies: dict[str, list[str]]
    vectors: np.ndarray
    qvectors: np.ndarray
    #: nDCG@10 of the bare baselines (whole documents): Chroma + MiniLM, rank_bm25
    bare: dict[str, float]
    #: nDCG@10 of rank_bm25 over Trellis's chunks
    bare_chunks: float


def _cached(cache: Path, key: str, texts: list[str]) -> np.ndarray:
    from core.rag.embeddings import embed

    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = cache / f"{key}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    vecs = embed(texts)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


def prepare(ds: Dataset, cache: Path) -> Prepared:
    from core.rag.chunking import iter_chunks
    from core.rag.embeddings import load_embedder
    from core.rag.loaders import DocumentError, iter_document
    from core.rag.retrieval import indexed_text

    tokenizer = load_embedder().tokenizer
    first_of: dict[str, str] = {}
    copies: dict[str, list[str]] = {}
    texts: list[str] = []
    owner: list[str] = []
    for doc_id, (title, text) in ds.docs.items():
        h = hashlib.sha256(doc_text(title, text).encode()).hexdigest()
        first = first_of.setdefault(h, doc_id)
        copies.setdefault(first, []).append(doc_id)
        if first != doc_id:
            continue
        name, data = upload(doc_id, title, text, "txt")
        try:
            chunks = list(iter_chunks(iter_document(name, data), tokenizer,
                                      strategy="recursive", size=200, overlap=30,
                                      min_tokens=40, max_chars=3000))
        except DocumentError:
            continue  # an empty document: Trellis refuses it too
        for c in chunks:
            texts.append(indexed_text(c.text, c.heading))
            owner.append(doc_id)
    queries = ds.judged()
    qvectors = _cached(cache, f"{ds.name}-queries", list(queries.values()))
    # Bare baselines over whole documents, as bench/rag_quality.py runs them (exact cosine).
    from rank_bm25 import BM25Okapi

    from bench.rag_quality import bare_words

    doc_ids = list(ds.docs)
    whole = [doc_text(*ds.docs[d]) for d in doc_ids]
    dvecs = _cached(cache, f"{ds.name}-docs", whole)
    okapi = BM25Okapi([bare_words(t) for t in whole])
    bv, bb = [], []
    for qi, (qid, q) in enumerate(queries.items()):
        rels = ds.qrels[qid]
        bv.append(ndcg_at([doc_ids[i] for i, _ in _top(dvecs @ qvectors[qi], 10)], rels))
        s = okapi.get_scores(bare_words(q))
        bb.append(ndcg_at([doc_ids[i] for i in np.argsort(-s, kind="stable")[:10]], rels))
    bare = {"vector": float(np.mean(bv)), "bm25": float(np.mean(bb))}
    # Bare BM25 over Trellis's own chunks (the yardstick for Trellis's BM25), not a
    # baseline for hybrid.
    per_chunk = BM25Okapi([bare_words(t) for t in texts])
    bc = []
    for qid, q in queries.items():
        s = per_chunk.get_scores(bare_words(q))
        order = np.argsort(-s, kind="stable")[:CHUNKS_PER_QUERY]
        bc.append(ndcg_at(by_document([owner[i] for i in order], copies), ds.qrels[qid]))
    bare_chunks = float(np.mean(bc))
    return Prepared(ds, queries, texts, owner, copies,
                    _cached(cache, f"{ds.name}-chunks", texts), qvectors, bare, bare_chunks)


def _top(scores: np.ndarray, k: int, positive: bool = False) -> list[tuple[int, float]]:
    idx = np.flatnonzero(scores > 0) if positive else np.arange(len(scores))
    if len(idx) > k:
        idx = idx[np.argpartition(-scores[idx], k - 1)[:k]]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [(int(i), float(scores[i])) for i in idx]


@dataclass(frozen=True)
class Variant:
    name: str
    rrf_k: int = 20
    weights: tuple[float, float] = (1.0, 1.5)
    #: Rocchio in embedding space: (top chunks, beta) or None
    prf_vec: tuple[int, float] | None = None
    #: RM3-style BM25 expansion: (top chunks, terms, weight) or None
    prf_bm25: tuple[int, int, float] | None = None
    #: BM25's parameters; the variants of rounds 1-3 ran with b = 0.75 (the default then)
    k1: float = 1.2
    b: float = 0.75
    #: "rrf", or "score" (each list divided by its best, weighted sum), or "minmax", or
    #: "z" (each list's scores as z-scores over its top 20, weighted sum; a chunk missing
    #: from a list gets that list's 20th z-score)
    fusion: str = "rrf"
    #: Query-adaptive RRF weights (round 4), label-free, per query:
    #: ("confidence", p): each list's weight times (z-score of its top score over its top
    #: 20) ** p, rescaled so the two weights keep their sum;
    #: ("overlap", s): the vector weight times 1 + s * (share of the top 10 chunks the two
    #: lists have in common - 0.3).
    adaptive: tuple[str, float] | None = None


def _rrf(lists: list[tuple[float, list[tuple[int, float]]]], k: int) -> list[tuple[int, float]]:
    fused: dict[int, float] = {}
    for w, hits in lists:
        for rank, (i, _s) in enumerate(hits, start=1):
            fused[i] = fused.get(i, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda x: -x[1])


def _z(hits: list[tuple[int, float]], n: int = 20) -> tuple[dict[int, float], float]:
    """Each hit's score as a z-score over the list's top `n`, and the z of its n-th."""
    if not hits:
        return {}, 0.0
    s = np.array([x for _, x in hits[:n]])
    mu, sd = s.mean(), s.std() + 1e-9
    return {i: (x - mu) / sd for i, x in hits}, float((s[-1] - mu) / sd)


def _adaptive_weights(v: Variant, vec: list[tuple[int, float]],
                      kw: list[tuple[int, float]]) -> tuple[float, float]:
    wv, wb = v.weights
    if v.adaptive is None:
        return wv, wb
    how, x = v.adaptive
    if how == "confidence":
        cv = max(_z(vec)[0][vec[0][0]], 1e-3) ** x if vec else 0.0
        cb = max(_z(kw)[0][kw[0][0]], 1e-3) ** x if kw else 0.0
        if cv + cb <= 0:
            return wv, wb
        scale = (wv + wb) / (wv * cv + wb * cb)
        return wv * cv * scale, wb * cb * scale
    shared = len({i for i, _ in vec[:10]} & {i for i, _ in kw[:10]}) / 10
    return wv * (1 + x * (shared - 0.3)), wb


def _fuse(v: Variant, vec: list[tuple[int, float]],
          kw: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if v.fusion == "rrf":
        wv, wb = _adaptive_weights(v, vec, kw)
        return _rrf([(wv, vec), (wb, kw)], v.rrf_k)
    if v.fusion == "z":
        (zv, lv), (zb, lb) = _z(vec), _z(kw)
        fused_z = {i: v.weights[0] * zv.get(i, lv) + v.weights[1] * zb.get(i, lb)
                   for i in set(zv) | set(zb)}
        return sorted(fused_z.items(), key=lambda x: -x[1])
    fused: dict[int, float] = {}
    for w, hits in ((v.weights[0], vec), (v.weights[1], kw)):
        if not hits:
            continue
        hi, lo = hits[0][1], hits[-1][1]
        for i, s in hits:
            if v.fusion == "score":
                x = s / hi if hi > 0 else 0.0
            else:
                x = (s - lo) / (hi - lo) if hi > lo else 1.0
            fused[i] = fused.get(i, 0.0) + w * x
    return sorted(fused.items(), key=lambda x: -x[1])


def evaluate(p: Prepared, v: Variant, bm25_cache: dict) -> dict[str, float]:
    from core.rag.bm25 import Bm25Index, analyze

    key = (id(p), v.k1, v.b)
    if key not in bm25_cache:
        bm25_cache[key] = Bm25Index(p.texts, k1=v.k1, b=v.b)
    bm25: Bm25Index = bm25_cache[key]
    depth = max(CHUNKS_PER_QUERY * 4, 20)
    out: dict[str, list[float]] = {"vector": [], "bm25": [], "hybrid": []}

    def docs_of(hits: list[tuple[int, float]]) -> list[str]:
        return by_document([p.owner[i] for i, _ in hits[:CHUNKS_PER_QUERY]], p.copies)

    for qi, (qid, q) in enumerate(p.queries.items()):
        rels = p.ds.qrels[qid]
        qv = p.qvectors[qi]
        vec = _top(p.vectors @ qv, depth)
        terms = analyze(q)
        kw = _top(bm25.scores(terms), depth, positive=True) if terms else []
        fused = _fuse(v, vec, kw)
        if v.prf_vec or v.prf_bm25:
            if v.prf_vec:
                m, beta = v.prf_vec
                top = [i for i, _ in fused[:m]]
                q2 = qv + beta * p.vectors[top].mean(axis=0)
                q2 /= np.linalg.norm(q2)
                vec = _top(p.vectors @ q2, depth)
            if v.prf_bm25 and terms:
                m, n, weight = v.prf_bm25
                kw = _top(_expanded(bm25, terms, [p.texts[i] for i, _ in fused[:m]], n, weight),
                          depth, positive=True)
            fused = _fuse(v, vec, kw)
        out["vector"].append(ndcg_at(docs_of(vec), rels))
        out["bm25"].append(ndcg_at(docs_of(kw), rels))
        out["hybrid"].append(ndcg_at(docs_of(fused), rels))
    return {k: float(np.mean(x)) for k, x in out.items()}


def _expanded(bm25, terms: list[str], feedback: list[str], n: int, weight: float) -> np.ndarray:
    from collections import Counter

    from core.rag.bm25 import analyze

    counts: Counter[str] = Counter()
    for text in feedback:
        words = analyze(text)
        for t, c in Counter(words).items():
            counts[t] += c / max(len(words), 1)
    # Weight candidate terms by their feedback frequency times idf (rarer terms first).
    n_docs = bm25.size
    df = np.asarray((bm25._weights > 0).sum(axis=0)).ravel()
    scored = []
    for t, c in counts.items():
        j = bm25.vocab.get(t)
        if j is None or t in terms:
            continue
        scored.append((c * np.log1p(n_docs / (df[j] + 1)), t))
    extra = [t for _, t in sorted(scored, reverse=True)[:n]]
    base = bm25.scores(terms)
    add = bm25.scores(extra) if extra else 0.0
    return base + weight * add / max(len(extra), 1) * len(set(terms))


def variants() -> list[Variant]:
    from core.rag.bm25 import DEFAULT_B, DEFAULT_K1
    from core.rag.retrieval import FEEDBACK_TRIED, FEEDBACK_WEIGHT, RRF_K, RRF_WEIGHTS

    shipped = {"rrf_k": RRF_K, "weights": RRF_WEIGHTS, "k1": DEFAULT_K1, "b": DEFAULT_B}
    out = [Variant("defaults (no feedback)", **shipped),
           Variant(f"defaults with feedback {FEEDBACK_TRIED}/{FEEDBACK_WEIGHT}",
                   prf_vec=(FEEDBACK_TRIED, FEEDBACK_WEIGHT), **shipped),
           Variant("defaults before round 4 (BM25 b=0.75)", rrf_k=RRF_K, weights=RRF_WEIGHTS)]
    out.append(Variant("as shipped before: RRF k=20, 1 : 1.5"))
    for fusion, w in itertools.product(("score", "minmax"), (0.5, 0.7, 1.0, 1.5)):
        out.append(Variant(f"{fusion} 1 : {w:g}", fusion=fusion, weights=(1.0, w)))
    for (m, beta), k, w in itertools.product(((3, 1.0), (5, 1.0), (5, 0.5)), (20, 60),
                                            ((1.0, 1.0), (1.5, 1.0), (2.0, 1.0))):
        out.append(Variant(f"vPRF {m}/{beta} RRF k={k}, {w[0]:g} : {w[1]:g}", rrf_k=k,
                           weights=w, prf_vec=(m, beta)))
    for (m, beta), w in itertools.product(((3, 1.0), (5, 1.0)), (0.5, 0.7, 1.0)):
        out.append(Variant(f"vPRF {m}/{beta} score 1 : {w:g}", fusion="score",
                           weights=(1.0, w), prf_vec=(m, beta)))
    for k, w in itertools.product((20, 60), ((1.0, 1.0), (1.0, 1.5), (1.5, 1.0))):
        if (k, w) != (20, (1.0, 1.5)):
            out.append(Variant(f"RRF k={k}, {w[0]:g} : {w[1]:g}", rrf_k=k, weights=w))
    for m, beta in itertools.product((3, 5, 10), (0.5, 1.0, 2.0)):
        out.append(Variant(f"vector PRF top {m}, beta {beta}", prf_vec=(m, beta)))
    for m, n, wt in itertools.product((5, 10), (10, 20), (0.3, 0.6)):
        out.append(Variant(f"BM25 PRF top {m}, {n} terms, w {wt}", prf_bm25=(m, n, wt)))
    for (m, beta), k in itertools.product(((5, 0.3), (5, 0.5), (5, 0.7), (3, 0.5), (8, 0.5)),
                                          (40, 60, 100)):
        out.append(Variant(f"r2 vPRF {m}/{beta} RRF k={k}, 1 : 1", rrf_k=k, weights=(1.0, 1.0),
                           prf_vec=(m, beta)))
    for (m, beta), w in itertools.product(((5, 0.5), (3, 0.5)), (0.5, 0.7, 1.0)):
        out.append(Variant(f"r2 vPRF {m}/{beta} minmax 1 : {w:g}", fusion="minmax",
                           weights=(1.0, w), prf_vec=(m, beta)))
    for fb, k, w in itertools.product((None, (5, 0.5), (5, 0.3), (3, 0.5)), (20, 40, 60),
                                      (1.25, 1.5)):
        label = f"vPRF {fb[0]}/{fb[1]}" if fb else "no PRF"
        out.append(Variant(f"r3 {label} RRF k={k}, 1 : {w:g}", rrf_k=k, weights=(1.0, w),
                           prf_vec=fb))
    out.append(Variant("r2 RRF k=40, 1 : 1", rrf_k=40, weights=(1.0, 1.0)))
    # Round 4: query-adaptive fusion, z-score fusion, and BM25's length normalisation
    # checked on both dev sets (the first rounds chose k1 and b on CACM alone).
    r4 = {"rrf_k": 60, "weights": (1.0, 1.25)}
    for p in (0.5, 1.0, 2.0):
        out.append(Variant(f"r4 confidence-adaptive RRF, power {p:g}", adaptive=("confidence", p),
                           **r4))
    for x in (-1.0, 1.0, 2.0):
        out.append(Variant(f"r4 overlap-adaptive RRF, s {x:+g}", adaptive=("overlap", x), **r4))
    for w in (0.6, 0.8, 1.0, 1.25):
        out.append(Variant(f"r4 z-score fusion 1 : {w:g}", fusion="z", weights=(1.0, w)))
    for k1, b, w in itertools.product((1.0, 1.2, 1.5), (0.2, 0.3, 0.4, 0.5, 0.75),
                                      (1.0, 1.25, 1.5)):
        out.append(Variant(f"r4 BM25 k1={k1:g} b={b:g}, RRF k=60, 1 : {w:g}", rrf_k=60,
                           weights=(1.0, w), k1=k1, b=b))
    out.append(Variant("r4 overlap-adaptive s -1, b=0.3", adaptive=("overlap", -1.0), b=0.3, **r4))
    for k, w in itertools.product((20, 40, 100), (1.0, 1.25, 1.5)):
        out.append(Variant(f"r4 b=0.3, RRF k={k}, 1 : {w:g}", rrf_k=k, weights=(1.0, w), b=0.3))
    out.append(Variant("r2 RRF k=100, 1 : 1", rrf_k=100, weights=(1.0, 1.0)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", type=Path,
                        default=os.environ.get("TRELLIS_BENCH_SETS", "/tmp/ragq-sets"))
    parser.add_argument("--only", nargs="*", default=list(DEV_SETS))
    parser.add_argument("--final", action="store_true",
                        help="allow untuned sets (measuring, not choosing)")
    parser.add_argument("--grep", default=None, help="only variants whose name starts so")
    args = parser.parse_args()
    untuned = [n for n in args.only if n not in DEV_SETS]
    if untuned and not args.final:
        print(f"{', '.join(untuned)}: not a dev set; settings are chosen on "
              f"{', '.join(DEV_SETS)} only (use --final to measure a chosen setting).")
        return 2
    from core.config import enforce_offline

    enforce_offline()
    cache = Path(os.environ.get("TRELLIS_TUNE_CACHE", "/tmp/trellis-tune"))
    prepared = [prepare(ds, cache) for ds in find_sets(args.sets, args.only)]
    bm25_cache: dict = {}
    todo = [v for v in variants() if not args.grep or v.name.startswith(args.grep)]
    names = [p.ds.name for p in prepared]
    for p in prepared:
        print(f"{p.ds.name} ({'dev' if p.ds.tuned else 'UNTUNED'}; {len(p.ds.docs):,} documents, "
              f"{len(p.texts):,} chunks, {len(p.queries)} queries): bare vector "
              f"{p.bare['vector']:.4f}, bare BM25 {p.bare['bm25']:.4f}, bare BM25 over "
              f"Trellis's chunks {p.bare_chunks:.4f}")
    print(f"{'variant':40} " + " ".join(f"{n + ' hyb':>9} {'vec':>6} {'bm25':>6} {'gain':>5}"
                                        for n in names) + f" {'mean hyb':>9} {'min gain':>8}")
    for v in todo:
        rows = [evaluate(p, v, bm25_cache) for p in prepared]
        gains = [100 * (r["hybrid"] - max(p.bare.values())) for r, p in zip(rows, prepared,
                                                                             strict=True)]
        print(f"{v.name:40} " + " ".join(
            f"{r['hybrid']:9.4f} {r['vector']:6.3f} {r['bm25']:6.3f} {g:+5.1f}"
            for r, g in zip(rows, gains, strict=True))
            + f" {np.mean([r['hybrid'] for r in rows]):9.4f} {min(gains):+8.1f}", flush=True)
        if args.final:
            for r, g, p in zip(rows, gains, prepared, strict=True):
                print(f"  {p.ds.name}: hybrid - best bare {g:+.1f}; Trellis BM25 - bare BM25 "
                      f"(chunks) {100 * (r['bm25'] - p.bare_chunks):+.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
