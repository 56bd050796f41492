"""Statistics for experiments that stay valid however often people look.

A dashboard is opened every day, so a fixed-horizon test checked at each
visit would declare false winners far more often than its 5% promises. The
decision here is a mixture sequential probability ratio test (mSPRT, Johari,
Pekelis and Walsh, "Always valid inference", 2017) on the difference between a
variant and the control, with a normal mixing distribution of scale `tau`:

    Lambda_n = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 V (V + tau^2)))

where `d` is the observed difference and `V` its estimated variance. Under no
difference the chance that Lambda_n *ever* reaches 1/alpha is at most alpha,
so a winner is declared only while it is above that line, and the matching
confidence sequence (every difference the test would not reject) is the
interval shown. Fixed-horizon intervals (Wilson for rates, Welch for means,
Mann-Whitney for distributions) are reported beside it for reading, never for
deciding. Every distribution function comes from SciPy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05
#: Looks before this many units per arm decide nothing: the variance estimate is too rough.
MIN_UNITS = 100
#: A sample-ratio mismatch is flagged below this p-value (a strict line: false alarms erode trust).
SRM_P = 0.001


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against the control on one metric."""

    metric: str
    control: float
    variant: float
    difference: float
    #: Always-valid (confidence-sequence) interval for the difference.
    interval: Interval
    #: Always-valid p-value at this look: 1 / Lambda, capped at 1.
    p_value: float
    significant: bool
    n_control: int
    n_variant: int
    #: Units needed per unit of the plan (which assumes one yes/no answer per unit): below
    #: 1 when units answer several times, independently; higher when a unit's answers agree.
    unit_scale: float = 1.0


def wilson(successes: int, trials: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a rate (fixed horizon)."""
    if trials <= 0:
        return Interval(0.0, 1.0)
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(
        confidence_level=level, method="wilson"
    )
    return Interval(float(ci.low), float(ci.high))


def _lambda(diff: float, var: float, tau: float) -> float:
    tau2 = tau * tau
    log_lam = 0.5 * math.log(var / (var + tau2)) + tau2 * diff * diff / (2.0 * var * (var + tau2))
    return math.exp(min(log_lam, 700.0))


def _half_width(var: float, tau: float, alpha: float) -> float:
    tau2 = tau * tau
    return math.sqrt(
        var * (var + tau2) / tau2 * (2.0 * math.log(1.0 / alpha) + math.log((var + tau2) / var))
    )


def _compare(
    metric: str,
    control: float,
    variant: float,
    var: float,
    n_control: int,
    n_variant: int,
    tau: float,
    alpha: float,
) -> Comparison:
    diff = variant - control
    enough = min(n_control, n_variant) >= MIN_UNITS and var > 0
    if not enough:
        return Comparison(
            metric,
            control,
            variant,
            diff,
            Interval(-math.inf, math.inf),
            1.0,
            False,
            n_control,
            n_variant,
        )
    lam = _lambda(diff, var, tau)
    half = _half_width(var, tau, alpha)
    p_value = min(1.0, 1.0 / lam)
    return Comparison(
        metric,
        control,
        variant,
        diff,
        Interval(diff - half, diff + half),
        p_value,
        p_value <= alpha,
        n_control,
        n_variant,
    )


def compare_rates(
    k_control: int,
    n_control: int,
    k_variant: int,
    n_variant: int,
    *,
    metric: str = "rate",
    tau: float = 0.05,
    alpha: float = ALPHA,
) -> Comparison:
    """Variant minus control for a rate (thumbs-up, errors), always valid."""
    # Half a success and half a failure of prior keep the variance off zero at 0% or 100%.
    pc = (k_control + 0.5) / (n_control + 1.0) if n_control else 0.0
    pv = (k_variant + 0.5) / (n_variant + 1.0) if n_variant else 0.0
    var = pc * (1 - pc) / n_control + pv * (1 - pv) / n_variant if n_control and n_variant else 0.0
    control = k_control / n_control if n_control else 0.0
    variant = k_variant / n_variant if n_variant else 0.0
    return _compare(metric, control, variant, var, n_control, n_variant, tau, alpha)


def _unit_pairs(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """The (yes answers, answers) pairs of units that answered at least once, as an array."""
    return np.asarray([p for p in pairs if p[1] > 0], dtype=float).reshape(-1, 2)


def _ratio_var(pairs: np.ndarray) -> tuple[float, float, float]:
    """Ratio sum(k)/sum(n) over units, its delta-method variance, and its prior-smoothed rate.

    Deng, Knoblich and Lu, "Applying the Delta Method in Metric Analytics" (2018): with
    units u = 1..m answering n_u times, k_u of them "yes", Var(R) is about
    s^2(k_u - R n_u) / (m * mean(n)^2). It is floored at the variance of the same
    answers taken as independent (smoothed like compare_rates), so a few units that all
    agree never look certain.
    """
    k, n = pairs[:, 0].astype(float), pairs[:, 1].astype(float)
    m, total = len(pairs), float(n.sum())
    rate = float(k.sum()) / total if total else 0.0
    smooth = (float(k.sum()) + 0.5) / (total + 1.0)
    floor = smooth * (1 - smooth) / total if total else 0.0
    if m < 2 or not total:
        return rate, floor, smooth
    resid = k - rate * n
    delta = float(np.var(resid, ddof=1)) / (m * float(n.mean()) ** 2)
    return rate, max(delta, floor), smooth


def compare_ratio(
    control: Sequence[tuple[int, int]],
    variant: Sequence[tuple[int, int]],
    *,
    metric: str = "rate",
    tau: float = 0.05,
    alpha: float = ALPHA,
) -> Comparison:
    """Variant minus control for a rate whose units answer several times, always valid.

    Each pair is one unit's (yes answers, answers): a user's thumbs up and rated calls.
    The rate is all yeses over all answers, as in compare_rates, but its variance is
    per unit, so a user who rates a hundred calls counts as one user who rates a lot,
    not as a hundred independent users; "enough data" and the plan count units.
    """
    c, v = _unit_pairs(control), _unit_pairs(variant)
    rc, var_c, sc = _ratio_var(c)
    rv, var_v, sv = _ratio_var(v)
    var = var_c + var_v if len(c) and len(v) else 0.0
    cmp = _compare(metric, rc, rv, var, len(c), len(v), tau, alpha)
    bernoulli = sc * (1 - sc) + sv * (1 - sv)
    scale = (var_c * len(c) + var_v * len(v)) / bernoulli if bernoulli and var else 1.0
    return replace(cmp, unit_scale=scale)


def ratio_interval(pairs: Sequence[tuple[int, int]], level: float = 0.95) -> Interval:
    """A fixed-horizon interval for a per-unit rate (delta method), clipped to 0..1."""
    arr = _unit_pairs(pairs)
    if not len(arr):
        return Interval(0.0, 1.0)
    rate, var, _ = _ratio_var(arr)
    half = float(stats.norm.ppf(0.5 + level / 2)) * math.sqrt(var)
    return Interval(max(0.0, rate - half), min(1.0, rate + half))


def compare_means(
    control: Sequence[float],
    variant: Sequence[float],
    *,
    metric: str = "mean",
    tau: float | None = None,
    alpha: float = ALPHA,
) -> Comparison:
    """Variant minus control for a mean (cost per call, latency), always valid.

    `tau` defaults to a fifth of the control's standard deviation: effects of
    that order are the ones worth finding quickly.
    """
    a = np.asarray(control, dtype=float)
    b = np.asarray(variant, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return _compare(
            metric,
            float(a.mean()) if len(a) else 0.0,
            float(b.mean()) if len(b) else 0.0,
            0.0,
            len(a),
            len(b),
            1.0,
            alpha,
        )
    var = float(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    scale = tau if tau is not None else max(float(a.std(ddof=1)) / 5.0, 1e-12)
    return _compare(metric, float(a.mean()), float(b.mean()), var, len(a), len(b), scale, alpha)


def welch_interval(control: Sequence[float], variant: Sequence[float], level: float = 0.95):
    """Fixed-horizon Welch interval for variant minus control (for reading only)."""
    res = stats.ttest_ind(np.asarray(variant, float), np.asarray(control, float), equal_var=False)
    ci = res.confidence_interval(level)
    return Interval(float(ci.low), float(ci.high))


def mann_whitney_p(control: Sequence[float], variant: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value: do the distributions differ (latency, cost)?"""
    if len(control) == 0 or len(variant) == 0:
        return 1.0
    return float(stats.mannwhitneyu(variant, control, alternative="two-sided").pvalue)


def srm_p_value(observed: Mapping[str, int], weights: Mapping[str, float]) -> float:
    """Chi-square p-value of the units each variant got against the configured split."""
    names = [n for n in weights if weights[n] > 0]
    total_w = sum(weights[n] for n in names)
    counts = np.array([observed.get(n, 0) for n in names], dtype=float)
    if counts.sum() == 0 or len(names) < 2:
        return 1.0
    expected = counts.sum() * np.array([weights[n] / total_w for n in names])
    return float(stats.chisquare(counts, expected).pvalue)


def sample_ratio_mismatch(observed: Mapping[str, int], weights: Mapping[str, float]) -> bool:
    return srm_p_value(observed, weights) < SRM_P


def sample_size(
    baseline: float,
    mde: float,
    *,
    power: float = 0.8,
    alpha: float = ALPHA,
    tau: float | None = None,
) -> int:
    """Units per variant for the always-valid test to detect `mde` (absolute) with `power`.

    Counts only the last look, so looking earlier can only add power: the plan
    is a safe upper bound on what the experiment needs.
    """
    if not 0 < baseline < 1 or mde == 0 or not 0 < baseline + mde < 1:
        raise ValueError("baseline and baseline + effect must both be rates between 0 and 1")
    tau = tau if tau is not None else abs(mde)
    p2 = baseline + mde
    unit_var = baseline * (1 - baseline) + p2 * (1 - p2)
    z_power = stats.norm.ppf(power)

    def shortfall(n: float) -> float:
        var = unit_var / n
        return abs(mde) / math.sqrt(var) - _half_width(var, tau, alpha) / math.sqrt(var) - z_power

    hi = 10.0
    while shortfall(hi) < 0:
        hi *= 2
        if hi > 1e9:
            raise ValueError("that effect is too small to detect with any practical sample")
    return math.ceil(optimize.brentq(shortfall, 2.0, hi)) if shortfall(2.0) < 0 else 2


def _points(x: float) -> str:
    return f"{x * 100:+.1f} points"


def verdict(
    cmp: Comparison,
    *,
    variant_name: str,
    label: str,
    higher_is_better: bool = True,
    baseline: float | None = None,
    mde: float | None = None,
    as_points: bool = True,
) -> str:
    """One plain sentence: who is better on what, by how much, or how much more data."""
    fmt = _points if as_points else (lambda x: f"{x:+,.4g}")
    if cmp.significant:
        better = (cmp.difference > 0) == higher_is_better
        word = "better" if better else "worse"
        return (
            f"{variant_name} is {word} on {label}, {fmt(cmp.difference)}, "
            f"95% interval {fmt(cmp.interval.low)} to {fmt(cmp.interval.high)}."
        )
    n = min(cmp.n_control, cmp.n_variant)
    if baseline is not None and mde and 0 < baseline < 1 and 0 < baseline + mde < 1:
        need = math.ceil(sample_size(baseline, mde) * cmp.unit_scale)
        if need > n:
            return (
                f"Not enough data yet: about {need - n:,} more users per variant to detect a "
                f"{abs(mde) * 100:.0f}-point change in {label}."
            )
    if n < MIN_UNITS:
        return f"Not enough data yet: each variant needs at least {MIN_UNITS} users."
    return f"No clear difference on {label} so far ({fmt(cmp.difference)})."
