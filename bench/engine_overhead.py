"""Engine overhead: the same calls to the same loopback OpenAI-format server,
through the bare `openai` SDK and through the engine (logging to SQLite on,
guards off), interleaved in one process.

    python bench/engine_overhead.py [--calls 500] [--stream]

Prints p50/p95 latency of each path, the overhead in ms and the ratio.
Target: p50 overhead <= 1 ms.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import pct, summary

from core.config import Settings
from core.engine import CompletionRequest
from core.providers import Message
from core.services import Services
from tests.servers.wire import WireServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--stream", action="store_true", help="measure streaming calls")
    args = parser.parse_args()

    import openai

    with (
        WireServer(reply="Paris is the capital of France.") as srv,
        tempfile.TemporaryDirectory() as tmp,
    ):
        os.environ["OPENAI_API_KEY"] = "bench-key"
        # Guards off: this measures the pipeline itself (bench/guard_cost.py measures guards).
        settings = Settings(
            data_dir=tmp, openai_base_url=srv.base_url + "/v1", guards_enabled=False
        )
        svc = Services.build(settings)
        bare = openai.OpenAI(api_key="bench-key", base_url=srv.base_url + "/v1", max_retries=0)
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        request = CompletionRequest(
            messages=[Message("user", "What is the capital of France?")],
            model="openai/gpt-4o-mini",
            source="api",
        )

        def run_bare() -> float:
            t = time.perf_counter()
            if args.stream:
                chunks = bare.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            else:
                bare.chat.completions.create(model="gpt-4o-mini", messages=messages)
            return (time.perf_counter() - t) * 1000.0

        def run_engine() -> float:
            t = time.perf_counter()
            if args.stream:
                "".join(svc.engine.stream(request))
            else:
                svc.engine.chat(request)
            return (time.perf_counter() - t) * 1000.0

        for _ in range(args.warmup):
            run_bare()
            run_engine()
        bare_ms: list[float] = []
        engine_ms: list[float] = []
        for i in range(args.calls):
            # Alternate who goes first so neither path always gets the warmer cache.
            if i % 2:
                bare_ms.append(run_bare())
                engine_ms.append(run_engine())
            else:
                engine_ms.append(run_engine())
                bare_ms.append(run_bare())
        rows = svc.telemetry.count_calls()
        svc.close()

    mode = "streaming" if args.stream else "non-streaming"
    print(f"engine overhead, {mode}, {args.calls} calls each, loopback OpenAI-format server")
    print(f"  bare openai SDK  (ms): {summary(bare_ms)}")
    print(f"  through engine   (ms): {summary(engine_ms)}")
    p50 = pct(engine_ms, 50) - pct(bare_ms, 50)
    p95 = pct(engine_ms, 95) - pct(bare_ms, 95)
    print(f"  overhead p50 {p50:.3f} ms   p95 {p95:.3f} ms   (target p50 <= 1 ms)")
    print(f"  ratio engine/bare p50 {pct(engine_ms, 50) / pct(bare_ms, 50):.3f}x")
    print(f"  log rows written {rows} for {args.calls + args.warmup} engine calls")


if __name__ == "__main__":
    main()
