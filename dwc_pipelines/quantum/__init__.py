"""Quantum optimisation: platform problems as QUBOs, QAOA and VQE on Qiskit Aer, classical baselines."""

import dagster as dg

from .assets import quantum_assets

quantum_job = dg.define_asset_job("quantum_job", selection=dg.AssetSelection.groups("quantum"),
                                  description="Solve the platform's optimisation problems with QAOA, VQE and classical solvers.")

defs = dg.Definitions(assets=quantum_assets, jobs=[quantum_job])
