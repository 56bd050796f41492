"""Traffic simulator for experiments: synthetic users through the real engine.

Each synthetic user visits `visits` times; every visit is a real engine call
(render stage, variant selector, provider SDK against the loopback wire
server, call log), and the user's thumbs (true rate per variant, e.g. A 60%
and B 66%) are written through TelemetryStore.add_feedback on that call. The
user learns which variant served it from the answer it got, as a person
would. Then the experiment's results are read back from the database.

    PYTHONPATH=$PWD python bench/experiments_sim.py            # 10,000 users
    PYTHONPATH=$PWD python bench/experiments_sim.py --users 2000

Prints: stickiness, split, SRM p-value, verdict and winner, the time per
simulated visit, and the ratio against bare engine calls with no prompt and no
experiment, measured in the same run (the machine is shared; ratios travel
better than seconds).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from core.access import LOCAL_ADMIN  # noqa: E402
from core.engine import CompletionRequest  # noqa: E402
from core.prompts.assignment import assign  # noqa: E402
from core.prompts.experiments import Results, Variant  # noqa: E402
from core.providers.base import Message  # noqa: E402
from core.telemetry.models import CallLog  # noqa: E402

PROMPT = "support-sim"
MODEL = "openai/gpt-4o-mini"


@dataclass
class SimReport:
    users: int
    visits: int
    calls: int
    sticky_share: float
    split: dict[str, float]
    results: Results
    seconds: float
    rates: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        r = self.results
        out = [f"users {self.users:,} x {self.visits} visits = {self.calls:,} engine calls "
               f"in {self.seconds:.1f} s ({self.seconds / max(self.calls, 1) * 1000:.2f} ms "
               "per visit)",
               f"sticky: {self.sticky_share:.2%} of users kept one variant on every visit",
               "split: " + ", ".join(f"{k} {v:.2%}" for k, v in sorted(self.split.items())),
               f"SRM p-value {r.srm_p:.3g} ({'MISMATCH' if r.srm else 'no mismatch'})"]
        for v in r.variants:
            m = v.metrics[r.experiment.primary_metric]
            out.append(f"  {v.name} (v{v.version}): units {v.units:,}, calls {v.calls:,}, "
                       f"{m.label} {m.value:.2%} [{m.interval.low:.2%}, {m.interval.high:.2%}]")
        out += [f"  verdict: {s}" for s in r.verdicts]
        out.append(f"winner: {r.winner}")
        return out


def setup_prompt(services) -> None:  # noqa: ANN001 - core.services.Services
    """A prompt with two versions, A (production) and B, whose answers tell them apart."""
    reg = services.prompts
    if not reg.exists(PROMPT):
        reg.create(PROMPT, by="sim")
        reg.save_version(PROMPT, by="sim", system="[v1] Answer briefly.", user="{{ q }}",
                         config={"model": MODEL, "max_tokens": 20})
        reg.save_version(PROMPT, by="sim", system="[v2] Answer warmly and briefly.",
                         user="{{ q }}", config={"model": MODEL, "max_tokens": 20})


def wire_reply(body: dict) -> str:
    """The loopback provider's answer names the version that was served."""
    system = str(body.get("messages", [{}])[0].get("content", ""))
    return "answer v2" if "[v2]" in system else "answer v1"


def create_experiment(services, name: str = "warmer-tone", **kw):  # noqa: ANN001, ANN201
    setup_prompt(services)
    return services.experiments.create(
        LOCAL_ADMIN, name, PROMPT,
        [Variant("A", 1, 1.0, control=True), Variant("B", 2, 1.0)],
        hypothesis="A warmer tone earns more thumbs up.", baseline_rate=0.6, mde=0.06, **kw)


def simulate(services, name: str, *, users: int, visits: int = 5,  # noqa: ANN001
             rates: dict[str, float] | None = None, seed: int = 7,
             drop: tuple[str, float] | None = None, user_prefix: str = "user") -> SimReport:
    """Send `users` x `visits` calls; thumbs at the variant's true rate on every visit.

    `drop=("B", 0.10)` simulates an assignment or logging bug: that share of the
    users the hash puts in B never reach the engine.
    """
    rates = rates or {"A": 0.60, "B": 0.66}
    rng = random.Random(seed)
    exp = services.experiments.get(name)
    by_text = {f"answer v{v.version}": v.name for v in exp.variants}
    t0 = time.perf_counter()
    calls = 0
    for u in range(users):
        uid = f"{user_prefix}-{u}"
        if drop is not None:
            planned = assign(exp.salt, f"u:{uid}", exp.weights, ramp=exp.ramp)
            if planned == drop[0] and rng.random() < drop[1]:
                continue
        for visit in range(visits):
            resp = services.engine.chat(CompletionRequest(
                messages=[], prompt_name=PROMPT, variables={"q": f"question {visit}"},
                user_id=uid, session_id=f"{uid}-s{visit}", source="sim"))
            calls += 1
            variant = by_text.get(resp.text)
            if variant is None or resp.call_id is None:
                continue
            up = rng.random() < rates[variant]
            services.telemetry.add_feedback(resp.call_id, 1 if up else -1, user_id=uid)
    seconds = time.perf_counter() - t0
    with services.db.connect() as conn:
        per_user = conn.execute(
            select(CallLog.user_id, func.count(func.distinct(CallLog.variant)))
            .where(CallLog.experiment == name, CallLog.user_id.like(f"{user_prefix}-%"))
            .group_by(CallLog.user_id)).all()
    sticky = sum(1 for _, n in per_user if n == 1) / max(len(per_user), 1)
    results = services.experiments.results(name)
    total = sum(v.units for v in results.variants) or 1
    split = {v.name: v.units / total for v in results.variants}
    return SimReport(users, visits, calls, sticky, split, results, seconds, rates)


def bare_calls(services, n: int) -> float:  # noqa: ANN001
    """Seconds per bare engine call (no prompt, no experiment), the baseline."""
    t0 = time.perf_counter()
    for i in range(n):
        services.engine.chat(CompletionRequest(messages=[Message("user", f"hi {i}")],
                                               model=MODEL, source="sim"))
    return (time.perf_counter() - t0) / n


def calibration(sims: int = 200, seed: int = 7) -> tuple[float, float, int]:
    """A/A false-winner rate (a look every 100 users, 2,500 per arm) and the power at the
    planned size for 60% -> 66%, through the same compare_rates the results use."""
    import numpy as np

    from core.prompts.experiment_stats import compare_rates, sample_size

    def run(p_a: float, p_b: float, per_arm: int, seed: int) -> float:
        rng = np.random.default_rng(seed)
        wins = 0
        for _ in range(sims):
            a = np.cumsum(rng.random(per_arm) < p_a)
            b = np.cumsum(rng.random(per_arm) < p_b)
            for n in range(50, per_arm + 1, 50):
                if compare_rates(int(a[n - 1]), n, int(b[n - 1]), n, tau=0.06).significant:
                    wins += 1
                    break
        return wins / sims

    planned = sample_size(0.60, 0.06)
    return run(0.6, 0.6, 2_500, seed), run(0.60, 0.66, planned, seed + 4), planned


def calibration_users(sims: int = 200, seed: int = 5) -> tuple[float, float]:
    """A/A false-winner rates when users differ and rate 1 to 20 calls each (a look every
    100 users, 1,000 per arm): per unit (compare_ratio, what results use for thumbs-up)
    and per rated call (compare_rates on the pooled counts, the analysis before)."""
    import numpy as np

    from core.prompts.experiment_stats import compare_rates, compare_ratio

    rng = np.random.default_rng(seed)
    by_user = by_call = 0
    for _ in range(sims):
        arms = []
        for _arm in range(2):
            n = rng.integers(1, 21, 1000)
            arms.append(np.stack([rng.binomial(n, rng.beta(1.2, 0.8, 1000)), n], 1))
        a, b = arms
        looks = range(50, 1001, 50)
        by_user += any(compare_ratio(a[:m].tolist(), b[:m].tolist(), tau=0.06).significant
                       for m in looks)
        by_call += any(compare_rates(int(a[:m, 0].sum()), int(a[:m, 1].sum()),
                                     int(b[:m, 0].sum()), int(b[:m, 1].sum()),
                                     tau=0.06).significant for m in looks)
    return by_user / sims, by_call / sims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--visits", type=int, default=5)
    args = parser.parse_args()
    false_rate, power, planned = calibration()
    print(f"calibration: 200 A/A experiments looked at every 100 users named a winner in "
          f"{false_rate:.1%} (target <= 5%); at the planned {planned:,} users per variant "
          f"the 60% -> 66% difference was found in {power:.1%} of 200 (target >= 80%)")
    per_user, per_call = calibration_users()
    print(f"users who differ (rates from Beta(1.2, 0.8), 1-20 ratings each), 200 A/A "
          f"experiments looked at every 100 users: false winners {per_user:.1%} per user "
          f"(thumbs-up analysis) vs {per_call:.1%} if each rated call counted as a user")
    from core.config import Settings
    from core.services import Services
    from tests.servers.wire import WireServer

    with tempfile.TemporaryDirectory() as tmp, WireServer() as wire:
        os.environ.update(TRELLIS_DATA_DIR=tmp, TRELLIS_GUARDS_ENABLED="false",
                          OPENAI_API_KEY="sim-key", OPENAI_BASE_URL=wire.base_url + "/v1")
        wire.reply = wire_reply
        services = Services.build(Settings())
        try:
            base = bare_calls(services, 300)
            create_experiment(services)
            services.experiments.start(LOCAL_ADMIN, "warmer-tone")
            report = simulate(services, "warmer-tone", users=args.users, visits=args.visits)
            for line in report.lines():
                print(line)
            per_visit = report.seconds / max(report.calls, 1)
            print(f"bare engine call {base * 1000:.2f} ms; simulated visit (call + thumbs) "
                  f"{per_visit * 1000:.2f} ms; ratio {per_visit / base:.2f}x "
                  "(shared machine)")
        finally:
            services.close()


if __name__ == "__main__":
    main()
