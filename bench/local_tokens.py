"""Local-model throughput: tokens/s through the engine vs bare llama-cpp-python,
same GGUF file, same prompt, same settings, interleaved.

    python bench/local_tokens.py [--runs 5] [--max-tokens 128]

Target: engine/bare >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import ROOT, pct

from core.config import Settings
from core.engine import CompletionRequest
from core.providers import Message
from core.providers.local import COMPLETION_STOPS, bundled_model_path, completion_prompt
from core.services import Services

QUESTION = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    from llama_cpp import Llama

    models_dir = ROOT / "data" / "models"
    path = bundled_model_path(models_dir)
    threads = max(1, os.cpu_count() or 2)
    bare = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, verbose=False)
    prompt = completion_prompt([Message("user", QUESTION)])

    with tempfile.TemporaryDirectory() as tmp:
        svc = Services.build(Settings(data_dir=tmp, models_dir=models_dir, guards_enabled=False))
        request = CompletionRequest(
            messages=[Message("user", QUESTION)],
            model="local/gemma-3-270m",
            max_tokens=args.max_tokens,
            temperature=0,
            source="api",
        )

        def run_bare() -> float:
            t = time.perf_counter()
            first = None
            n = 0
            for chunk in bare.create_completion(
                prompt=prompt,
                max_tokens=args.max_tokens,
                temperature=0,
                stop=COMPLETION_STOPS,
                stream=True,
            ):
                if chunk["choices"][0]["text"]:
                    n += 1
                    first = first or time.perf_counter()
            end = time.perf_counter()
            # Same definition as the engine's: output tokens over the time after the first.
            return n / (end - first) if first else 0.0, n, end - t

        def run_engine() -> float:
            stream = svc.engine.stream(request)
            "".join(stream)
            resp = stream.response
            return resp.tokens_per_s or 0.0, resp.usage.output_tokens, resp.latency_ms / 1000

        run_bare()
        run_engine()
        bare_tps: list[float] = []
        engine_tps: list[float] = []
        for i in range(args.runs):
            pair = (run_bare, run_engine) if i % 2 else (run_engine, run_bare)
            for fn in pair:
                tps, n, _ = fn()
                (bare_tps if fn is run_bare else engine_tps).append(tps)
        svc.close()

    b, e = pct(bare_tps, 50), pct(engine_tps, 50)
    print(f"local model tokens/s, {path.name}, max_tokens={args.max_tokens}, {args.runs} runs each")
    print(f"  bare llama-cpp-python  p50 {b:7.1f} tok/s  runs {[round(x) for x in bare_tps]}")
    print(f"  through engine         p50 {e:7.1f} tok/s  runs {[round(x) for x in engine_tps]}")
    print(f"  ratio engine/bare {e / b:.3f}x  (target >= 0.9)")


if __name__ == "__main__":
    main()
