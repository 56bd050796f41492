"""Ingestion throughput: files -> chunks -> embeddings -> Chroma, against bare encode.

    PYTHONPATH=. python bench/rag_ingest.py [--chunks 2000] [--segments 4]

The sample corpus (data/samples/) is replicated (each copy made unique, so
deduplication does not skip it) until it yields at least --chunks chunks.
The files are split into segments; each segment times, interleaved in one
process: the full ingestion through core (load, chunk, embed, write to
Chroma, registry rows), and bare `SentenceTransformer.encode` of exactly the chunk texts
that ingestion produced. Target: core/bare throughput ratio >= 0.85.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def corpus(copies: int) -> list[tuple[str, bytes]]:
    samples = sorted(p for p in (ROOT / "data" / "samples").iterdir() if p.is_file())
    files = []
    for n in range(copies):
        for p in samples:
            # A marker at the end makes each copy's hash unique without moving chunk borders much.
            mark = f"\n<!-- copy {n} -->\n" if p.suffix == ".html" else f"\n\ncopy {n}\n"
            files.append((f"{p.stem}-{n}{p.suffix}", p.read_bytes() + mark.encode()))
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--segments", type=int, default=4)
    args = parser.parse_args()

    os.environ["TRELLIS_DATA_DIR"] = tempfile.mkdtemp(prefix="trellis-bench-")
    from core.config import Settings
    from core.rag.chunking import chunk_sections
    from core.rag.embeddings import load_embedder
    from core.rag.loaders import load_document
    from core.services import Services

    svc = Services.build(Settings())
    rag = svc.rag
    model = load_embedder()
    model.encode(["warm up"], normalize_embeddings=True)

    # How many chunks one copy of the corpus makes, to size the run.
    rag.create_collection("probe")
    per_copy = sum(r.chunks for r in rag.ingest("probe", corpus(1)))
    copies = -(-args.chunks // per_copy)
    files = corpus(copies)
    print(f"{len(files)} files ({copies} copies of {len(files) // copies} samples), "
          f"~{per_copy * copies} chunks, {args.segments} interleaved segments")

    # Interleaved in segments (alternating which goes first) so that load from
    # other processes on a shared machine falls on both sides alike.
    coll = rag.create_collection("bench")
    tok = model.tokenizer
    per_seg = -(-len(files) // args.segments)
    core_s = bare_s = 0.0
    n_chunks = 0
    for seg in range(args.segments):
        part = files[seg * per_seg : (seg + 1) * per_seg]
        if not part:
            break

        def run_core(part=part) -> list[int]:
            results = rag.ingest("bench", part)
            bad = [x.message for x in results if x.status != "ready"]
            if bad:
                raise SystemExit(f"ingestion failed: {bad[:3]}")
            return [int(x.document_id) for x in results if x.document_id]

        def run_bare(texts: list[str]) -> None:
            model.encode(texts, batch_size=64, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)

        if seg % 2 == 0:
            t0 = time.perf_counter()
            ids = run_core()
            c = time.perf_counter() - t0
            texts = [x.text for x in rag.store.get("bench", where={"document_id": {"$in": ids}})]
            t0 = time.perf_counter()
            run_bare(texts)
            b = time.perf_counter() - t0
        else:
            # Bare first needs the texts first: chunk them the way ingestion will.
            texts = [c.text for name, data in part for c in chunk_sections(
                load_document(name, data), tok, strategy=coll.chunking, size=coll.chunk_tokens,
                overlap=coll.chunk_overlap, min_tokens=svc.settings.rag_min_chunk_tokens)]
            t0 = time.perf_counter()
            run_bare(texts)
            b = time.perf_counter() - t0
            t0 = time.perf_counter()
            run_core()
            c = time.perf_counter() - t0
        core_s += c
        bare_s += b
        n_chunks += len(texts)
        print(f"segment {seg}: {len(texts)} chunks; core {c:.1f} s, bare encode {b:.1f} s, "
              f"ratio {b / c:.3f}")
    core, bare = n_chunks / core_s, n_chunks / bare_s
    ratio = core / bare
    print(f"\n{n_chunks} chunks: core {core:.1f} chunks/s ({core_s:.1f} s), bare encode "
          f"{bare:.1f} chunks/s ({bare_s:.1f} s), ratio {ratio:.3f} "
          f"(target >= 0.85: {'met' if ratio >= 0.85 else 'NOT met'})")
    svc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
