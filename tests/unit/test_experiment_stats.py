"""Experiment assignment and statistics (core/prompts/assignment.py, experiment_stats.py).

The simulations use fixed seeds, so each figure is reproducible; the
thresholds are the ones the experiments issue sets (5% false winners under
peeking, 80% power at the planned size, SRM caught at a 10% drop).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bench.experiments_sim import calibration_users
from core.prompts.assignment import assign, choose_variant, exposed
from core.prompts.experiment_stats import (
    MIN_UNITS,
    compare_means,
    compare_rates,
    compare_ratio,
    mann_whitney_p,
    ratio_interval,
    sample_ratio_mismatch,
    sample_size,
    verdict,
    wilson,
)
from tests.conftest import ROOT

USERS = [f"user-{i}" for i in range(10_000)]


def _split(weights: dict[str, float], salt: str = "exp-1") -> dict[str, str]:
    return {u: choose_variant(salt, u, weights) for u in USERS}


def test_the_split_follows_the_weights_within_two_points() -> None:
    for weights in ({"A": 1, "B": 1}, {"A": 0.8, "B": 0.2}, {"A": 1, "B": 1, "C": 2}):
        got = _split(weights)
        total = sum(weights.values())
        for name, w in weights.items():
            share = sum(1 for v in got.values() if v == name) / len(USERS)
            assert abs(share - w / total) <= 0.02, (weights, name, share)


def test_assignment_is_the_same_in_another_process() -> None:
    """Sticky across replicas and restarts: no table, no per-process seed."""
    sample = USERS[:200]
    here = [choose_variant("exp-1", u, {"A": 1, "B": 1}) for u in sample]
    code = (
        "import json,sys; from core.prompts.assignment import choose_variant;"
        "print(json.dumps([choose_variant('exp-1', f'user-{i}', {'A': 1, 'B': 1})"
        " for i in range(200)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == here
    # Five visits, five identical answers.
    for u in sample[:20]:
        assert len({choose_variant("exp-1", u, {"A": 1, "B": 1}) for _ in range(5)}) == 1


def test_a_new_salt_reshuffles_independently() -> None:
    a, b = _split({"A": 1, "B": 1}, "exp-1"), _split({"A": 1, "B": 1}, "exp-2")
    agree = sum(a[u] == b[u] for u in USERS) / len(USERS)
    assert 0.47 <= agree <= 0.53


def test_changing_weights_moves_about_as_few_units_as_possible() -> None:
    before = _split({"A": 0.5, "B": 0.5})
    after = _split({"A": 0.6, "B": 0.4})
    moved = [u for u in USERS if before[u] != after[u]]
    # At least 10% must move to reach 60/40; rendezvous hashing moves about that many,
    # and only from B to A.
    assert len(moved) / len(USERS) <= 0.12
    assert all(before[u] == "B" and after[u] == "A" for u in moved)


def test_adding_a_variant_only_takes_units_for_it() -> None:
    before = _split({"A": 1, "B": 1})
    after = _split({"A": 1, "B": 1, "C": 1})
    for u in USERS:
        assert after[u] in (before[u], "C")
    share_c = sum(v == "C" for v in after.values()) / len(USERS)
    assert abs(share_c - 1 / 3) <= 0.02


def test_widening_the_ramp_keeps_everyone_already_in() -> None:
    weights = {"A": 1, "B": 1}
    at_10 = {u: assign("exp-1", u, weights, ramp=0.1) for u in USERS}
    at_50 = {u: assign("exp-1", u, weights, ramp=0.5) for u in USERS}
    inside_10 = [u for u, v in at_10.items() if v is not None]
    assert abs(len(inside_10) / len(USERS) - 0.1) <= 0.02
    assert all(at_50[u] == at_10[u] for u in inside_10)
    assert abs(sum(v is not None for v in at_50.values()) / len(USERS) - 0.5) <= 0.02
    assert exposed("exp-1", "anyone", 1.0) and not exposed("exp-1", "anyone", 0.0)


def test_wilson_interval_matches_the_textbook_values() -> None:
    ci = wilson(30, 100)
    assert ci.low == pytest.approx(0.2189, abs=1e-4)
    assert ci.high == pytest.approx(0.3958, abs=1e-4)
    assert wilson(0, 0).low == 0.0 and wilson(0, 0).high == 1.0


def _peeking_experiments(p_control: float, p_variant: float, per_arm: int, sims: int, seed: int):
    """Fraction of simulated experiments in which a look every 100 users declares a winner."""
    rng = np.random.default_rng(seed)
    winners = 0
    for _ in range(sims):
        a = np.cumsum(rng.random(per_arm) < p_control)
        b = np.cumsum(rng.random(per_arm) < p_variant)
        for n in range(50, per_arm + 1, 50):  # 100 users = 50 per arm
            if compare_rates(int(a[n - 1]), n, int(b[n - 1]), n, tau=0.06).significant:
                winners += 1
                break
    return winners / sims


def test_a_a_experiments_looked_at_every_100_users_rarely_name_a_winner() -> None:
    false_winners = _peeking_experiments(0.6, 0.6, per_arm=2_500, sims=200, seed=7)
    assert false_winners <= 0.05


def test_the_planned_sample_size_detects_the_true_difference() -> None:
    planned = sample_size(0.60, 0.06, tau=0.06)
    assert 300 < planned < 5_000
    detected = _peeking_experiments(0.60, 0.66, per_arm=planned, sims=200, seed=11)
    assert detected >= 0.80


def test_a_clear_difference_is_named_with_its_interval() -> None:
    cmp = compare_rates(3000, 5000, 3300, 5000, metric="thumbs-up rate", tau=0.06)
    assert cmp.significant
    assert cmp.interval.low < cmp.difference < cmp.interval.high
    assert cmp.interval.low > 0
    text = verdict(cmp, variant_name="B", label="thumbs-up rate")
    assert text.startswith("B is better on thumbs-up rate, +6.0 points, 95% interval +")


def test_too_little_data_says_how_much_more_is_needed() -> None:
    cmp = compare_rates(30, 50, 33, 50)
    assert not cmp.significant and cmp.p_value == 1.0
    text = verdict(cmp, variant_name="B", label="thumbs-up rate", baseline=0.6, mde=0.03)
    assert text.startswith("Not enough data yet: about ")
    assert "more users per variant to detect a 3-point change in thumbs-up rate" in text
    assert MIN_UNITS > 50


def test_lower_is_better_for_cost() -> None:
    rng = np.random.default_rng(3)
    control = rng.gamma(2.0, 0.001, 2000)
    cheaper = rng.gamma(2.0, 0.0007, 2000)
    cmp = compare_means(control, cheaper, metric="cost per call")
    assert cmp.significant and cmp.difference < 0
    sentence = verdict(
        cmp, variant_name="B", label="cost per call", higher_is_better=False, as_points=False
    )
    assert sentence.startswith("B is better on cost per call")
    assert mann_whitney_p(control, cheaper) < 0.001


def test_sample_ratio_mismatch_flags_a_dropped_tenth_and_not_a_fair_split() -> None:
    got = _split({"A": 1, "B": 1})
    fair = {"A": sum(v == "A" for v in got.values()), "B": sum(v == "B" for v in got.values())}
    assert not sample_ratio_mismatch(fair, {"A": 1, "B": 1})
    dropped = {"A": fair["A"], "B": int(fair["B"] * 0.9)}
    assert sample_ratio_mismatch(dropped, {"A": 1, "B": 1})


def test_sample_size_refuses_impossible_rates() -> None:
    with pytest.raises(ValueError):
        sample_size(0.98, 0.05)


def test_thumbs_per_user_keep_a_a_false_winners_under_five_percent_where_per_call_does_not():
    # 200 A/A experiments, users whose rates differ a lot and who rate 1 to 20 calls each.
    by_user, by_call = calibration_users(sims=200, seed=5)
    assert by_user <= 0.05
    assert by_call > 0.3  # treating each rated call as a user: false winners


def test_one_user_who_rates_hundreds_of_calls_does_not_make_a_winner():
    control = [(6, 10)] * 150
    variant = [(6, 10)] * 149 + [(400, 400)]
    pooled = compare_rates(900, 1500, 1294, 1890, tau=0.06)
    assert pooled.significant  # per call, B "wins" on one enthusiastic user
    cmp = compare_ratio(control, variant, metric="thumbs_up", tau=0.06)
    assert cmp.variant == pytest.approx(1294 / 1890) and cmp.control == pytest.approx(0.6)
    assert not cmp.significant
    assert (cmp.n_control, cmp.n_variant) == (150, 150)  # users, not rated calls


def test_independent_answers_per_user_give_the_per_call_figures_and_fewer_users_to_plan():
    rng = np.random.default_rng(8)
    a = [(int(rng.binomial(5, 0.60)), 5) for _ in range(3000)]
    b = [(int(rng.binomial(5, 0.66)), 5) for _ in range(3000)]
    per_user = compare_ratio(a, b, tau=0.06)
    ka, kb = sum(k for k, _ in a), sum(k for k, _ in b)
    per_call = compare_rates(ka, 15000, kb, 15000, tau=0.06)
    assert per_user.significant and per_call.significant
    width = per_user.interval.high - per_user.interval.low
    assert width == pytest.approx(per_call.interval.high - per_call.interval.low, rel=0.1)
    assert per_user.unit_scale == pytest.approx(1 / 5, rel=0.15)  # 5 answers a user
    few = compare_ratio(a[:60], b[:60], tau=0.03)
    text = verdict(few, variant_name="B", label="thumbs-up rate", baseline=0.6, mde=0.03)
    need = int(text.split("about ")[1].split(" more")[0].replace(",", ""))
    assert need + 60 == pytest.approx(sample_size(0.6, 0.03) * few.unit_scale, rel=0.01)


def test_ratio_interval_covers_the_rate_and_stays_between_zero_and_one():
    assert ratio_interval([]).low == 0.0 and ratio_interval([]).high == 1.0
    ci = ratio_interval([(3, 4), (1, 2), (0, 1), (5, 5)])
    assert 0.0 <= ci.low < 9 / 12 < ci.high <= 1.0
    assert ratio_interval([(1, 1)] * 3).high == 1.0
