"""The algorithm catalogue as assets, each with a check of its result against theory."""

import json
from datetime import UTC, datetime

import dagster as dg

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

# name -> (what runs, whether the result agrees with theory, what the check says)
ALGORITHMS = {
    "grover": (
        lambda q: catalogue.grover(q, 5, 19),
        lambda r: r["error"] < (1e-6 if r.get("exact", True) else 0.05),
        "success probability equals sin^2((2k+1) theta)",
    ),
    "qft": (
        lambda q: catalogue.qft_check(4),
        lambda r: r["max_abs_difference"] < 1e-9,
        "QFT amplitudes equal sqrt(N) * numpy.fft.ifft",
    ),
    "shor_15": (
        lambda q: catalogue.order_finding(q, 15, 7),
        lambda r: r["order"] == 4 and r["factors"] == [3, 5],
        "order of 7 mod 15 is 4, factors 3 and 5",
    ),
    "shor_21": (
        lambda q: catalogue.order_finding(q, 21, 2),
        lambda r: r["order"] == 6 and r["factors"] == [3, 7],
        "order of 2 mod 21 is 6, factors 3 and 7",
    ),
    "vqe_h2": (
        lambda q: catalogue.vqe_h2(q),
        lambda r: r["chemical_accuracy"],
        "VQE within chemical accuracy (1.6 mHa) of exact diagonalisation",
    ),
    "quantum_kernel": (
        lambda q: catalogue.quantum_kernel_classifier(),
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
    def _algorithm(context: dg.AssetExecutionContext, quantum: QuantumResource, warehouse: LakehouseResource):
        result = run(quantum)
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
