"""The algorithm catalogue as assets, each with a check of its result against theory."""

import json
import math
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from dwc_resources import LakehouseResource
from dwc_resources.quantum import QuantumResource

from ..ingestion.assets import OWNERS
from ..shared import markdown_table
from . import catalogue

DDL = """
CREATE SCHEMA IF NOT EXISTS quantum;
CREATE TABLE IF NOT EXISTS quantum.algorithm_checks (
    algorithm VARCHAR NOT NULL, result JSON NOT NULL, passed BOOLEAN NOT NULL, checked_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
"""


class AlgorithmConfig(dg.Config):
    parameters: dict = Field(
        default_factory=dict,
        description="grover: search_space_size and target_item; qft: num_qubits. Empty: the catalogue's defaults",
    )


def _grover(q, p: dict) -> dict:
    size = int(p.get("search_space_size", 32))
    if not 2 <= size <= 2**12:
        raise dg.Failure(f"search_space_size {size} is outside 2..4096 (12 qubits)")
    n = max(1, math.ceil(math.log2(size)))
    target = int(p.get("target_item", 19 if n == 5 else size - 1))
    if not 0 <= target < size:
        raise dg.Failure(f"target_item {target} is not in the search space 0..{size - 1}")
    return catalogue.grover(q, n, target)


# name -> (what runs, whether the result agrees with theory, what the check says)
ALGORITHMS = {
    "grover": (
        _grover,
        lambda r: r["error"] < (1e-6 if r.get("exact", True) else 0.05),
        "success probability equals sin^2((2k+1) theta)",
    ),
    "qft": (
        lambda q, p: catalogue.qft_check(int(p.get("num_qubits", 4))),
        lambda r: r["max_abs_difference"] < 1e-9,
        "QFT amplitudes equal sqrt(N) * numpy.fft.ifft",
    ),
    "shor_15": (
        lambda q, p: catalogue.order_finding(q, 15, 7),
        lambda r: r["order"] == 4 and r["factors"] == [3, 5],
        "order of 7 mod 15 is 4, factors 3 and 5",
    ),
    "shor_21": (
        lambda q, p: catalogue.order_finding(q, 21, 2),
        lambda r: r["order"] == 6 and r["factors"] == [3, 7],
        "order of 2 mod 21 is 6, factors 3 and 7",
    ),
    "vqe_h2": (
        lambda q, p: catalogue.vqe_h2(q),
        lambda r: r["chemical_accuracy"],
        "VQE within chemical accuracy (1.6 mHa) of exact diagonalisation",
    ),
    "quantum_kernel": (
        lambda q, p: catalogue.quantum_kernel_classifier(),
        lambda r: r["kernel_psd"] and r["quantum_kernel_accuracy"] >= 0.7,
        "a valid (PSD) kernel, and a classifier that learns (>= 0.7 accuracy)",
    ),
}


def _algorithm_asset(name: str) -> dg.AssetsDefinition:
    run, agrees, claim = ALGORITHMS[name]
    key = dg.AssetKey(["quantum", "algorithms", name])

    @dg.asset(
        key=key,
        group_name="quantum_algorithms",
        kinds={"qiskit"},
        owners=OWNERS,
        description=f"{name}: {claim}.",
        check_specs=[dg.AssetCheckSpec("matches_theory", asset=key, description=claim)],
    )
    def _algorithm(
        context: dg.AssetExecutionContext,
        config: AlgorithmConfig,
        quantum: QuantumResource,
        warehouse: LakehouseResource,
    ):
        result = run(quantum, config.parameters)
        if config.parameters:
            result["parameters"] = config.parameters
        result["exact"] = quantum.backend == "aer_statevector"
        passed = bool(agrees(result))
        with warehouse.writer(DDL) as con:
            con.execute(
                "INSERT INTO quantum.algorithm_checks VALUES (?, ?, ?, ?, ?)",
                [
                    name,
                    json.dumps(result, default=str),
                    passed,
                    datetime.now(UTC).replace(tzinfo=None),
                    context.run.run_id,
                ],
            )
        context.log.info(f"{name}: {result}")
        numbers = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return dg.MaterializeResult(
            metadata={
                **numbers,
                "result": dg.MetadataValue.md(markdown_table(["measure", "value"], list(result.items()))),
            },
            check_results=[dg.AssetCheckResult(check_name="matches_theory", passed=passed, metadata={"claim": claim})],
        )

    return _algorithm


algorithm_assets = [_algorithm_asset(n) for n in ALGORITHMS]
