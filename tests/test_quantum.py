"""Quantum optimisation: QUBO algebra against brute force, classical solvers, QAOA and VQE on the
Aer simulator (small instances; timings only in bench/quantum), and the assets on platform data."""

import itertools

import dagster as dg
import numpy as np
import pytest

from dwc_pipelines import enrichment, ingestion, quantum
from dwc_pipelines.quantum import problems
from dwc_pipelines.quantum.qubo import QUBO, exact, greedy, simulated_annealing
from dwc_pipelines.quantum.solvers import interpolate, qaoa, vqe
from dwc_resources.quantum import QuantumResource, QubitLimitExceeded

from .test_ingestion import PROSE


def random_qubo(n: int, seed: int) -> QUBO:
    rng = np.random.default_rng(seed)
    return QUBO(np.triu(rng.normal(size=(n, n))), offset=0.7)


def test_energies_diagonal_and_ising_agree_with_brute_force():
    q = random_qubo(6, 1)
    h, J, const = q.ising()
    d = q.diagonal()
    for index, x in enumerate(itertools.product([0, 1], repeat=6)):
        x = np.array(x[::-1])  # qubit i is bit i of the index
        z = 1 - 2 * x
        assert d[index] == pytest.approx(q.energy(x))
        assert q.energy(x) == pytest.approx(h @ z + z @ J @ z + const)
    x, e = exact(q)
    assert e == pytest.approx(d.min()) and q.energy(x) == pytest.approx(e)


def test_classical_heuristics_reach_the_optimum_on_small_instances():
    for seed in range(3):
        W = problems.random_regular_graph(10, 3, seed)
        q = problems.maxcut(W)
        _, best = exact(q)
        assert simulated_annealing(q, seed=seed)[1] == pytest.approx(best)
        assert greedy(q, starts=50, seed=seed)[1] >= best - 1e-9
        assert W.sum(axis=1).tolist() == [3.0] * 10, "3-regular"


def test_problem_encodings():
    A = np.array([[1.0, 0.1], [0.1, 1.0], [0.9, 0.2]])
    x, _ = exact(problems.assignment(A, balance=0.1))
    assert problems.decode_assignment(x, 3, 2) == [0, 1, 0]
    rel = np.array([1.0, 1.0, 1.0, 0.2])
    sim = np.array([[1, 0.9, 0, 0], [0.9, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    x, _ = exact(problems.diverse_selection(rel, sim, k=2))
    assert x.sum() == 2 and x[2] == 1 and not (x[0] and x[1]), "two relevant items that are not near-duplicates"
    W = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)
    x, e = exact(problems.maxcut(W))
    assert problems.cut_value(W, x) == -e == 2.0


def test_qaoa_and_vqe_on_the_simulator():
    backend = QuantumResource(seed=3)
    W = problems.random_regular_graph(6, 3, 2)
    q = problems.maxcut(W)
    _, optimum = exact(q)
    p1 = qaoa(q, backend, p=1, restarts=2, maxiter=80)
    assert p1.expected_energy / optimum >= 0.6924, "Farhi et al.: p=1 guarantees 0.6924 on 3-regular graphs"
    p2 = qaoa(q, backend, p=2, restarts=1, maxiter=120, init=interpolate(p1.params, 2))
    assert p2.expected_energy <= p1.expected_energy + 1e-6, "a deeper circuit started from the shallower optimum"
    assert p2.energy == pytest.approx(optimum) and sum(p2.distribution.values()) == backend.shots
    v = vqe(problems.maxcut(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)), backend, reps=1)
    assert v.energy == pytest.approx(-2.0)
    shots = QuantumResource(backend="aer_shots", shots=2000, noise=True)
    noisy = qaoa(q, shots, p=1, restarts=1, maxiter=40)
    assert noisy.energy <= optimum * 0.8, "shots and noise: still a good cut"
    with pytest.raises(QubitLimitExceeded, match="limited to 4"):
        qaoa(q, QuantumResource(max_qubits=4), p=1)


def test_assets_solve_platform_problems_and_fall_back_when_too_big(env, instance):
    for i, lead in enumerate(
        [
            "The contract terminates on notice.",
            "Invoice total due with VAT.",
            "The board approved the minutes.",
            "The report shows quarterly results.",
        ]
    ):
        env.write(f"d{i}.txt", lead + " " + PROSE)
    assert env.run_ingest(instance).success
    res = env.resources()
    defs = dg.Definitions.merge(ingestion.defs, enrichment.defs, quantum.defs, dg.Definitions(resources=res))
    enrich = dg.define_asset_job("enrich", selection=dg.AssetSelection.assets(["ai", "document_enrichment"]))
    assert (
        dg.Definitions.merge(defs, dg.Definitions(jobs=[enrich]))
        .resolve_job_def("enrich")
        .execute_in_process(instance=instance)
        .success
    )
    config = {
        "ops": {
            "quantum__workload_assignment": {"config": {"documents": 3, "max_depth": 2}},
            "quantum__diverse_selection": {"config": {"documents": 4, "k": 2, "max_depth": 1}},
            "quantum__similarity_maxcut": {"config": {"documents": 4, "max_depth": 1}},
        }
    }
    result = defs.resolve_job_def("quantum_job").execute_in_process(instance=instance, run_config=config)
    assert result.success
    rows = env.query("""SELECT problem, method, depth, approximation_ratio FROM quantum.results
                        WHERE problem = 'workload_assignment' ORDER BY method, depth""")
    assert [(m, d) for _, m, d, _ in rows] == [
        ("annealing", None),
        ("exact", None),
        ("qaoa", 1),
        ("qaoa", 2),
        ("vqe", 2),
    ]
    assert all(r is not None and 0 <= r <= 1 for *_, r in rows) and rows[1][3] == 1.0
    import json

    [(classical,)] = env.query("SELECT DISTINCT classical FROM quantum.results WHERE problem = 'workload_assignment'")
    assert set(json.loads(classical)) == {"exact", "annealing"}, "every row carries the classical answers"
    meta = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.all_events
        if e.is_step_materialization
    }
    assert meta["quantum/workload_assignment"]["bitstrings"].value.startswith("![Measured bitstrings")
    assert meta["quantum/workload_assignment"]["ratio_per_depth"].value.startswith("![QAOA approximation ratio")

    small = dg.Definitions.merge(
        ingestion.defs,
        enrichment.defs,
        quantum.defs,
        dg.Definitions(resources={**res, "quantum": QuantumResource(max_qubits=4)}),
    )
    fallback = small.resolve_job_def("quantum_job").execute_in_process(instance=instance, run_config=config)
    assert fallback.success, "too many qubits is a recorded fallback, not a failure"
    notes = env.query("SELECT note FROM quantum.results WHERE method = 'qaoa' AND energy IS NULL")
    assert notes and all(n.startswith("fallback to annealing") for (n,) in notes)


def test_algorithm_catalogue_matches_theory(env, instance):
    from dwc_pipelines.quantum import catalogue

    backend = QuantumResource()
    g = catalogue.grover(backend, 4, 3, iterations=1)
    assert g["success_probability"] == pytest.approx(g["theory"]) and g["theory"] == pytest.approx(0.47265625)
    assert catalogue.qft_check(3)["max_abs_difference"] < 1e-9
    shor = catalogue.order_finding(backend, 15, 7)
    assert shor["order"] == 4 and shor["factors"] == [3, 5] and shor["success_probability"] > 0.4
    assert catalogue.vqe_h2(backend)["chemical_accuracy"]
    kernel = catalogue.quantum_kernel_classifier()
    assert kernel["kernel_psd"] and kernel["quantum_kernel_accuracy"] >= 0.7
    with pytest.raises(ValueError, match="shares a factor"):
        catalogue.order_finding(backend, 15, 5)

    defs = dg.Definitions.merge(quantum.defs, dg.Definitions(resources=env.resources()))
    job = defs.resolve_job_def("quantum_algorithms_job")
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(["quantum", "algorithms", n]) for n in ("grover", "qft", "shor_15", "vqe_h2")],
    )
    assert result.success
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert len(checks) == 4 and all(c.passed for c in checks)
    assert env.query("SELECT count(*), bool_and(passed) FROM quantum.algorithm_checks") == [(4, True)]
