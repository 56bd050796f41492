"""Fault benchmark: the reliability layer against injected failures.

Run 1: 1,000 calls on a route (OpenAI-format primary -> Anthropic-format
backup, both loopback servers), 30% transient faults (500/503/dropped
connection, seeded) injected on the primary. Run 2: the primary hard down
for a few breaker cool-downs. Prints success rate, log rows vs calls,
attempts wasted on an open breaker per cool-down, and the latency the
fallback path adds over a healthy call.

    python bench/faults.py [--calls 1000] [--down-seconds 4]

Backoff is shortened (10-20 ms) so the run takes seconds, not minutes; the
counts do not depend on it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import pct

from core.config import Settings
from core.engine import CompletionRequest
from core.providers import Message
from core.providers.errors import TrellisError
from core.services import Services
from tests.servers.wire import WireServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--down-seconds", type=float, default=4.0)
    parser.add_argument("--cooldown", type=float, default=1.0)
    args = parser.parse_args()

    with (
        WireServer(reply="primary answer", seed=42) as primary,
        WireServer(reply="backup answer") as backup,
        tempfile.TemporaryDirectory() as tmp,
    ):
        os.environ["OPENAI_API_KEY"] = "bench"
        os.environ["ANTHROPIC_API_KEY"] = "bench"
        settings = Settings(
            data_dir=tmp,
            openai_base_url=primary.base_url + "/v1",
            anthropic_base_url=backup.base_url,
            guards_enabled=False,  # measures reliability alone
        )
        svc = Services.build(settings)
        rel = svc.reliability
        rel.update_config(
            max_retries=2,
            backoff_base_s=0.01,
            backoff_max_s=0.02,
            breaker_failures=5,
            breaker_cooldown_s=args.cooldown,
            breaker_min_calls=1000,  # consecutive failures only, so run 1 measures retries
        )
        rel.routes.save("main", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
        request = CompletionRequest(
            messages=[Message("user", "Hello?")], model="route/main", source="api"
        )

        def call() -> tuple[bool, float]:
            t = time.perf_counter()
            try:
                svc.engine.chat(request)
                ok = True
            except TrellisError:
                ok = False
            return ok, (time.perf_counter() - t) * 1000.0

        # Healthy baseline for the latency comparison.
        healthy = [call()[1] for _ in range(200)]

        # Run 1: transient faults.
        primary.reset()
        primary.fault_rate = args.fault_rate
        primary.fault_choices = ("500", "503", "cut")
        rows_before = svc.telemetry.count_calls()
        results = [call() for _ in range(args.calls)]
        rows = svc.telemetry.count_calls() - rows_before
        successes = sum(ok for ok, _ in results)
        faults = sum(primary.counts[k] for k in ("500", "503", "cut"))
        served_by_backup = len(backup.completion_requests())

        # Run 2: primary hard down.
        primary.reset()
        backup.reset()
        rel.breakers.reset("openai/gpt-4o-mini")
        primary.default = "500"
        rows_before = svc.telemetry.count_calls()
        down: list[tuple[bool, float]] = []
        start = time.monotonic()
        while time.monotonic() - start < args.down_seconds:
            down.append(call())
        elapsed = time.monotonic() - start
        rows_down = svc.telemetry.count_calls() - rows_before
        attempts_on_primary = len(primary.completion_requests())
        trip_cost = rel.config().breaker_failures
        cooldowns = elapsed / args.cooldown
        wasted = max(0, attempts_on_primary - trip_cost)
        svc.close()

    down_ms = [ms for ok, ms in down if ok]
    print(f"run 1: {args.calls} calls, {args.fault_rate:.0%} transient faults on the primary")
    print(f"  success rate {successes / args.calls:.1%}   (target 100% with a healthy fallback)")
    print(f"  log rows {rows} for {args.calls} calls   (target equal)")
    print(f"  faults injected {faults}, calls finished by the backup {served_by_backup}")
    print(f"run 2: primary hard down for {elapsed:.1f} s, cool-down {args.cooldown:.1f} s")
    print(
        f"  success rate {sum(ok for ok, _ in down) / len(down):.1%} over {len(down)} calls, "
        f"log rows {rows_down}"
    )
    print(
        f"  attempts on the down primary {attempts_on_primary}: {trip_cost} to trip the breaker, "
        f"then {wasted} trial(s) in {cooldowns:.1f} cool-downs = "
        f"{wasted / max(cooldowns, 1):.2f} per cool-down   (target <= 1)"
    )
    h50, d50 = pct(healthy, 50), pct(down_ms, 50)
    print(f"  latency healthy p50 {h50:.2f} ms, via fallback p50 {d50:.2f} ms")
    print(
        f"  fallback adds {d50 - h50:.2f} ms at p50 (ratio {d50 / h50:.2f}x); "
        f"p95 {pct(down_ms, 95):.2f} ms, max {max(down_ms):.1f} ms (the calls that tripped it)"
    )


if __name__ == "__main__":
    main()
