"""Platform problems as QUBOs (plain NumPy)."""

from __future__ import annotations

import numpy as np

from .qubo import QUBO


def maxcut(weights: np.ndarray) -> QUBO:
    """Two-way partition maximising the weight of edges cut: minimise -sum w_ij (x_i + x_j - 2 x_i x_j)."""
    n = weights.shape[0]
    Q = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            w = weights[i, j]
            if w:
                Q[i, i] -= w
                Q[j, j] -= w
                Q[i, j] += 2 * w
    return QUBO(Q)


def cut_value(weights: np.ndarray, bits) -> float:
    b = np.asarray(bits)
    return float(sum(weights[i, j] for i in range(len(b)) for j in range(i + 1, len(b)) if b[i] != b[j]))


def diverse_selection(
    relevance: np.ndarray, similarity: np.ndarray, k: int, redundancy: float = 1.0, penalty: float | None = None
) -> QUBO:
    """Pick k items with the most relevance (e.g. topic coverage) and the least pairwise similarity:
    minimise -sum r_i x_i + redundancy * sum_{i<j} s_ij x_i x_j + P (sum x_i - k)^2."""
    n = len(relevance)
    P = (
        penalty
        if penalty is not None
        else 2.0 * (float(np.abs(relevance).max()) + redundancy * float(np.abs(similarity).max()) * n)
    )
    Q = np.zeros((n, n))
    for i in range(n):
        Q[i, i] = -relevance[i] + P * (1 - 2 * k)
        for j in range(i + 1, n):
            Q[i, j] = redundancy * similarity[i, j] + 2 * P
    return QUBO(Q, offset=P * k * k)


def assignment(affinity: np.ndarray, balance: float = 0.5, penalty: float | None = None) -> QUBO:
    """Assign each of D items to one of W workers (variable d*W + w): maximise affinity (topic match),
    balance the load, exactly one worker per item:
    minimise -sum a_dw x_dw + balance * sum_w (sum_d x_dw - D/W)^2 + P sum_d (sum_w x_dw - 1)^2."""
    D, W = affinity.shape
    n = D * W
    P = penalty if penalty is not None else 2.0 * (float(np.abs(affinity).max()) + balance * D)
    Q = np.zeros((n, n))
    offset = 0.0
    target = D / W

    def v(d, w):
        return d * W + w

    for d in range(D):
        for w in range(W):
            Q[v(d, w), v(d, w)] += -affinity[d, w] - P  # P (x^2 - 2x) from the one-hot term, x^2 = x
            for w2 in range(w + 1, W):
                Q[v(d, w), v(d, w2)] += 2 * P
        offset += P
    for w in range(W):
        for d in range(D):
            Q[v(d, w), v(d, w)] += balance * (1 - 2 * target)
            for d2 in range(d + 1, D):
                Q[v(d, w), v(d2, w)] += 2 * balance
        offset += balance * target * target
    return QUBO(Q, offset=offset)


def decode_assignment(bits, D: int, W: int) -> list[int | None]:
    """The worker of each item, None where the answer broke the one-worker rule."""
    b = np.asarray(bits).reshape(D, W)
    return [int(np.argmax(row)) if row.sum() == 1 else None for row in b]


def random_regular_graph(n: int, degree: int, seed: int) -> np.ndarray:
    """A random d-regular graph's weight matrix (networkx-free: pairing model with retries)."""
    rng = np.random.default_rng(seed)
    while True:
        stubs = np.repeat(np.arange(n), degree)
        rng.shuffle(stubs)
        pairs = stubs.reshape(-1, 2)
        if np.any(pairs[:, 0] == pairs[:, 1]):
            continue
        edges = {tuple(sorted(map(int, p))) for p in pairs}
        if len(edges) != len(pairs):
            continue
        W = np.zeros((n, n))
        for i, j in edges:
            W[i, j] = W[j, i] = 1.0
        return W
