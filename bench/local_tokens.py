"""Local-model throughput: tokens/s through the engine vs bare llama-cpp-python,
for each bundled model (SmolLM2-135M-Instruct with its chat template, Gemma 3
270M completion-style), same GGUF file, same prompt, same settings, interleaved.

    python bench/local_tokens.py [--runs 5] [--max-tokens 128]

Target: engine/bare >= 0.9 for each model.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _common import ROOT, pct

from core.config import Settings
from core.engine import CompletionRequest
from core.providers import Message
from core.providers.local import (
    COMPLETION_STOPS,
    GEMMA_ID,
    SMOLLM2_ID,
    bundled_model_path,
    completion_prompt,
    smollm2_model_path,
)
from core.services import Services

QUESTION = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def _bare_chunks(llm, template: bool, max_tokens: int) -> Iterator[str]:
    """The same call the local provider makes, straight on llama-cpp-python."""
    if template:
        for chunk in llm.create_chat_completion(
            messages=[{"role": "user", "content": QUESTION}],
            max_tokens=max_tokens, temperature=0, stream=True,
        ):
            yield chunk["choices"][0].get("delta", {}).get("content") or ""
    else:
        for chunk in llm.create_completion(
            prompt=completion_prompt([Message("user", QUESTION)]),
            max_tokens=max_tokens, temperature=0, stop=COMPLETION_STOPS, stream=True,
        ):
            yield chunk["choices"][0]["text"]


def bench_model(svc: Services, model_id: str, path: Path, template: bool,
                runs: int, max_tokens: int) -> float:
    from llama_cpp import Llama

    threads = max(1, os.cpu_count() or 2)
    bare = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, verbose=False)
    request = CompletionRequest(
        messages=[Message("user", QUESTION)], model=f"local/{model_id}",
        max_tokens=max_tokens, temperature=0, source="api",
    )

    def run_bare() -> float:
        first = None
        n = 0
        for piece in _bare_chunks(bare, template, max_tokens):
            if piece:
                n += 1
                first = first or time.perf_counter()
        end = time.perf_counter()
        # Same definition as the engine's: output tokens over the time after the first.
        return n / (end - first) if first else 0.0

    def run_engine() -> float:
        stream = svc.engine.stream(request)
        "".join(stream)
        return stream.response.tokens_per_s or 0.0

    run_bare()
    run_engine()
    bare_tps: list[float] = []
    engine_tps: list[float] = []
    for i in range(runs):
        pair: tuple[Callable[[], float], ...] = (
            (run_bare, run_engine) if i % 2 else (run_engine, run_bare)
        )
        for fn in pair:
            (bare_tps if fn is run_bare else engine_tps).append(fn())
    b, e = pct(bare_tps, 50), pct(engine_tps, 50)
    style = "chat template" if template else "completion"
    print(f"local/{model_id} ({path.name}, {style}), max_tokens={max_tokens}, {runs} runs each")
    print(f"  bare llama-cpp-python  p50 {b:7.1f} tok/s  runs {[round(x) for x in bare_tps]}")
    print(f"  through engine         p50 {e:7.1f} tok/s  runs {[round(x) for x in engine_tps]}")
    print(f"  ratio engine/bare {e / b:.3f}x  (target >= 0.9)")
    return e / b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    models_dir = ROOT / "data" / "models"
    models = [
        (SMOLLM2_ID, smollm2_model_path(models_dir), True),
        (GEMMA_ID, bundled_model_path(models_dir), False),
    ]
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        svc = Services.build(Settings(data_dir=tmp, models_dir=models_dir, guards_enabled=False))
        try:
            for model_id, path, template in models:
                ratios[model_id] = bench_model(
                    svc, model_id, path, template, args.runs, args.max_tokens
                )
        finally:
            svc.close()
    print("ratios engine/bare: " + ", ".join(f"{m} {r:.3f}x" for m, r in ratios.items()))


if __name__ == "__main__":
    main()
