"""Query latency per retrieval mode at 5,000 and 100,000 chunks, against bare Chroma + encode.

    PYTHONPATH=. python bench/rag_latency.py [--sizes 5000,100000] [--queries 200] [--top-k 5]

The collection holds the real sample corpus, ingested through core, plus
filler chunks up to each size. To save an hour of embedding, filler chunks
get random unit vectors and texts of 60 words drawn from the sample corpus's
own words (so BM25 has realistic postings); they are written straight to
Chroma under registered filler documents. The query path is entirely real.
Per query, interleaved (rotating order), in one process:

- core: `RagService.search(mode=...)` for vector, bm25 and hybrid:
  registry lookup, query encoding, Chroma query and/or BM25, fusion, hits
  (hybrid with its feedback step: one read of 5 stored vectors and a second
  Chroma query); and `hybrid0`, hybrid with feedback turned off;
- bare: `SentenceTransformer.encode` of the query + `collection.query` at the
  same top-k.

The BM25 index is built on the first query after the collection changes; that
build is timed on its own and left out of the percentiles. Prints p50/p95 of
each mode and of bare, and the ratios. Target for vector: core <= 1.2x bare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = ("vector", "bm25", "hybrid")
#: Hybrid without its pseudo-relevance feedback step, timed alongside (what feedback costs).
PATHS = (*MODES, "hybrid0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    os.environ["TRELLIS_DATA_DIR"] = tempfile.mkdtemp(prefix="trellis-bench-")
    os.environ.setdefault("TRELLIS_GUARDS_ENABLED", "false")
    from core.config import Settings, enforce_offline
    from core.rag.embeddings import load_embedder
    from core.rag.models import READY, RagDocument
    from core.services import Services

    enforce_offline()
    svc = Services.build(Settings())
    rag = svc.rag
    model = load_embedder()
    coll = rag.create_collection("latency")
    samples = [p for p in sorted((ROOT / "data" / "samples").iterdir()) if p.is_file()]
    real = sum(r.chunks for r in rag.ingest("latency", [(p.name, p.read_bytes())
                                                          for p in samples]))
    words = re.findall(r"[A-Za-z]+", " ".join(c.text for c in rag.store.get("latency")))
    rng = np.random.default_rng(7)
    queries = [q["query"] for q in
               json.loads((ROOT / "bench" / "rag_queries.json").read_text())["queries"]]
    bare_coll = rag.store.client.get_collection("latency", embedding_function=None)

    def core_query(q: str, mode: str) -> list:
        if mode != "hybrid0":
            return rag.search("latency", q, mode=mode, top_k=args.top_k)
        kept, rag.retriever.feedback_chunks = rag.retriever.feedback_chunks, 0
        try:
            return rag.search("latency", q, mode="hybrid", top_k=args.top_k)
        finally:
            rag.retriever.feedback_chunks = kept

    def bare_query(q: str) -> dict:
        v = model.encode([q], normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)
        return bare_coll.query(query_embeddings=v, n_results=args.top_k,
                               include=["documents", "metadatas", "distances"])

    written = real
    for size in sizes:
        filler = max(size - written, 0)
        row = rag.registry.add_document(RagDocument(
            collection_id=coll.id, file_name=f"filler-{size}.txt", content_hash=f"{size:064d}",
            status=READY, chunk_count=filler))
        t0 = time.perf_counter()
        for start in range(0, filler, 5000):
            n = min(5000, filler - start)
            vecs = rng.standard_normal((n, 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            picks = rng.integers(0, len(words), size=(n, 60))
            rag.store.add(
                "latency", [f"f{size}-{start + i}" for i in range(n)], vecs,
                [" ".join(words[j] for j in p) for p in picks],
                [{"document_id": row.id, "document": row.file_name, "chunk": start + i}
                 for i in range(n)],
            )
        written += filler
        total = rag.store.count("latency")
        t1 = time.perf_counter()
        core_query(queries[0], "bm25")  # builds the BM25 index for this collection state
        build_ms = (time.perf_counter() - t1) * 1000
        print(f"\n== {total:,} chunks ({real} real; filler written in "
              f"{t1 - t0:.0f} s); BM25 index built in {build_ms:.0f} ms")
        for q in queries[:5]:  # warm every path (HNSW index load, tokenizer)
            for mode in PATHS:
                core_query(q, mode)
            bare_query(q)
        times: dict[str, list[float]] = {m: [] for m in (*PATHS, "bare")}
        for i in range(args.queries):
            q = queries[i % len(queries)]
            order = [*PATHS, "bare"]
            shift = i % len(order)
            for which in order[shift:] + order[:shift]:
                t = time.perf_counter()
                if which == "bare":
                    res = bare_query(q)
                else:
                    hits = core_query(q, which)
                    if which == "vector" and i == 0:
                        vector_ids = [h.chunk_id for h in hits]
                times[which].append((time.perf_counter() - t) * 1000)
            if i == 0:
                assert vector_ids == res["ids"][0], "core and bare vector search disagree"
        # The feedback step alone (what hybrid adds to hybrid0, without the query's
        # encoding, which dominates and varies with the machine's load): reading five
        # stored vectors and a second Chroma query at hybrid's depth.
        step: list[float] = []
        qv = model.encode([queries[0]], normalize_embeddings=True, convert_to_numpy=True,
                          show_progress_bar=False)[0]
        ids = [h.chunk_id for h in core_query(queries[0], "hybrid")][:5]
        depth = max(args.top_k * 4, 20)
        for _ in range(args.queries):
            t = time.perf_counter()
            fb = rag.store.vectors("latency", ids)
            moved = qv + 0.5 * fb.mean(axis=0)
            rag.store.query("latency", moved / np.linalg.norm(moved), depth)
            step.append((time.perf_counter() - t) * 1000)
        s50, s95 = np.percentile(step, [50, 95])
        print(f"feedback step alone (read 5 vectors + a second query of {depth}): "
              f"p50 {s50:.2f} ms, p95 {s95:.2f} ms")
        b50, b95 = np.percentile(times["bare"], [50, 95])
        print(f"{args.queries} queries, top {args.top_k}, interleaved")
        print(f"{'path':8} {'p50 ms':>8} {'p95 ms':>8} {'p50/bare':>9} {'p95/bare':>9}")
        for name in (*PATHS, "bare"):
            p50, p95 = np.percentile(times[name], [50, 95])
            print(f"{name:8} {p50:8.2f} {p95:8.2f} {p50 / b50:9.2f} {p95 / b95:9.2f}")
        v50 = np.percentile(times["vector"], 50)
        print(f"vector p50 ratio {v50 / b50:.3f} (target <= 1.2: "
              f"{'met' if v50 / b50 <= 1.2 else 'NOT met'})")
    svc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
