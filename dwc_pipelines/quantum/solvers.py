"""QAOA and VQE for QUBOs on a Qiskit backend, each measured against the classical answers
(plain Python; the backend is whatever QuantumResource was configured)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from .qubo import QUBO, bits_of, exact, simulated_annealing


def cost_operator(q: QUBO):
    """The QUBO's Ising Hamiltonian as a SparsePauliOp (its constant dropped: it shifts nothing)."""
    from qiskit.quantum_info import SparsePauliOp

    h, J, _ = q.ising()
    terms = [("Z", [i], float(h[i])) for i in range(q.n) if abs(h[i]) > 1e-12]
    terms += [("ZZ", [i, j], float(J[i, j])) for i in range(q.n) for j in range(i + 1, q.n) if abs(J[i, j]) > 1e-12]
    if not terms:
        terms = [("Z", [0], 0.0)]
    return SparsePauliOp.from_sparse_list(terms, num_qubits=q.n)


@dataclass
class QuantumAnswer:
    method: str
    bits: np.ndarray
    energy: float
    expected_energy: float
    depth: int
    shots: int
    evaluations: int
    seconds: float
    distribution: dict[int, int] = field(default_factory=dict)
    params: list[float] = field(default_factory=list)


def _expectation(backend, circuit, diag: np.ndarray):
    run = backend.prepare(circuit)

    def f(theta):
        return float(run(theta) @ diag)

    return f


def _best_sample(backend, circuit, theta, q: QUBO, diag: np.ndarray):
    counts = backend.sample(circuit.assign_parameters(theta))
    best = min(counts, key=lambda s: (diag[s], -counts[s]))
    return best, counts


def qaoa(
    q: QUBO, backend, p: int = 1, restarts: int = 3, maxiter: int = 120, seed: int = 0, init: list[float] | None = None
) -> QuantumAnswer:
    """QAOA of depth p: COBYLA over (gamma, beta) from several starts (the first from `init`, e.g.
    the optimum of depth p-1 interpolated), then the best of the sampled bitstrings."""
    from qiskit.circuit.library import QAOAAnsatz

    backend.check(q.n)
    t0 = time.perf_counter()
    diag = q.diagonal()
    op = cost_operator(q)
    scale = float(np.abs(op.coeffs).max()) or 1.0
    circuit = QAOAAnsatz(op, reps=p).decompose()
    inside = backend.prepare_expectation(circuit, op)
    constant = q.ising()[2]
    f = (lambda theta: inside(theta) + constant) if inside else _expectation(backend, circuit, diag)
    rng = np.random.default_rng(seed)
    starts = [np.asarray(init)] if init is not None else []
    while len(starts) < restarts:
        # QAOAAnsatz orders its parameters beta_1..beta_p, gamma_1..gamma_p; gamma is scaled to the
        # Hamiltonian's coefficients, beta in (0, pi/2), where good optima live.
        starts.append(np.concatenate([rng.uniform(0.1, 1.2, p), rng.uniform(0.1, 1.0, p) / scale]))
    best, evals = None, 0
    for x0 in starts:
        res = minimize(f, x0, method="COBYLA", options={"maxiter": maxiter, "rhobeg": 0.3})
        evals += res.nfev
        if best is None or res.fun < best.fun:
            best = res
    theta = best.x
    state, counts = _best_sample(backend, circuit, theta, q, diag)
    return QuantumAnswer(
        "qaoa",
        bits_of(state, q.n),
        float(diag[state]),
        float(best.fun),
        p,
        backend.shots,
        evals,
        time.perf_counter() - t0,
        counts,
        [float(t) for t in theta],
    )


def interpolate(params: list[float], p: int) -> list[float]:
    """INTERP (Zhou et al. 2020): depth-p parameters from the depth-(p-1) optimum (beta..., gamma...)."""
    prev = len(params) // 2
    out = []
    for half in (params[:prev], params[prev:]):
        half = [0.0, *half, 0.0]
        out += [((i - 1) / p) * half[i - 1] + ((p - i + 1) / p) * half[i] for i in range(1, p + 1)]
    return out


def vqe(q: QUBO, backend, reps: int = 2, restarts: int = 2, maxiter: int = 200, seed: int = 0) -> QuantumAnswer:
    """VQE with a hardware-efficient ansatz (RY layers and a line of CX), then the best sample."""
    from qiskit.circuit.library import real_amplitudes

    backend.check(q.n)
    t0 = time.perf_counter()
    diag = q.diagonal()
    circuit = real_amplitudes(q.n, reps=reps, entanglement="linear")
    f = _expectation(backend, circuit, diag)
    rng = np.random.default_rng(seed)
    best, evals = None, 0
    for _ in range(restarts):
        res = minimize(
            f,
            rng.uniform(0, np.pi, circuit.num_parameters),
            method="COBYLA",
            options={"maxiter": maxiter, "rhobeg": 0.5},
        )
        evals += res.nfev
        if best is None or res.fun < best.fun:
            best = res
    state, counts = _best_sample(backend, circuit, best.x, q, diag)
    return QuantumAnswer(
        "vqe",
        bits_of(state, q.n),
        float(diag[state]),
        float(best.fun),
        reps,
        backend.shots,
        evals,
        time.perf_counter() - t0,
        counts,
        [float(t) for t in best.x],
    )


def ratio(value: float, optimum: float, worst: float) -> float:
    """How close a minimisation answer is to the optimum: 1 at the optimum, 0 at the worst state."""
    return 1.0 if worst == optimum else float((worst - value) / (worst - optimum))


def classical(q: QUBO, exact_limit: int = 22, seed: int = 0) -> dict:
    out = {}
    t0 = time.perf_counter()
    if q.n <= exact_limit:
        x, e = exact(q, exact_limit)
        out["exact"] = {"bits": x, "energy": e, "seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    x, e = simulated_annealing(q, sweeps=400, restarts=3, seed=seed)
    out["annealing"] = {"bits": x, "energy": e, "seconds": time.perf_counter() - t0}
    return out
