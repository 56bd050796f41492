"""Retrieval latency at 100,000 chunks: query through core vs bare Chroma + encode.

    PYTHONPATH=. python bench/rag_latency.py [--chunks 100000] [--queries 200]

The collection holds the real sample corpus, ingested through core, plus
filler chunks up to --chunks. To save an hour of embedding, filler chunks get
random unit vectors (written straight to Chroma under one registered filler
document); the query path is entirely real. Interleaved per query, in one
process:

- core: `RagService.search(mode="vector")`: registry lookup, query encoding,
  Chroma query, hits built;
- bare: `SentenceTransformer.encode` of the query + `collection.query`.

Prints p50/p95 of each and the ratio. Target: core <= 1.2x bare.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()

    os.environ["TRELLIS_DATA_DIR"] = tempfile.mkdtemp(prefix="trellis-bench-")
    from core.config import Settings
    from core.rag.embeddings import load_embedder
    from core.rag.models import READY, RagDocument
    from core.services import Services

    svc = Services.build(Settings())
    rag = svc.rag
    model = load_embedder()
    coll = rag.create_collection("latency")
    files = [(p.name, p.read_bytes()) for p in sorted((ROOT / "data" / "samples").iterdir())
             if p.is_file()]
    real = sum(r.chunks for r in rag.ingest("latency", files))

    filler = max(args.chunks - real, 0)
    row = rag.registry.add_document(RagDocument(
        collection_id=coll.id, file_name="filler.txt", content_hash="0" * 64, status=READY,
        chunk_count=filler))
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    batch = 5000
    for start in range(0, filler, batch):
        n = min(batch, filler - start)
        vecs = rng.standard_normal((n, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        rag.store.add(
            "latency", [f"f-{start + i}" for i in range(n)], vecs,
            [f"filler chunk {start + i}" for i in range(n)],
            [{"document_id": row.id, "document": "filler.txt", "chunk": start + i}
             for i in range(n)],
        )
    total = rag.store.count("latency")
    print(f"collection: {total} chunks ({real} real, {filler} filler written in "
          f"{time.perf_counter() - t0:.0f} s)")

    queries = [q["query"] for q in
               json.loads((ROOT / "bench" / "rag_queries.json").read_text())["queries"]]
    bare_coll = rag.store.client.get_collection("latency", embedding_function=None)

    def core_query(q: str) -> list:
        return rag.search("latency", q, mode="vector", top_k=args.top_k)

    def bare_query(q: str) -> dict:
        v = model.encode([q], normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)
        return bare_coll.query(query_embeddings=v, n_results=args.top_k,
                               include=["documents", "metadatas", "distances"])

    for q in queries[:5]:  # warm both paths (HNSW index load, tokenizer)
        core_query(q)
        bare_query(q)
    core_ms, bare_ms = [], []
    for i in range(args.queries):
        q = queries[i % len(queries)]
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            t0 = time.perf_counter()
            if which == 0:
                hits = core_query(q)
            else:
                res = bare_query(q)
            (core_ms if which == 0 else bare_ms).append((time.perf_counter() - t0) * 1000)
        if i == 0:
            assert [h.chunk_id for h in hits] == res["ids"][0], "core and bare disagree"
    c50, c95 = np.percentile(core_ms, [50, 95])
    b50, b95 = np.percentile(bare_ms, [50, 95])
    print(f"{args.queries} queries, top {args.top_k}, vector mode")
    print(f"core: p50 {c50:.2f} ms, p95 {c95:.2f} ms")
    print(f"bare: p50 {b50:.2f} ms, p95 {b95:.2f} ms")
    print(f"ratio p50 {c50 / b50:.3f}, p95 {c95 / b95:.3f} "
          f"(target <= 1.2: {'met' if c50 / b50 <= 1.2 else 'NOT met'})")
    svc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
