"""Render stage cost: a call naming a registry prompt by label (served from the
label cache) against a call that passes the same messages directly.

    python bench/prompt_render.py [--calls 3000] [--engine-calls 300]

Two measurements, each interleaved with its own baseline in the same run:

1. The render stage alone, on a prepared call context: label lookup (cached),
   template fill, settings applied — against the same stage on a request
   that carries its messages (the stage returns at once).
2. Whole calls through the engine to the loopback wire server (logging to
   SQLite on, guards off): by prompt label against the same messages passed
   directly.

Target: the stage's added p50 <= 0.2 ms.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import pct, summary

from core.config import Settings
from core.engine import CompletionRequest
from core.services import Services
from tests.servers.wire import WireServer

VARIABLES = {"company": "ACME", "customer": "Ada", "question": "Where is my parcel?",
             "items": ["tea", "cake", "scones"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--engine-calls", type=int, default=300)
    args = parser.parse_args()

    with WireServer(reply="It is on its way.") as srv, tempfile.TemporaryDirectory() as tmp:
        os.environ["OPENAI_API_KEY"] = "bench-key"
        settings = Settings(data_dir=tmp, openai_base_url=srv.base_url + "/v1",
                            guards_enabled=False)
        svc = Services.build(settings)
        svc.prompts.create("support", by="bench")
        svc.prompts.save_version(
            "support", by="bench",
            system="You answer for {{ company }}. Be brief and kind.",
            user="Customer {{ customer }} asks: {{ question }}\n"
                 "{% for i in items %}- {{ i }}\n{% endfor %}",
            config={"model": "openai/gpt-4o-mini", "temperature": 0.2, "max_tokens": 64},
        )
        messages = svc.prompts.get("support").render(VARIABLES)
        by_label = CompletionRequest(messages=[], prompt_name="support", variables=VARIABLES,
                                     source="api")
        direct = CompletionRequest(messages=list(messages), model="openai/gpt-4o-mini",
                                   temperature=0.2, max_tokens=64, source="api")
        engine = svc.engine
        stage = svc.render

        def stage_ms(req: CompletionRequest) -> float:
            ctx = engine._new_context(req, stream=False)  # noqa: SLF001 - bench only
            t = time.perf_counter()
            stage(ctx)
            return (time.perf_counter() - t) * 1000.0

        for _ in range(200):
            stage_ms(by_label), stage_ms(direct)
        s_label, s_direct = [], []
        for _ in range(args.calls):
            s_label.append(stage_ms(by_label))
            s_direct.append(stage_ms(direct))

        def call_ms(req: CompletionRequest) -> float:
            t = time.perf_counter()
            engine.chat(req)
            return (time.perf_counter() - t) * 1000.0

        for _ in range(20):
            call_ms(by_label), call_ms(direct)
        c_label, c_direct = [], []
        for _ in range(args.engine_calls):
            c_label.append(call_ms(by_label))
            c_direct.append(call_ms(direct))
        rows = svc.telemetry.recent_calls(1)
        assert rows[0].prompt_version is None or rows[0].prompt_version == 1
        svc.close()

    print("render stage alone (ms)")
    print(f"  prompt by label (cached) {summary(s_label)}")
    print(f"  messages passed directly {summary(s_direct)}")
    added = pct(s_label, 50) - pct(s_direct, 50)
    print(f"  added p50 {added:.4f} ms (target <= 0.2 ms); "
          f"ratio {pct(s_label, 50) / max(pct(s_direct, 50), 1e-9):.1f}x")
    print("whole call through the engine to the wire server (ms)")
    print(f"  prompt by label (cached) {summary(c_label)}")
    print(f"  messages passed directly {summary(c_direct)}")
    print(f"  p50 difference {pct(c_label, 50) - pct(c_direct, 50):+.3f} ms; "
          f"ratio {pct(c_label, 50) / pct(c_direct, 50):.3f}")


if __name__ == "__main__":
    main()
