"""Sticky variant assignment for experiments: a pure function of (salt, unit id).

No table of who got what is needed: every replica, after any restart, computes
the same variant for the same user. Two independent hashes decide two things:

- *exposure*: a unit takes part when its exposure hash falls under the ramp
  (10% of traffic, then 50%, ...). Widening the ramp only adds units; nobody
  already in the experiment leaves it.
- *variant*: weighted rendezvous hashing. Each variant scores
  `-weight / ln(u)` with `u` a uniform hash of (salt, unit, variant), and the
  highest score wins. Variant v wins with probability weight_v / sum(weights),
  and when weights change a unit moves only if the change made another variant
  outscore its own, which is the least movement any split can achieve in
  expectation; a variant whose weight is untouched keeps all of its units
  unless a weight elsewhere grew.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

_SCALE = float(1 << 64)


def unit_hash(*parts: str) -> float:
    """A uniform number in (0, 1) from the parts (stable across processes and versions)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / _SCALE


def exposed(salt: str, unit_id: str, ramp: float) -> bool:
    """Whether the unit takes part at this ramp (a share of traffic in [0, 1])."""
    if ramp >= 1.0:
        return True
    if ramp <= 0.0:
        return False
    return unit_hash(salt, "exposure", unit_id) < ramp


def choose_variant(salt: str, unit_id: str, weights: Mapping[str, float]) -> str:
    """The variant this unit sees, chosen with probability proportional to its weight.

    Variants with weight 0 are never chosen; at least one weight must be positive.
    """
    best: str | None = None
    best_score = -math.inf
    for name, weight in weights.items():
        if weight <= 0:
            continue
        score = -weight / math.log(unit_hash(salt, "variant", unit_id, name))
        if score > best_score:
            best, best_score = name, score
    if best is None:
        raise ValueError("an experiment needs at least one variant with a positive weight")
    return best


def assign(
    salt: str, unit_id: str, weights: Mapping[str, float], *, ramp: float = 1.0
) -> str | None:
    """The variant for this unit, or None when the ramp leaves it out of the experiment."""
    if not exposed(salt, unit_id, ramp):
        return None
    return choose_variant(salt, unit_id, weights)
