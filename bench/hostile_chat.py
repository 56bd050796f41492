"""Time to refuse a hostile chat request and write its log row, guards on.

    PYTHONPATH=. python bench/hostile_chat.py [--repeat 20]

Each case goes through `Engine.chat` (refusal plus its one redacted log row)
and is timed against a bare baseline measured in the same run, interleaved:
a refusal of a one-line message for `max_tokens=0` through the same engine
(the cheapest refusal there is, row included). Prints p50/p95 per case, the
ratio to the baseline, and whether the p50 is under the 50 ms target.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import pct  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    os.environ["TRELLIS_DATA_DIR"] = tempfile.mkdtemp(prefix="trellis-bench-")
    os.environ["TRELLIS_GUARDS_ENABLED"] = "true"
    from core.config import Settings, enforce_offline
    from core.engine import CompletionRequest
    from core.providers import Message
    from core.providers.errors import TrellisError
    from core.services import Services

    enforce_offline()
    svc = Services.build(Settings())
    model = "local/gemma-3-270m"
    names = "Maria Garcia met John Smith at 212-555-0199. "
    # Each request is made unique (a counter in front) so the guards' scan cache never
    # answers for the analyzer: every row is redacted from scratch.
    cases = {
        "1,000,000 chars": lambda n: [Message("user", f"{n} " + "x" * 1_000_000)],
        "1.25 MB of names": lambda n: [Message("user", f"{n} " + names * 28_000)],
        "5,001 turns": lambda n: [
            Message("user" if i % 2 == 0 else "assistant", f"turn {n}.{i} " + names)
            for i in range(5001)],
        "lone surrogate": lambda n: [Message("user", f"{n} " + names + "caf\udce9")],
        "bytes content": lambda n: [Message("user", b"hello")],  # type: ignore[arg-type]
        "tuple of dicts": lambda n: ({"role": "user", "content": f"{n} " + names},),
    }

    def baseline(n: int) -> CompletionRequest:
        return CompletionRequest([Message("user", f"{n} " + names)], model=model, max_tokens=0)

    def refuse(req: CompletionRequest) -> float:
        t0 = time.perf_counter()
        with contextlib.suppress(TrellisError):
            svc.engine.chat(req)
        return (time.perf_counter() - t0) * 1000.0

    # Warm the analyzer and the database.
    for n in range(3):
        refuse(baseline(-n))
        refuse(CompletionRequest(cases["1.25 MB of names"](-n), model=model))
    rows_before = svc.telemetry.count_calls()
    print(f"guards on, {args.repeat} refusals per case, interleaved with the baseline "
          "(a one-line message with names refused for max_tokens=0)")
    print(f"{'case':18} {'p50 ms':>8} {'p95 ms':>8} {'base p50':>9} {'ratio':>6}  < 50 ms")
    worst = 0.0
    counter = itertools.count(1)
    for name, make in cases.items():
        mine, base = [], []
        for i in range(args.repeat):
            n = next(counter)
            req = CompletionRequest(make(n), model=model)  # type: ignore[arg-type]
            ref = baseline(n)
            for r in ((req, ref) if i % 2 == 0 else (ref, req)):
                (mine if r is req else base).append(refuse(r))
        p50, p95, b50 = pct(mine, 50), pct(mine, 95), pct(base, 50)
        worst = max(worst, p50)
        print(f"{name:18} {p50:8.2f} {p95:8.2f} {b50:9.2f} {p50 / b50:6.2f}  "
              f"{'yes' if p50 < 50 else 'NO'}")
    rows = svc.telemetry.count_calls() - rows_before
    print(f"log rows written: {rows} for {2 * args.repeat * len(cases)} refusals")
    svc.close()
    return 0 if worst < 50 else 1


if __name__ == "__main__":
    raise SystemExit(main())
