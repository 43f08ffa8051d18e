"""Quantum optimisation: platform problems as QUBOs, QAOA and VQE on Qiskit Aer, classical baselines."""

import dagster as dg

from .algorithms import algorithm_assets
from .assets import quantum_assets

quantum_job = dg.define_asset_job(
    "quantum_job",
    selection=dg.AssetSelection.groups("quantum"),
    description="Solve the platform's optimisation problems with QAOA, VQE and classical solvers.",
)

algorithms_job = dg.define_asset_job(
    "quantum_algorithms_job",
    selection=dg.AssetSelection.groups("quantum_algorithms"),
    description="Run the algorithm catalogue and check each result against theory.",
)

defs = dg.Definitions(assets=[*quantum_assets, *algorithm_assets], jobs=[quantum_job, algorithms_job])
