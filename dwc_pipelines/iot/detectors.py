"""Anomaly detectors for one series (numpy; each returns a score in [0, 1] per point, causal: a
point's score uses only the points before it, so the same code scores a live stream).

- `windowed_gaussian`: NAB's baseline, re-implemented (a Gaussian over a sliding window; the score
  is one minus the two-sided tail probability of the new point).
- `ewma_gaussian`: streaming-friendly. An exponentially weighted mean and variance (constant
  memory per series) replace the window; the score is the same two-sided tail probability.
- `isolation_forest`: learned. Window features (level, change, deviation from a rolling mean,
  rolling spread) scored by an isolation forest that is refitted on the history seen so far at
  fixed intervals; the score is calibrated against the scores of that history.

Our two detectors report once per burst (`novelty`): a point keeps its score only when it beats the
scores of the points just before it, so a long excursion raises one alert, not hundreds.
"""

from __future__ import annotations

import math

import numpy as np

DETECTORS = ("ewma_gaussian", "isolation_forest")
# Chosen on the NAB subset by bench/anomaly.py (corpus-optimal thresholds, standard profile).
THRESHOLDS = {"ewma_gaussian": 0.9996, "isolation_forest": 0.9999, "windowed_gaussian": 1.0}


def _q(z: np.ndarray) -> np.ndarray:
    """Upper tail probability of the standard normal."""
    from scipy.special import erfc

    return 0.5 * erfc(z / math.sqrt(2.0))


def windowed_gaussian(values: np.ndarray, window: int = 6400, step: int = 100) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    out = np.zeros(len(values))
    buf: list[float] = []
    pending: list[float] = []
    mean = std = 0.0
    for i, x in enumerate(values):
        if buf:
            xp = x if x >= mean else 2 * mean - x
            z = (xp - mean) / std if std > 0 else (0.0 if xp == mean else 1e6)
            out[i] = 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))
        if len(buf) < window:
            buf.append(x)
            mean, std = float(np.mean(buf)), float(np.std(buf))
        else:
            pending.append(x)
            if len(pending) == step:
                buf = buf[step:] + pending
                pending = []
                mean, std = float(np.mean(buf)), float(np.std(buf))
    return out


def ewma_gaussian(values: np.ndarray, alpha: float = 0.0002, warmup: int = 30) -> np.ndarray:
    """A Gaussian whose mean and variance are exponentially weighted (a memory of about 1/alpha
    points): the streaming form of the windowed Gaussian, two numbers of state per series."""
    values = np.asarray(values, dtype=float)
    out = np.zeros(len(values))
    if not len(values):
        return out
    mean, var = values[0], 0.0
    for i in range(1, len(values)):
        x = values[i]
        if i > warmup and var > 0:
            out[i] = 1.0 - 0.5 * math.erfc(abs(x - mean) / math.sqrt(var) / math.sqrt(2.0))
        a = max(alpha, 1.0 / (i + 1))  # an exact mean and variance until the memory fills
        d = x - mean
        mean += a * d
        var = (1 - a) * (var + a * d * d)
    return out


def novelty(scores: np.ndarray, k: int = 120) -> np.ndarray:
    """Alert once per burst: a point keeps its score only when it beats every score of the k points
    before it (a deque of k scores per series when streaming)."""
    from collections import deque

    out = np.zeros(len(scores))
    window: deque = deque()  # indices of a decreasing run of scores (sliding-window maximum)
    for i, s in enumerate(scores):
        while window and window[0] < i - k:
            window.popleft()
        if i and (not window or s > scores[window[0]]):
            out[i] = s
        while window and scores[window[-1]] <= s:
            window.pop()
        window.append(i)
    return out


def _features(values: np.ndarray, k: int = 12) -> np.ndarray:
    import pandas as pd

    s = pd.Series(values)
    prev_mean = s.rolling(k, min_periods=1).mean().shift(1).bfill()
    prev_std = s.rolling(k, min_periods=2).std().shift(1).bfill().fillna(0.0)
    diff = s.diff().fillna(0.0)
    scale = float(np.nanstd(values)) or 1.0
    return np.column_stack([values / scale, diff / scale, (values - prev_mean) / scale, prev_std / scale])


def isolation_forest(
    values: np.ndarray, initial: float = 0.15, refit_every: float = 0.15, seed: int = 0, max_train: int = 4000
) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    values = np.asarray(values, dtype=float)
    n = len(values)
    out = np.zeros(n)
    if n < 20:
        return out
    feats = _features(values)
    start = max(int(n * initial), 10)
    step = max(int(n * refit_every), 50)
    for lo in range(start, n, step):
        hi = min(lo + step, n)
        train = feats[max(0, lo - max_train) : lo]
        model = IsolationForest(n_estimators=100, random_state=seed).fit(train)
        ref = -model.score_samples(train)
        s = -model.score_samples(feats[lo:hi])
        # calibrated against the history: the fraction of history less anomalous, with the tail stretched
        mu, sd = float(np.mean(ref)), float(np.std(ref)) or 1e-6
        out[lo:hi] = 1.0 - _q((s - mu) / sd) * 1.0
    return out


def score(detector: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if detector == "ewma_gaussian":
        return novelty(ewma_gaussian(values))
    if detector == "isolation_forest":
        return novelty(isolation_forest(values))
    if detector == "windowed_gaussian":
        return windowed_gaussian(values)
    raise ValueError(f"unknown detector {detector!r}; known: {', '.join(THRESHOLDS)}")
