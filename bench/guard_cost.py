"""Added latency of the input guard stage, against a bare Presidio analyze.

    PYTHONPATH=. python bench/guard_cost.py [--n 200]

For each of N distinct texts (sentences from generated_small.json and the
held-out injection prompts, cycled with a counter so no scan cache hits),
interleaved in one process: (a) bare `AnalyzerEngine.analyze` of the text,
(b) Trellis's input stage on a one-message call (token estimate, PII scan
and placeholder redaction, injection heuristics and classifier). Prints p50
and p95 of each and the ratio. Models are loaded and warmed before timing.

The target for issue 16 (new recognizers, a larger injection feature set) is
that the input stage costs at most 1.3x what it cost before; the ratio
stage/bare measured at commit 645a278 with --torch-threads 1 (p50 2.56x,
p95 2.16x on the shared 2-core machine) is the recorded baseline, and the
run prints its own ratio against it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TRELLIS_SHARED_DIR", ROOT.parent / "shared"))
#: stage/bare p50 and p95 before issue 16 (commit 645a278, --torch-threads 1).
BASELINE_RATIO = (2.56, 2.16)
PII_DATA = SHARED / "data" / "pii" / "generated_small.json"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--torch-threads", type=int, default=0, help="0 keeps torch's default")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    if not PII_DATA.exists():
        sys.exit(f"{PII_DATA} is missing: benchmarks read ../shared/data next to the repository.")
    from core.config import Settings, enforce_offline

    enforce_offline()
    from core.db import make_engine, migrate
    from core.engine.types import CallContext, CompletionRequest
    from core.guards import Guards, PolicyStore
    from core.guards.pii import load_analyzer
    from core.guards.policy import BUILTIN_ENTITIES
    from core.providers.base import Message
    from core.telemetry.models import utcnow
    from scripts.train_injection import load_split

    texts = [d["full_text"] for d in json.loads(PII_DATA.read_text())]
    texts += [t[:1000] for t in load_split()[2]]
    tmp = tempfile.mkdtemp()
    settings = Settings(data_dir=Path(tmp))
    db = make_engine(settings.resolved_database_url)
    migrate(db)
    guards = Guards(settings, PolicyStore(db))
    # The bare baseline: Presidio's stock recognizers on the same spaCy pipeline
    # (Trellis's own recognizers are part of the stage being measured).
    from presidio_analyzer import AnalyzerEngine

    from core.guards.pii import _make_offline_email_recognizer

    analyzer = AnalyzerEngine(nlp_engine=load_analyzer().nlp_engine, supported_languages=["en"])
    analyzer.registry.remove_recognizer("EmailRecognizer")  # the stock one would go online
    analyzer.registry.add_recognizer(_make_offline_email_recognizer())
    entities = list(BUILTIN_ENTITIES)

    def ctx_for(text: str) -> CallContext:
        req = CompletionRequest(messages=[Message("user", text)], model="openai/x")
        return CallContext(
            req, "t", utcnow(), time.perf_counter(), "openai/x", list(req.messages),
            provider_name="openai",
        )

    for text in texts[:5]:  # warm both paths (model loads, first-call allocations)
        analyzer.analyze(text=text, language="en", entities=entities)
        guards.input_stage(ctx_for(text))

    bare, stage = [], []
    for i in range(args.n):
        # A counter suffix makes each text unique so the scan cache never hits.
        text = f"{texts[i % len(texts)]} ({i})"
        t = time.perf_counter()
        analyzer.analyze(text=text, language="en", entities=entities, score_threshold=0.3)
        bare.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        guards.input_stage(ctx_for(text))
        stage.append((time.perf_counter() - t) * 1000)

    b50, b95, s50, s95 = pct(bare, 0.5), pct(bare, 0.95), pct(stage, 0.5), pct(stage, 0.95)
    mean_chars = statistics.mean(len(t) for t in texts)
    print(f"input guard stage vs bare Presidio analyze: {args.n} texts, {mean_chars:.0f} chars")
    print(f"bare analyze      p50 {b50:7.2f} ms  p95 {b95:7.2f} ms")
    print(f"input stage       p50 {s50:7.2f} ms  p95 {s95:7.2f} ms")
    print(f"added over bare   p50 {s50 - b50:7.2f} ms  p95 {s95 - b95:7.2f} ms")
    print(f"ratio stage/bare  p50 {s50 / b50:5.2f}x     p95 {s95 / b95:5.2f}x")
    r50, r95 = (s50 / b50) / BASELINE_RATIO[0], (s95 / b95) / BASELINE_RATIO[1]
    print(
        f"vs before issue 16 (ratio {BASELINE_RATIO[0]}x / {BASELINE_RATIO[1]}x): "
        f"p50 {r50:.2f}x  p95 {r95:.2f}x  (target <= 1.30)"
    )


if __name__ == "__main__":
    main()
