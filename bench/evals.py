"""Eval runner throughput and overhead against a loopback server that answers in a fixed 50 ms.

    python bench/evals.py [--cells 200] [--delay 0.05]

Measured in one process: the bare engine (the same streaming calls in a plain
loop) and a 200-cell run at concurrency 1 (one cheap assertion per cell); the
bare engine on a plain 8-thread pool and the run at concurrency 8; then the
runner's own cost per cell as the median over interleaved pairs of a 25-cell
run and 25 bare calls (a shared machine's load then falls on both alike). Prints the speed-up of 8
over 1 as a share of the ideal 8x, and the runner's own cost per cell over the
bare engine call. Targets: >= 0.8 of ideal; <= 2 ms per cell.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from _common import ROOT  # noqa: F401 - puts the repo on sys.path

from core.config import Settings
from core.engine import CompletionRequest
from core.evals import CaseIn, Runner, Suite
from core.providers import Message
from core.services import Services
from tests.servers.wire import WireServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--pairs", type=int, default=8, help="interleaved 25-cell pairs")
    args = parser.parse_args()

    def answer(_body: dict) -> str:
        time.sleep(args.delay)
        return "The refund window is 30 days."

    with WireServer(reply=answer) as srv, tempfile.TemporaryDirectory() as tmp:
        os.environ["OPENAI_API_KEY"] = "bench-key"
        settings = Settings(data_dir=tmp, openai_base_url=srv.base_url + "/v1",
                            guards_enabled=False)
        svc = Services.build(settings)
        cases = [CaseIn(message=f"Question {i}: how long is the refund window?",
                        key=f"q{i}") for i in range(args.cells)]
        suite = Suite(name="bench", cases=cases, models=["openai/gpt-4o-mini"],
                      asserts=[{"type": "icontains", "value": "30 days"}])
        runner = Runner(svc)

        def bare_call(i: int) -> None:
            stream = svc.engine.stream(CompletionRequest(
                messages=[Message("user", f"Question {i}: how long is the refund window?")],
                model="openai/gpt-4o-mini", source="eval", cache=False))
            for _ in stream:
                pass

        for i in range(10):  # warm the SDK client, the pool and SQLite
            bare_call(i)

        def bare_serial(n: int) -> float:
            t = time.perf_counter()
            for i in range(n):
                bare_call(i)
            return time.perf_counter() - t

        def bare_pool(n: int) -> float:
            t = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(bare_call, range(n)))
            return time.perf_counter() - t

        def run(workers: int, n: int) -> float:
            run_id = runner.create_run(replace(suite, cases=suite.cases[:n]))
            t = time.perf_counter()
            outcome = runner.run(run_id, concurrency=workers)
            took = time.perf_counter() - t
            assert outcome.ran == n and outcome.errors == 0, outcome
            return took

        # The speed-up: the whole 200-cell run at concurrency 1 and at 8.
        bare_1, timings_1 = bare_serial(args.cells), run(1, args.cells)
        bare_8, timings_8 = bare_pool(args.cells), run(8, args.cells)
        timings = {1: timings_1, 8: timings_8}
        # The overhead: small runs interleaved with the same number of bare calls, so
        # the other load on a shared machine falls on both sides alike.
        pair = 25
        diffs = []
        for _ in range(args.pairs):
            bare = bare_serial(pair)
            diffs.append((run(1, pair) - bare) / pair * 1000)
        svc.close()

    ideal = args.delay * args.cells
    speedup = timings[1] / timings[8]
    overhead_ms = statistics.median(diffs)
    print(f"{args.cells} cells, server answers in {args.delay * 1000:.0f} ms "
          f"(ideal serial {ideal:.1f} s); shared 2-core machine, figures are noisy")
    print(f"bare engine, serial        {bare_1:7.2f} s  ({bare_1 / args.cells * 1000:.1f} ms/call)")
    print(f"bare engine, 8 threads     {bare_8:7.2f} s  (speed-up {bare_1 / bare_8:.2f}x)")
    print(f"runner, concurrency 1      {timings[1]:7.2f} s")
    print(f"runner, concurrency 8      {timings[8]:7.2f} s")
    print(f"speed-up 8 vs 1            {speedup:7.2f}x = {speedup / 8:.2f} of ideal 8x "
          f"(target >= 0.80); bare engine reaches {bare_1 / bare_8 / 8:.2f} of ideal")
    print(f"runner/bare, whole run     {timings[1] / bare_1:7.3f} (concurrency 1)")
    print(f"runner overhead per cell   {overhead_ms:7.2f} ms over the bare engine call, median of "
          f"{len(diffs)} interleaved 25-cell pairs (target <= 2 ms; pairs ranged "
          f"{min(diffs):.2f} to {max(diffs):.2f} ms)")


if __name__ == "__main__":
    main()
