"""The quantum backend: Qiskit Aer by default (statevector, or shots with an optional noise
model), IBM Quantum Runtime in production; a qubit limit refuses what the backend cannot hold."""

from __future__ import annotations

import dagster as dg
import numpy as np
from pydantic import Field


class QubitLimitExceeded(ValueError):
    pass


class QuantumResource(dg.ConfigurableResource):
    backend: str = Field(default="aer_statevector", description="aer_statevector | aer_shots | ibm_runtime")
    shots: int = Field(default=4096, description="Shots for sampling (and for expectations on shot backends)")
    noise: bool = Field(default=False, description="A depolarising noise model on the Aer shot simulator")
    max_qubits: int = Field(
        default=24, description="Problems needing more qubits are refused (a classical fallback runs)"
    )
    seed: int = 7
    ibm_token: str | None = Field(default=None, description="dg.EnvVar('DWC_IBM_TOKEN') for ibm_runtime")
    ibm_backend: str | None = Field(default=None, description="IBM backend name, e.g. ibm_brisbane")

    def check(self, qubits: int) -> None:
        if qubits > self.max_qubits:
            raise QubitLimitExceeded(
                f"{qubits} qubits needed, the {self.backend} backend is limited to {self.max_qubits} here: "
                "shrink the problem or raise max_qubits (statevector memory doubles per qubit)"
            )

    def _simulator(self):
        from qiskit_aer import AerSimulator

        if self.backend == "aer_statevector":
            return AerSimulator(method="statevector", seed_simulator=self.seed)
        if self.backend == "aer_shots":
            noise_model = None
            if self.noise:
                from qiskit_aer.noise import NoiseModel, depolarizing_error

                noise_model = NoiseModel()
                noise_model.add_all_qubit_quantum_error(
                    depolarizing_error(0.001, 1), ["rx", "ry", "rz", "sx", "x", "h"]
                )
                noise_model.add_all_qubit_quantum_error(depolarizing_error(0.01, 2), ["cx", "rzz", "cz"])
            return AerSimulator(method="automatic", noise_model=noise_model, seed_simulator=self.seed)
        raise ValueError(f"backend {self.backend!r} does not simulate; use aer_statevector or aer_shots")

    def probabilities(self, circuit) -> np.ndarray:
        """The probability of every basis state (exact on statevector, estimated from shots otherwise)."""
        from qiskit import transpile

        self.check(circuit.num_qubits)
        if self.backend == "ibm_runtime":
            return self._runtime_counts(circuit)
        sim = self._simulator()
        if self.backend == "aer_statevector":
            c = circuit.remove_final_measurements(inplace=False)
            c.save_probabilities()
            return np.asarray(sim.run(transpile(c, sim)).result().data()["probabilities"])
        c = circuit.copy()
        if not c.num_clbits:
            c.measure_all()
        counts = sim.run(transpile(c, sim), shots=self.shots).result().get_counts()
        return _counts_to_probabilities(counts, circuit.num_qubits)

    def prepare(self, circuit):
        """theta -> probabilities for a parametrised circuit, transpiled once: what an optimiser
        calls hundreds of times. (IBM Runtime: one job per call, through probabilities().)"""
        from qiskit import transpile

        self.check(circuit.num_qubits)
        if self.backend == "ibm_runtime":
            return lambda theta: self.probabilities(circuit.assign_parameters(theta))
        sim = self._simulator()
        order = {p.name: i for i, p in enumerate(circuit.parameters)}
        if self.backend == "aer_statevector":
            c = circuit.remove_final_measurements(inplace=False)
            c.save_probabilities()
            compiled = transpile(c, sim)

            def run(theta):
                binds = [{p: [float(theta[order[p.name]])] for p in compiled.parameters}]
                return np.asarray(sim.run(compiled, parameter_binds=binds).result().data(0)["probabilities"])

            return run
        c = circuit.copy()
        if not c.num_clbits:
            c.measure_all()
        compiled = transpile(c, sim)

        def run_shots(theta):
            binds = [{p: [float(theta[order[p.name]])] for p in compiled.parameters}]
            counts = sim.run(compiled, shots=self.shots, parameter_binds=binds).result().get_counts(0)
            return _counts_to_probabilities(counts, circuit.num_qubits)

        return run_shots

    def prepare_expectation(self, circuit, operator):
        """theta -> <operator>, computed inside the simulator (no 2^n probabilities cross into Python);
        None on backends that only sample, where the caller averages over shots instead."""
        if self.backend != "aer_statevector":
            return None
        from qiskit import transpile

        self.check(circuit.num_qubits)
        sim = self._simulator()
        c = circuit.remove_final_measurements(inplace=False)
        c.save_expectation_value(operator, list(range(circuit.num_qubits)))
        compiled = transpile(c, sim)
        params = list(compiled.parameters)
        order = {p.name: i for i, p in enumerate(circuit.parameters)}

        def run(theta):
            binds = [{p: [float(theta[order[p.name]])] for p in params}]
            return float(np.real(sim.run(compiled, parameter_binds=binds).result().data(0)["expectation_value"]))

        return run

    def sample(self, circuit, shots: int | None = None) -> dict[int, int]:
        """Measured basis states (as integers, qubit i = bit i) and their counts."""
        probs = self.probabilities(circuit)
        rng = np.random.default_rng(self.seed)
        draws = rng.choice(len(probs), size=shots or self.shots, p=probs / probs.sum())
        values, counts = np.unique(draws, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    def _runtime_counts(self, circuit) -> np.ndarray:
        try:
            from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2
        except ImportError as exc:
            raise RuntimeError(
                "ibm_runtime needs the qiskit-ibm-runtime package (pip install qiskit-ibm-runtime) and DWC_IBM_TOKEN"
            ) from exc
        from qiskit import transpile

        service = QiskitRuntimeService(channel="ibm_quantum_platform", token=self.ibm_token)
        backend = service.backend(self.ibm_backend) if self.ibm_backend else service.least_busy(operational=True)
        c = circuit.copy()
        if not c.num_clbits:
            c.measure_all()
        job = SamplerV2(mode=backend).run([transpile(c, backend)], shots=self.shots)
        counts = job.result()[0].data.meas.get_counts()
        return _counts_to_probabilities(counts, circuit.num_qubits)


def _counts_to_probabilities(counts: dict[str, int], n: int) -> np.ndarray:
    probs = np.zeros(2**n)
    total = sum(counts.values())
    for bitstring, c in counts.items():
        probs[int(bitstring.replace(" ", ""), 2)] += c / total
    return probs
