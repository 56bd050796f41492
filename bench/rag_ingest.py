"""Ingestion throughput: files -> chunks -> embeddings -> Chroma, against bare encode.

    PYTHONPATH=. python bench/rag_ingest.py [--chunks 2000] [--segments 4]
    PYTHONPATH=. python bench/rag_ingest.py --large [--text-mb 20] [--csv-rows 200000]

`--large` instead times one 20 MB text file and one 200,000-row CSV
(`--only text|csv` for one of them), each side in a fresh subprocess (so
peak memory is that file's alone): ingestion through core as the page runs
it (a background job: staged upload, worker, progress and heartbeat writes,
Chroma, registry), and bare `encode` (batch 64) of exactly the chunk texts
core produced (chunked untimed beforehand, as a caller of the bare model
would have them). The two sides run at the same time by default, so load
from other processes on a shared machine falls on both alike
(`--sequential` runs core, then bare). It prints seconds, chunks/s and peak
memory (VmHWM) for both and their ratios, and how much of core's time was
spent inside the embedding model (the rest is the pipeline's own work:
parsing, chunking, Chroma and registry writes), a split measured in one
process and so unaffected by the load on the machine. `--pipeline-only`
runs the core side alone with the model's work replaced by random vectors
of the right shape, except the first 64 chunks of every 25th batch, which
the model embeds so that its activations count in the peak: the pipeline's
own time and the peak memory at full size in minutes, where the model makes
a full-size run take hours on a small shared machine.

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


def large_text(total: int) -> bytes:
    """English-like paragraphs (varied sentences, so chunking and embedding are realistic)."""
    import random

    rnd = random.Random(11)
    words = ["staff", "claim", "expense", "within", "days", "approval", "manager", "travel",
             "hotel", "policy", "budget", "report", "office", "team", "finance", "receipt",
             "contract", "notice", "leave", "annual", "weeks", "parental", "refund", "invoice"]
    out, size = [], 0
    while size < total:
        para = " ".join(
            " ".join(rnd.choice(words) for _ in range(rnd.randint(8, 20))).capitalize() + "."
            for _ in range(rnd.randint(2, 6))
        ) + "\n\n"
        out.append(para)
        size += len(para)
    return "".join(out).encode()[:total]


def large_csv(rows: int) -> bytes:
    lines = ["order_id,customer,city,amount,status,note"]
    cities = ["Berlin", "Lisbon", "Madrid", "Paris", "Rome", "Vienna", "Oslo", "Dublin"]
    for i in range(rows):
        amount = f"{(i * 37) % 5000}.{i % 100:02d}"
        lines.append(f"{100000 + i},customer {i % 9973},{cities[i % 8]},{amount},"
                     f"{'paid' if i % 3 else 'open'},delivered in {i % 14 + 1} days")
    return "\n".join(lines).encode()


def _peak_mb() -> float:
    """Peak resident memory of this child alone: /proc's VmHWM, since getrusage's
    ru_maxrss carries the parent's peak across fork and exec on Linux."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _child(role: str, path: str) -> int:
    """One side of the large-file comparison, in its own process; prints one JSON line."""
    import json

    os.environ["TRELLIS_DATA_DIR"] = tempfile.mkdtemp(prefix="trellis-bench-")
    from core.config import Settings
    from core.rag.embeddings import load_embedder

    data = Path(path).read_bytes()
    name = Path(path).name
    model = load_embedder()
    model.encode(["warm up"], normalize_embeddings=True)
    encode_s = 0.0
    if role in ("core", "pipeline"):
        import core.rag.embeddings as embeddings
        from core.services import Services

        bare_embed = embeddings.embed
        if role == "pipeline":
            # The model's work left out (vectors of the right shape), except the first
            # 64 chunks of every 25th batch: its activations still count in the peak,
            # also late in the file when Chroma's index is largest.
            import numpy as np

            model_embed, calls = embeddings.embed, [0]

            def bare_embed(texts, *args, **kwargs):
                rows = np.random.default_rng(len(texts)).standard_normal((len(texts), 384))
                rows /= np.linalg.norm(rows, axis=1, keepdims=True)
                if calls[0] % 25 == 0:
                    rows[:64] = model_embed(texts[:64], *args, **kwargs)
                calls[0] += 1
                return rows.astype(np.float32)

        def timed_embed(*args, **kwargs):  # how much of core's time the model takes
            nonlocal encode_s
            t = time.perf_counter()
            try:
                return bare_embed(*args, **kwargs)
            finally:
                encode_s += time.perf_counter() - t

        embeddings.embed = timed_embed
        svc = Services.build(Settings())
        svc.rag.create_collection("large")
        base = _peak_mb()
        t0 = time.perf_counter()
        (job,) = svc.jobs.submit("large", [(name, data)])
        del data
        (job,) = svc.jobs.wait([int(job.id)], timeout=24 * 3600)
        seconds = time.perf_counter() - t0
        if job.status != "ready":
            raise SystemExit(f"ingestion failed: {job.status}: {job.message}")
        chunks = svc.rag.registry.document(job.document_id).chunk_count
        svc.jobs.stop()
        svc.close()
    else:
        from core.rag.chunking import iter_chunks
        from core.rag.embeddings import LocalEmbedder
        from core.rag.loaders import Limits, iter_document

        s = Settings()
        emb = LocalEmbedder()
        texts = [c.text for c in iter_chunks(
            iter_document(name, data, Limits.from_settings(s)), model.tokenizer,
            strategy=s.rag_chunking, size=min(s.rag_chunk_tokens, emb.max_tokens),
            overlap=s.rag_chunk_overlap, min_tokens=s.rag_min_chunk_tokens,
            max_chars=s.rag_max_chunk_chars)]
        del data
        base = _peak_mb()
        t0 = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)
        seconds = encode_s = time.perf_counter() - t0
        chunks = len(texts)
    print(json.dumps({"seconds": seconds, "chunks": chunks, "peak_mb": _peak_mb(),
                      "base_mb": base, "encode_s": encode_s}))
    return 0


def large(text_mb: float, csv_rows: int, only: str | None = None,
          sequential: bool = False, pipeline_only: bool = False) -> int:
    import json
    import subprocess

    work = Path(tempfile.mkdtemp(prefix="trellis-bench-large-"))
    files = [(work / "large.txt", lambda: large_text(int(text_mb * 1024 * 1024))),
             (work / "orders.csv", lambda: large_csv(csv_rows))]
    if only:
        files = [f for f in files if f[0].suffix == {"text": ".txt", "csv": ".csv"}[only]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; sides "
          f"run {'one after the other' if sequential else 'at the same time'}", flush=True)
    for path, make in files:
        path.write_bytes(make())
        print(f"\n{path.name}: {path.stat().st_size / 1024 / 1024:.1f} MB", flush=True)
        out = {}
        procs = {}
        for role in ("pipeline",) if pipeline_only else ("core", "bare"):
            procs[role] = subprocess.Popen(
                [sys.executable, __file__, "--_child", role, str(path)], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if sequential:
                procs[role].wait()
        for role, proc in procs.items():
            stdout, stderr = proc.communicate()
            if proc.returncode != 0:
                print(stderr[-3000:])
                return 1
            out[role] = json.loads(stdout.strip().splitlines()[-1])
            r = out[role]
            print(f"  {role:4}: {r['chunks']:,} chunks in {r['seconds']:.1f} s "
                  f"({r['chunks'] / r['seconds']:.1f} chunks/s), peak {r['peak_mb']:.0f} MB "
                  f"(model loaded: {r['base_mb']:.0f} MB)", flush=True)
        if pipeline_only:
            r = out["pipeline"]
            print(f"  pipeline alone: {r['seconds'] - r['encode_s']:.1f} s of its own "
                  f"work for {r['chunks']:,} chunks "
                  f"({(r['seconds'] - r['encode_s']) / r['chunks'] * 1000:.1f} ms per chunk)")
            continue
        c, b = out["core"], out["bare"]
        ratio = (c["chunks"] / c["seconds"]) / (b["chunks"] / b["seconds"])
        own = c["seconds"] - c["encode_s"]
        print(f"  core: {c['encode_s']:.1f} s inside the embedding model, {own:.1f} s its own "
              f"work ({own / c['seconds']:.1%} of core's time; model share "
              f"{c['encode_s'] / c['seconds']:.3f})")
        print(f"  throughput ratio core/bare {ratio:.3f} (target >= 0.8: "
              f"{'met' if ratio >= 0.8 else 'NOT met'}); peak memory core {c['peak_mb']:.0f} MB "
              f"vs bare {b['peak_mb']:.0f} MB (ratio {c['peak_mb'] / b['peak_mb']:.2f}; "
              f"target: core under 1,536 MB: {'met' if c['peak_mb'] < 1536 else 'NOT met'})")
        print(f"  load average at end: {os.getloadavg()[0]:.1f}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--large", action="store_true",
                        help="time a large text file and a large CSV instead")
    parser.add_argument("--text-mb", type=float, default=20.0)
    parser.add_argument("--csv-rows", type=int, default=200_000)
    parser.add_argument("--only", choices=("text", "csv"), help="with --large: one file only")
    parser.add_argument("--sequential", action="store_true",
                        help="with --large: run core, then bare (default: both at once)")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="with --large: core only, most of the model's work replaced "
                             "by random vectors (the pipeline's own time, the peak memory)")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        return _child(*args._child)
    if args.large:
        return large(args.text_mb, args.csv_rows, args.only, args.sequential,
                     args.pipeline_only)

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
