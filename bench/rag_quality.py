"""Retrieval quality: Trellis's three modes against bare baselines, in one run.

    PYTHONPATH=. python bench/rag_quality.py [--sets DIR] [--only NAME ...]
        [--max-queries N] [--chunking recursive|markdown] [--skip-samples]
        [--format txt|md] [--doc-agg max|sum] [--feedback CHUNKS,WEIGHT]

Two parts:

1. The shipped sample corpus (data/samples/, bench/rag_queries.json):
   recall@5, MRR@10 and recall@1 per mode; a chunk answers a question when
   it comes from the labelled document and contains the labelled answer.
2. Public labelled retrieval sets, none shipped with Trellis (see
   bench/retrieval_sets.py for the layouts and docs/rag.md for where to get
   them), read from --sets or $TRELLIS_BENCH_SETS; skipped with a plain
   message when neither is there. Each set's documents are uploaded to a
   Trellis collection as text files (title on the first line), and every
   judged query is run through `RagService.search` in each mode. In the same
   process, on the same documents and queries:
   - bare vector: a Chroma collection (cosine) of the same MiniLM's vectors
     of whole documents (the model truncates what does not fit);
   - bare BM25: `rank_bm25.BM25Okapi` over whole documents, lower-cased
     `\\w+` words;
   - bare BM25 over Trellis's own chunks (the same words), ranked per
     document by its best chunk, which is the fair yardstick for Trellis's
     BM25.
   A document's rank is that of its best chunk (`--doc-agg sum`: the sum of
   its best two). Reported per set: source, licence, size and whether
   settings were chosen on it (only CACM and Medline, the dev sets; every
   other set is untuned); nDCG@10 (trec_eval's linear gain, graded where the set is) and
   recall@10 of every system, hybrid with the other fusion (score
   combination) and hybrid with pseudo-relevance feedback (without, when it
   is turned on) as extra rows,
   and the differences the goals are about:
   hybrid vs the best bare baseline (goal: +5 points) and Trellis BM25 vs
   bare BM25 over the same chunks (goal: >= 0).
   `--format md` uploads each document as Markdown with its title as a
   heading (so every chunk carries the title as its heading) instead of a
   text file with the title on the first line.

BEIR SciFact is reserved for measuring and is never used to tune anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.retrieval_sets import DEV_SETS, Dataset, find_sets  # noqa: E402

MODES = ("vector", "bm25", "hybrid")
#: Chunks asked for per query: enough distinct documents for the top 10.
CHUNKS_PER_QUERY = 60


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


# -- part 1: the sample corpus -------------------------------------------------------
def sample_scores(rag, collection: str, queries: list[dict], k: int = 5,
                  depth: int = 10) -> dict:
    out = {}
    for mode in MODES:
        hits_at_k, top1, rr = 0, 0, 0.0
        for q in queries:
            hits = rag.search(collection, q["query"], mode=mode, top_k=depth)
            rank = next(
                (i for i, h in enumerate(hits, start=1)
                 if h.document == q["document"] and _norm(q["answer"]) in _norm(h.text)),
                None,
            )
            if rank is not None:
                rr += 1.0 / rank
                hits_at_k += rank <= k
                top1 += rank == 1
        n = len(queries)
        out[mode] = (hits_at_k / n, rr / n, top1 / n)
    return out


def run_samples(rag, chunking: str) -> bool:
    labelled = json.loads((ROOT / "bench" / "rag_queries.json").read_text())["queries"]
    files = [(p.name, p.read_bytes()) for p in sorted((ROOT / "data" / "samples").iterdir())
             if p.is_file()]
    name = f"samples-{chunking}"
    rag.create_collection(name, chunking=chunking)
    results = rag.ingest(name, files)
    chunks = sum(r.chunks for r in results)
    scores = sample_scores(rag, name, labelled)
    print(f"\n== sample corpus: {len(labelled)} labelled questions over {len(files)} documents, "
          f"{chunking} chunking ({chunks} chunks)")
    print(f"{'mode':8} {'recall@5':>9} {'MRR@10':>7} {'recall@1':>9}")
    for mode, (recall, mrr, at1) in scores.items():
        print(f"{mode:8} {recall:9.3f} {mrr:7.3f} {at1:9.3f}")
    hv, vv = scores["hybrid"], scores["vector"]
    return hv[0] >= vv[0] and hv[1] >= vv[1] - 1e-9


# -- part 2: public sets ---------------------------------------------------------------
def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    return len(set(ranked[:k]) & set(rels)) / len(rels) if rels else 0.0


def bare_words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def doc_text(title: str, text: str) -> str:
    return f"{title}\n\n{text}" if text and title else (text or title)


def upload(doc_id: str, title: str, text: str, fmt: str) -> tuple[str, bytes]:
    if fmt == "md" and title:
        return f"{doc_id}.md", f"# {title}\n\n{text}\n".encode()
    return f"{doc_id}.txt", doc_text(title, text).encode()


def by_document(chunk_docs: list[str], copies: dict[str, list[str]], k: int = 10) -> list[str]:
    """Documents in the order of their best chunk; a document Trellis skipped as an
    exact duplicate of another ranks right after it, as it does for the bare baselines."""
    out: list[str] = []
    seen: set[str] = set()
    for d in chunk_docs:
        if d in seen:
            continue
        seen.add(d)
        out.extend(copies.get(d, [d]))
        if len(out) >= k:
            break
    return out


def run_set(svc, ds: Dataset, model, max_queries: int | None, chunking: str,
            fmt: str = "txt", doc_agg: str = "max") -> dict:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from rank_bm25 import BM25Okapi

    from core.rag.retrieval import FEEDBACK_TRIED, rank_documents

    rag = svc.rag
    queries = ds.judged()
    if max_queries:
        queries = dict(list(queries.items())[:max_queries])
    print(f"\n== {ds.name}: {ds.source}; {len(ds.docs):,} documents, {len(queries)} judged "
          "queries", flush=True)
    print(f"  licence: {ds.licence}")
    print("  " + ("DEV SET: retrieval settings were chosen on it" if ds.tuned else
                  f"untuned: nothing was chosen on it (the dev sets are {', '.join(DEV_SETS)})"))
    print(f"  uploaded as {fmt} files; documents ranked by {doc_agg} of their chunks")
    # Identical documents: Trellis keeps the first and skips the rest as duplicates.
    first_of: dict[str, str] = {}
    copies: dict[str, list[str]] = {}
    for doc_id, (title, text) in ds.docs.items():
        h = hashlib.sha256(doc_text(title, text).encode()).hexdigest()
        first = first_of.setdefault(h, doc_id)
        copies.setdefault(first, []).append(doc_id)

    t0 = time.perf_counter()
    coll = f"bench-{ds.name}"[:63]
    rag.create_collection(coll, chunking=chunking)
    files = [upload(d, t, x, fmt) for d, (t, x) in ds.docs.items()]
    ingested = failed = 0
    for start in range(0, len(files), 500):
        for r in rag.ingest(coll, files[start:start + 500]):
            ingested += r.status == "ready"
            failed += r.status == "failed"
        print(f"  ingested {min(start + 500, len(files)):,}/{len(files):,} files "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    chunks = rag.store.get(coll)
    print(f"  Trellis: {ingested:,} documents as {len(chunks):,} chunks ({chunking}); "
          f"{len(files) - ingested - failed} exact duplicates skipped, {failed} failed")

    scores: dict[str, list[tuple[float, float]]] = {}

    def add(name: str, qid: str, ranked: list[str]) -> None:
        rels = ds.qrels[qid]
        scores.setdefault(name, []).append((ndcg_at(ranked, rels), recall_at(ranked, rels)))

    # Trellis, each mode, and hybrid with the other fusion.
    retriever = rag.retriever
    other = "score" if retriever.fusion == "rrf" else "rrf"
    feedback = retriever.feedback_chunks
    for qid, q in queries.items():
        runs = [(f"trellis {mode}", mode, retriever.fusion, feedback) for mode in MODES]
        runs.append((f"trellis hybrid ({other})", "hybrid", other, feedback))
        if feedback:
            runs.append(("trellis hybrid (no feedback)", "hybrid", retriever.fusion, 0))
        else:
            runs.append(("trellis hybrid (feedback)", "hybrid", retriever.fusion,
                         FEEDBACK_TRIED))
        for label, mode, fusion, fb in runs:
            kept = retriever.fusion, retriever.feedback_chunks
            retriever.fusion, retriever.feedback_chunks = fusion, fb
            try:
                hits = rag.search(coll, q, mode=mode, top_k=CHUNKS_PER_QUERY)
            finally:
                retriever.fusion, retriever.feedback_chunks = kept
            names = [h.document.rsplit(".", 1)[0] for h in rank_documents(hits, doc_agg)]
            add(label, qid, by_document(names, copies))

    # Bare vector: Chroma + the same model over whole documents.
    doc_ids = list(ds.docs)
    texts = [doc_text(*ds.docs[d]) for d in doc_ids]
    client = chromadb.PersistentClient(path=tempfile.mkdtemp(prefix="bare-chroma-"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    bare = client.create_collection("bare", metadata={"hnsw:space": "cosine"},
                                    embedding_function=None)
    for start in range(0, len(texts), 1000):
        vecs = model.encode(texts[start:start + 1000], normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        bare.add(ids=doc_ids[start:start + 1000], embeddings=vecs)
    qids = list(queries)
    qvecs = model.encode([queries[q] for q in qids], normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)
    found = bare.query(query_embeddings=qvecs, n_results=10, include=[])["ids"]
    for qid, ranked in zip(qids, found, strict=True):
        add("bare vector (docs)", qid, list(ranked))

    # Bare BM25 over whole documents, and over Trellis's own chunks.
    whole = BM25Okapi([bare_words(t) for t in texts])
    chunk_docs = [str(c.metadata.get("document", "")).rsplit(".", 1)[0] for c in chunks]
    per_chunk = BM25Okapi([bare_words(c.text) for c in chunks])
    for qid in qids:
        words = bare_words(queries[qid])
        s = whole.get_scores(words)
        add("bare BM25 (docs)", qid, [doc_ids[i] for i in np.argsort(-s, kind="stable")[:10]])
        s = per_chunk.get_scores(words)
        order = np.argsort(-s, kind="stable")[:CHUNKS_PER_QUERY]
        add("bare BM25 (chunks)", qid, by_document([chunk_docs[i] for i in order], copies))

    print(f"  {'system':26} {'nDCG@10':>8} {'R@10':>7}")
    table = {}
    for name, vals in scores.items():
        nd, rc = (float(np.mean([v[i] for v in vals])) for i in (0, 1))
        table[name] = nd
        print(f"  {name:26} {nd:8.4f} {rc:7.4f}")
    best_bare = max(("bare vector (docs)", "bare BM25 (docs)"), key=table.__getitem__)
    gain = 100 * (table["trellis hybrid"] - table[best_bare])
    bm25_gain = 100 * (table["trellis bm25"] - table["bare BM25 (chunks)"])
    print(f"  hybrid vs best bare ({best_bare}): {gain:+.1f} points "
          f"({'met' if gain >= 5 else 'NOT met'}: goal +5)")
    print(f"  Trellis BM25 vs bare BM25 on the same chunks: {bm25_gain:+.1f} points "
          f"({'met' if bm25_gain >= 0 else 'NOT met'}: goal >= 0)")
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"set": ds.name, "tuned": ds.tuned, "docs": len(ds.docs), "queries": len(queries),
            "hybrid_gain": gain, "bm25_gain": bm25_gain, **table}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", type=Path, default=os.environ.get("TRELLIS_BENCH_SETS"),
                        help="folder of public retrieval sets (or $TRELLIS_BENCH_SETS)")
    parser.add_argument("--only", nargs="*", help="set names to run (folder names)")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--chunking", default="recursive", choices=["recursive", "markdown"])
    parser.add_argument("--skip-samples", action="store_true")
    parser.add_argument("--rrf-k", type=int, default=None, help="override the RRF constant")
    parser.add_argument("--weights", default=None, help="override vector,bm25 RRF weights")
    parser.add_argument("--fusion", default=None, choices=["rrf", "score"],
                        help="override the hybrid fusion")
    parser.add_argument("--feedback", default=None,
                        help="override hybrid's feedback: CHUNKS,WEIGHT (0,0 turns it off)")
    parser.add_argument("--format", default="txt", choices=["txt", "md"],
                        help="upload documents as text (title first line) or Markdown "
                             "(title as heading)")
    parser.add_argument("--doc-agg", default="max", choices=["max", "sum"],
                        help="rank documents by their best chunk or their best two summed")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args()

    os.environ["TRELLIS_DATA_DIR"] = tempfile.mkdtemp(prefix="trellis-bench-")
    os.environ.setdefault("TRELLIS_GUARDS_ENABLED", "false")
    from core.config import Settings, enforce_offline
    from core.rag.embeddings import load_embedder
    from core.services import Services

    enforce_offline()
    svc = Services.build(Settings())
    retriever = svc.rag.retriever
    if args.rrf_k is not None:
        retriever.rrf_k = args.rrf_k
    if args.weights:
        w = [float(x) for x in args.weights.split(",")]
        retriever.weights = (w[0], w[1])
    if args.fusion:
        retriever.fusion = args.fusion
    if args.feedback:
        chunks, weight = args.feedback.split(",")
        retriever.feedback_chunks, retriever.feedback_weight = int(chunks), float(weight)
    print(f"Trellis retrieval: fusion {retriever.fusion}, RRF k={retriever.rrf_k}, weights "
          f"vector={retriever.weights[0]} bm25={retriever.weights[1]}, score weights "
          f"{retriever.score_weights}, BM25 k1={retriever.k1} b={retriever.b}, feedback "
          f"from the top {retriever.feedback_chunks} fused chunks, weight "
          f"{retriever.feedback_weight}")
    ok = True
    if not args.skip_samples:
        ok &= run_samples(svc.rag, args.chunking)

    sets = find_sets(args.sets, args.only) if args.sets and args.sets.is_dir() else []
    if not sets:
        where = args.sets or "nowhere ($TRELLIS_BENCH_SETS is not set)"
        print(f"\nNo public retrieval sets found at {where}: skipping that part. "
              "See docs/rag.md for where to get them and how to lay them out.")
    model = load_embedder() if sets else None
    results = [run_set(svc, ds, model, args.max_queries, args.chunking, args.format,
                       args.doc_agg) for ds in sets]
    if results:
        print("\n== summary (nDCG@10; gains in points)")
        cols = ["trellis vector", "trellis bm25", "trellis hybrid", "bare vector (docs)",
                "bare BM25 (docs)", "bare BM25 (chunks)"]
        print(f"{'set':10} {'tuned':>5} {'docs':>6} {'qs':>4} {'vector':>7} {'bm25':>7} "
              f"{'hybrid':>7} {'bareVec':>7} {'bareBM':>7} {'bareBMc':>7} "
              f"{'hyb-best':>8} {'bm25-bm':>8}")
        for r in results:
            print(f"{r['set']:10} {'dev' if r['tuned'] else 'no':>5} {r['docs']:6d} "
                  f"{r['queries']:4d} " + " ".join(f"{r[c]:7.3f}" for c in cols)
                  + f" {r['hybrid_gain']:+8.1f} {r['bm25_gain']:+8.1f}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    svc.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
