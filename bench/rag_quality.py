"""Retrieval quality on the labelled sample set: recall@k and MRR per mode.

    PYTHONPATH=. python bench/rag_quality.py [--chunking recursive|markdown|both]
        [--k 5] [--rrf-k 60] [--weights 1,1]

Ingests data/samples/ into a throw-away data directory, runs every query of
bench/rag_queries.json in vector, BM25 and hybrid mode, and counts a chunk as
an answer when it comes from the labelled document and contains the labelled
answer text. Hybrid must not be worse than vector.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def evaluate(rag, collection: str, queries: list[dict], k: int, depth: int = 10) -> dict:
    out = {}
    for mode in ("vector", "bm25", "hybrid"):
        hits_at_k, top1, rr = 0, 0, 0.0
        for q in queries:
            hits = rag.search(collection, q["query"], mode=mode, top_k=depth)
            rank = next(
                (
                    i
                    for i, h in enumerate(hits, start=1)
                    if h.document == q["document"] and _norm(q["answer"]) in _norm(h.text)
                ),
                None,
            )
            if rank is not None:
                rr += 1.0 / rank
                hits_at_k += rank <= k
                top1 += rank == 1
        n = len(queries)
        out[mode] = (hits_at_k / n, rr / n, top1 / n)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunking", default="both", choices=["recursive", "markdown", "both"])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--rrf-k", type=int, default=60)
    parser.add_argument("--weights", default="1,1", help="vector,bm25 weights for RRF")
    args = parser.parse_args()

    os.environ["TRELLIS_DATA_DIR"] = tempfile.mkdtemp(prefix="trellis-bench-")
    from core.config import Settings
    from core.services import Services

    svc = Services.build(Settings())
    rag = svc.rag
    rag.retriever.rrf_k = args.rrf_k
    w = [float(x) for x in args.weights.split(",")]
    rag.retriever.weights = (w[0], w[1])
    labelled = json.loads((ROOT / "bench" / "rag_queries.json").read_text())["queries"]
    files = [(p.name, p.read_bytes()) for p in sorted((ROOT / "data" / "samples").iterdir())
             if p.is_file()]
    strategies = ["recursive", "markdown"] if args.chunking == "both" else [args.chunking]
    print(f"{len(labelled)} labelled queries over {len(files)} sample documents; "
          f"RRF k={args.rrf_k}, weights vector={w[0]} bm25={w[1]}")
    ok = True
    for strategy in strategies:
        name = f"bench-{strategy}"
        rag.create_collection(name, chunking=strategy)
        results = rag.ingest(name, files)
        failed = [r for r in results if r.status != "ready"]
        if failed:
            print("ingest failed:", [r.message for r in failed])
            return 1
        chunks = sum(r.chunks for r in results)
        scores = evaluate(rag, name, labelled, args.k)
        print(f"\nchunking={strategy} ({chunks} chunks)")
        print(f"{'mode':8} {'recall@' + str(args.k):>9} {'MRR@10':>7} {'recall@1':>9}")
        for mode, (recall, mrr, at1) in scores.items():
            print(f"{mode:8} {recall:9.3f} {mrr:7.3f} {at1:9.3f}")
        hv, vv = scores["hybrid"], scores["vector"]
        better = hv[0] >= vv[0] and hv[1] >= vv[1] - 1e-9
        ok &= better
        print(f"hybrid vs vector: recall {hv[0] - vv[0]:+.3f}, MRR {hv[1] - vv[1]:+.3f} -> "
              f"{'not worse' if better else 'WORSE'}")
    svc.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
