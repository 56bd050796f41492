"""Helpers shared by the benchmarks: percentiles and a tidy report."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, like numpy's default."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def summary(values: list[float]) -> str:
    return (
        f"p50 {pct(values, 50):8.3f}  p95 {pct(values, 95):8.3f}  "
        f"mean {statistics.fmean(values):8.3f}  n={len(values)}"
    )
