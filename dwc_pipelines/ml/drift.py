"""When to retrain (plain Python): label growth and prediction drift."""

from __future__ import annotations

import math


def psi(expected: dict[str, float], actual: dict[str, float], eps: float = 1e-4) -> float:
    """Population stability index between two category distributions (counts or shares).
    Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 a shift worth retraining for."""
    cats = set(expected) | set(actual)
    te, ta = sum(expected.values()) or 1, sum(actual.values()) or 1
    total = 0.0
    for c in cats:
        p = max(expected.get(c, 0) / te, eps)
        q = max(actual.get(c, 0) / ta, eps)
        total += (q - p) * math.log(q / p)
    return total


def labels_grew(baseline: int, current: int, fraction: float, minimum: int = 5) -> bool:
    return current - baseline >= max(minimum, math.ceil(baseline * fraction))
