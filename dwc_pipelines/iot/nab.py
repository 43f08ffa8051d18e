"""The Numenta Anomaly Benchmark's scoring (standard profile), re-implemented from NAB's sweeper:

- the first 15% of each series (at most 750 points) is probationary and not scored;
- a detection inside a labelled window earns the scaled sigmoid of its position (earliest is
  best, +1 at the left edge); only the best detection per window counts;
- a detection outside every window costs A_fp times the scaled sigmoid of its distance past the
  previous window (-1 if no window came before);
- a window without detection costs A_fn;
- one threshold per detector over the whole corpus, the one that maximises the score;
- normalised: 100 * (raw - null) / (perfect - null), null = no detections, perfect = every window
  hit at its left edge.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STANDARD = {"tp": 1.0, "fp": 0.11, "fn": 1.0}


def scaled_sigmoid(pos: float) -> float:
    return -1.0 if pos >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * pos)) - 1.0


@dataclass
class Series:
    name: str
    timestamps: list[str]
    values: np.ndarray
    windows: list[tuple[int, int]]  # inclusive index ranges


def load_corpus(root: Path) -> list[Series]:
    """Every CSV under `root` that combined_windows.json labels (timestamp,value columns)."""
    import pandas as pd

    windows = json.loads((root / "combined_windows.json").read_text())
    out = []
    for rel, spans in sorted(windows.items()):
        path = root / rel
        if not path.exists():
            continue  # the windows file also names series outside this subset
        df = pd.read_csv(path)
        ts = [t.split(".")[0] for t in df["timestamp"].astype(str)]
        index = {t: i for i, t in enumerate(ts)}
        idx = [(index[a.split(".")[0]], index[b.split(".")[0]]) for a, b in spans]
        out.append(Series(rel, ts, df["value"].to_numpy(dtype=float), idx))
    return out


def probation(n: int, percent: float = 0.15) -> int:
    return int(min(math.floor(percent * n), percent * 5000))


def sweep_weights(n: int, windows: list[tuple[int, int]], profile: dict = STANDARD) -> tuple[np.ndarray, np.ndarray]:
    """Per point: the weighted score a detection there earns, and its window id (-1 outside)."""
    weight = np.empty(n)
    window_id = np.full(n, -1)
    max_tp = scaled_sigmoid(-1.0)
    prev_right = prev_width = None
    spans = sorted(windows)
    w = 0
    i = 0
    while i < n:
        if w < len(spans) and i == spans[w][0]:
            left, right = spans[w]
            width = float(right - left + 1)
            for j in range(left, right + 1):
                weight[j] = scaled_sigmoid(-(right - j + 1) / width) * profile["tp"] / max_tp
                window_id[j] = w
            prev_right, prev_width = right, width
            w += 1
            i = right + 1
            continue
        pos = 3.0 if prev_right is None else abs(prev_right - i) / max(prev_width - 1, 1.0)
        weight[i] = scaled_sigmoid(pos) * profile["fp"]
        i += 1
    return weight, window_id


def raw_score(
    scores: np.ndarray,
    weight: np.ndarray,
    window_id: np.ndarray,
    n_windows: int,
    threshold: float,
    start: int,
    profile: dict = STANDARD,
) -> tuple[float, int, int]:
    """(score, true-positive windows, false-positive points) of one series at one threshold."""
    active = scores[start:] >= threshold
    w = weight[start:][active]
    ids = window_id[start:][active]
    fp_mask = ids < 0
    total = float(w[fp_mask].sum())
    hit = 0
    scored = {int(k) for k in np.unique(window_id[start:]) if k >= 0}
    for k in scored:
        sel = ids == k
        if sel.any():
            total += float(w[sel].max())
            hit += 1
        else:
            total -= profile["fn"]
    return total, hit, int(fp_mask.sum())


def corpus_score(
    series: list[Series], scores: dict[str, np.ndarray], thresholds=None, profile: dict = STANDARD
) -> dict:
    """The normalised NAB score at the corpus-optimal threshold, with its counts."""
    prepared = []
    null = perfect = 0.0
    for s in series:
        weight, wid = sweep_weights(len(s.values), s.windows, profile)
        start = probation(len(s.values))
        n_scored = len({int(k) for k in np.unique(wid[start:]) if k >= 0})
        null -= profile["fn"] * n_scored
        perfect += profile["tp"] * n_scored
        prepared.append((s, weight, wid, start))
    if thresholds is None:
        pooled = np.concatenate([scores[s.name] for s in series])
        thresholds = np.unique(
            np.concatenate([np.quantile(pooled, np.linspace(0.5, 1.0, 201)), 1.0 - np.logspace(-1, -8, 60), [1.0]])
        )
    best = None
    for t in thresholds:
        raw, hits, fps = 0.0, 0, 0
        for s, weight, wid, start in prepared:
            r, h, f = raw_score(scores[s.name], weight, wid, len(s.windows), float(t), start, profile)
            raw, hits, fps = raw + r, hits + h, fps + f
        if best is None or raw > best["raw"]:
            best = {"raw": raw, "threshold": float(t), "windows_hit": hits, "false_positives": fps}
    best["windows"] = int(perfect / profile["tp"]) if profile["tp"] else 0
    best["score"] = 100.0 * (best["raw"] - null) / (perfect - null) if perfect != null else 0.0
    return best
