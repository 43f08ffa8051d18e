"""Quantum calls: declared backends, circuits and gates; algorithms executed as runs of the quantum
algorithm assets (Qiskit Aer), their results read from the lake."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..deps import require, service
from ..problems import Problem
from ..security import Principal
from .common import Declared, Stats, declare, get_declared, runs_by_status

MAX_QUBITS = 24  # what a statevector simulation holds in memory here
GATES = {
    "hadamard": 1,
    "h": 1,
    "x": 1,
    "y": 1,
    "z": 1,
    "s": 1,
    "t": 1,
    "cnot": 2,
    "cx": 2,
    "cz": 2,
    "swap": 2,
    "ccx": 3,
}
# The API's algorithm types -> the catalogue's assets (dwc_pipelines/quantum/algorithms.py).
ALGORITHMS = {
    "grover_search": "grover",
    "grover": "grover",
    "qft": "qft",
    "shor_15": "shor_15",
    "shor_21": "shor_21",
    "vqe_h2": "vqe_h2",
    "quantum_kernel": "quantum_kernel",
}


class BackendIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    backend_type: str = Field(default="aer_simulator", max_length=32)
    max_qubits: int = Field(default=MAX_QUBITS, ge=1, le=1000)
    gate_fidelity: float | None = Field(default=None, ge=0, le=1)
    coherence_time: float | None = Field(default=None, ge=0)


class CircuitIn(BaseModel):
    backend_id: str = Field(max_length=64)
    num_qubits: int = Field(ge=1, le=MAX_QUBITS)
    circuit_name: str = Field(min_length=1, max_length=128)


class GateIn(BaseModel):
    circuit_id: str = Field(max_length=64)
    gate_type: str = Field(max_length=16)
    qubit_indices: list[int] = Field(min_length=1, max_length=3)


class AlgorithmIn(BaseModel):
    algorithm_type: str = Field(max_length=32)
    circuit_id: str | None = Field(default=None, max_length=64)
    parameters: dict = Field(default_factory=dict)


def routers():
    r = APIRouter(prefix="/api/v3/quantum", tags=["quantum"])

    @r.post("/backends", response_model=Declared, status_code=201)
    async def create_backend(body: BackendIn, request: Request, principal: Principal = Depends(require("quantum"))):
        """Declare a backend; runs execute on the quantum resource's backend (Aer here, IBM with DWC_IBM_TOKEN)."""
        q = service(request).platform.resources["quantum"]
        return declare(request, "quantum_backend", body.model_dump(), principal, executes_on=q.backend)

    @r.post("/circuits", response_model=Declared, status_code=201)
    async def create_circuit(body: CircuitIn, request: Request, principal: Principal = Depends(require("quantum"))):
        backend = get_declared(request, "quantum_backend", body.backend_id)
        if body.num_qubits > backend["max_qubits"]:
            raise Problem(
                422, "invalid_request", f"{backend['name']} has {backend['max_qubits']} qubits, not {body.num_qubits}"
            )
        return declare(request, "circuit", body.model_dump(), principal, gates=[])

    @r.post("/gates", response_model=Declared, status_code=201)
    async def add_gate(body: GateIn, request: Request, principal: Principal = Depends(require("quantum"))):
        """Append a gate to a circuit (validated against its width and the gate's arity)."""
        circuit = get_declared(request, "circuit", body.circuit_id)
        arity = GATES.get(body.gate_type.lower())
        if arity is None:
            raise Problem(422, "invalid_request", f"unknown gate {body.gate_type!r}: one of {', '.join(GATES)}")
        if len(body.qubit_indices) != arity or len(set(body.qubit_indices)) != arity:
            raise Problem(422, "invalid_request", f"{body.gate_type} acts on {arity} distinct qubits")
        if any(not 0 <= i < circuit["num_qubits"] for i in body.qubit_indices):
            raise Problem(422, "invalid_request", f"qubit indices must be in 0..{circuit['num_qubits'] - 1}")
        gate = declare(request, "gate", body.model_dump(), principal)
        service(request).objects("circuit").update_state(
            body.circuit_id, gates=[*circuit["gates"], {"gate": body.gate_type.lower(), "qubits": body.qubit_indices}]
        )
        return gate

    @r.get("/circuits/{circuit_id}", response_model=Declared)
    async def get_circuit(circuit_id: str, request: Request, principal: Principal = Depends(require("quantum"))):
        return get_declared(request, "circuit", circuit_id)

    @r.post("/algorithms", response_model=Declared, status_code=202)
    async def run_algorithm(body: AlgorithmIn, request: Request, principal: Principal = Depends(require("quantum"))):
        """Run an algorithm of the catalogue as a run of its asset, with the parameters given."""
        asset = ALGORITHMS.get(body.algorithm_type)
        if asset is None:
            raise Problem(
                422, "invalid_request", f"unknown algorithm {body.algorithm_type!r}: one of {', '.join(ALGORITHMS)}"
            )
        if body.circuit_id:
            get_declared(request, "circuit", body.circuit_id)
        op = f"quantum__algorithms__{asset}"
        run = await run_in_threadpool(
            service(request).platform.launch,
            "quantum_algorithms_job",
            {"ops": {op: {"config": {"parameters": body.parameters}}}},
            {"dwc/api": "quantum_algorithm"},
            [["quantum", "algorithms", asset]],
        )
        return declare(request, "algorithm", body.model_dump(), principal, asset=asset, run=run)

    @r.get("/algorithms/{algorithm_id}/result")
    async def result(algorithm_id: str, request: Request, principal: Principal = Depends(require("quantum"))) -> dict:
        """The run's status and, once it succeeded, the result and whether it agrees with theory."""
        algo = get_declared(request, "algorithm", algorithm_id)
        svc = service(request)
        run = await run_in_threadpool(svc.platform.run, algo["run"]["run_id"])
        out = {
            "id": algorithm_id,
            "algorithm": algo["asset"],
            "run": run,
            "status": run["status"] if run else "UNKNOWN",
        }
        if run and run["status"] == "SUCCESS":

            def read():
                with svc.platform.reader(masked=False) as con:
                    return con.execute(
                        "SELECT result, passed FROM quantum.algorithm_checks WHERE run_id = ? AND algorithm = ?",
                        [run["run_id"], algo["asset"]],
                    ).fetchone()

            row = await run_in_threadpool(read)
            if row:
                out.update(result=json.loads(row[0]), matches_theory=row[1])
        return out

    @r.get("/stats", response_model=Stats)
    async def stats(request: Request, principal: Principal = Depends(require("quantum"))):
        svc = service(request)
        out = {k: svc.objects(k).count() for k in ("quantum_backend", "circuit", "gate", "algorithm")}
        out["runs"] = await run_in_threadpool(runs_by_status, svc.platform, "quantum")
        out["executes_on"] = svc.platform.resources["quantum"].backend
        return out

    return [r]
