"""QUBO models and their classical solvers (plain NumPy, no Dagster, no Qiskit).

A QUBO minimises x^T Q x + offset over binary x (Q upper-triangular, linear terms on the diagonal).
The exact solver enumerates every assignment (vectorised, up to ~24 variables); simulated
annealing and greedy descent are the heuristics beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class QUBO:
    Q: np.ndarray  # n x n, upper triangular
    offset: float = 0.0
    names: list[str] | None = None

    @property
    def n(self) -> int:
        return self.Q.shape[0]

    def energy(self, x) -> float:
        x = np.asarray(x, dtype=float)
        return float(x @ self.Q @ x + self.offset)

    def energies(self, X: np.ndarray) -> np.ndarray:
        """Energies of many assignments at once (rows of X)."""
        return np.einsum("bi,ij,bj->b", X, self.Q, X) + self.offset

    def diagonal(self) -> np.ndarray:
        """The energy of every basis state, indexed like a Qiskit statevector (qubit i is bit i);
        computed once per QUBO (2^n entries), however many solvers ask."""
        cached = self.__dict__.get("_diagonal")
        if cached is None:
            cached = self.__dict__["_diagonal"] = self._diagonal()
        return cached

    def _diagonal(self) -> np.ndarray:
        n = self.n
        idx = np.arange(2**n, dtype=np.uint32)
        out = np.full(2**n, self.offset, dtype=np.float64)
        bits = [((idx >> i) & 1).astype(np.float64) for i in range(n)]
        for i in range(n):
            if self.Q[i, i]:
                out += self.Q[i, i] * bits[i]
            for j in range(i + 1, n):
                if self.Q[i, j]:
                    out += self.Q[i, j] * bits[i] * bits[j]
        return out

    def ising(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(h, J, constant) with x = (1 - z) / 2: energy = sum h_i z_i + sum_{i<j} J_ij z_i z_j + constant."""
        n = self.n
        Q = np.triu(self.Q)
        h = np.zeros(n)
        J = np.zeros((n, n))
        const = self.offset
        for i in range(n):
            const += Q[i, i] / 2
            h[i] -= Q[i, i] / 2
            for j in range(i + 1, n):
                if Q[i, j]:
                    const += Q[i, j] / 4
                    h[i] -= Q[i, j] / 4
                    h[j] -= Q[i, j] / 4
                    J[i, j] += Q[i, j] / 4
        return h, J, const


def bits_of(index: int, n: int) -> np.ndarray:
    return np.array([(index >> i) & 1 for i in range(n)], dtype=int)


def exact(q: QUBO, max_vars: int = 24) -> tuple[np.ndarray, float]:
    """The optimum by enumeration (ties: the lowest index)."""
    if q.n > max_vars:
        raise ValueError(f"{q.n} variables is too many to enumerate (limit {max_vars})")
    d = q.diagonal()
    best = int(np.argmin(d))
    return bits_of(best, q.n), float(d[best])


def greedy(q: QUBO, starts: int = 20, seed: int = 0) -> tuple[np.ndarray, float]:
    """Best of several single-flip descents from random starts."""
    rng = np.random.default_rng(seed)
    S = q.Q + q.Q.T - np.diag(np.diag(q.Q))
    best_x, best_e = None, math.inf
    for _ in range(starts):
        x = rng.integers(0, 2, q.n)
        improved = True
        while improved:
            improved = False
            # Energy change of flipping i: (1 - 2x_i) * (Q_ii + sum_{j!=i} S_ij x_j)
            local = np.diag(q.Q) + S @ x - np.diag(S) * x
            delta = (1 - 2 * x) * local
            i = int(np.argmin(delta))
            if delta[i] < -1e-12:
                x[i] ^= 1
                improved = True
        e = q.energy(x)
        if e < best_e:
            best_x, best_e = x.copy(), e
    return best_x, best_e


def simulated_annealing(
    q: QUBO, sweeps: int = 2000, restarts: int = 4, seed: int = 0, t_start: float | None = None, t_end: float = 1e-3
) -> tuple[np.ndarray, float]:
    """Metropolis single-flip annealing on a geometric schedule, best of a few restarts."""
    rng = np.random.default_rng(seed)
    S = q.Q + q.Q.T - np.diag(np.diag(q.Q))
    scale = float(np.abs(q.Q).max()) or 1.0
    t0 = t_start or 2.0 * scale
    temps = t0 * (t_end / t0) ** (np.arange(sweeps) / max(sweeps - 1, 1))
    best_x, best_e = None, math.inf
    for _ in range(restarts):
        x = rng.integers(0, 2, q.n)
        local = np.diag(q.Q) + S @ x - np.diag(S) * x
        e = q.energy(x)
        for t in temps:
            for i in rng.permutation(q.n):
                delta = (1 - 2 * x[i]) * local[i]
                if delta <= 0 or rng.random() < math.exp(-delta / t):
                    x[i] ^= 1
                    e += delta
                    sign = 1 if x[i] else -1
                    local += sign * S[:, i]
                    local[i] -= sign * S[i, i]
            if e < best_e - 1e-12:
                best_x, best_e = x.copy(), e
    return best_x, float(q.energy(best_x))
