"""Quantum optimisation of platform problems, each an asset that builds a QUBO from warehouse data,
solves it with QAOA (depths 1..p) and VQE on the configured backend, and measures the answers
against the exact optimum and simulated annealing in the same run."""

import hashlib
import json
from datetime import UTC, datetime

import dagster as dg
import numpy as np
from pydantic import Field

from dwc_resources import LakehouseResource
from dwc_resources.quantum import QuantumResource, QubitLimitExceeded

from ..enrichment.assets import DOCUMENT_ENRICHMENT
from ..enrichment.schema import latest_enrichment
from ..ingestion.assets import OWNERS
from ..plots import png_chart
from ..shared import markdown_table
from . import problems
from .qubo import QUBO
from .solvers import classical, interpolate, qaoa, ratio, vqe

DDL = """
CREATE SCHEMA IF NOT EXISTS quantum;
CREATE TABLE IF NOT EXISTS quantum.results (
    problem VARCHAR NOT NULL, instance VARCHAR NOT NULL, method VARCHAR NOT NULL, qubits INTEGER NOT NULL,
    depth INTEGER, shots INTEGER, energy DOUBLE, expected_energy DOUBLE, optimum DOUBLE,
    approximation_ratio DOUBLE,        -- 1 at the optimum, 0 at the worst assignment
    seconds DOUBLE, evaluations INTEGER, answer JSON, note VARCHAR, solved_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
-- Every row also carries the classical answers of the same instance, so one row compares them.
ALTER TABLE quantum.results ADD COLUMN IF NOT EXISTS classical JSON;
"""

DOCS_SQL = f"""
SELECT d.doc_id, coalesce(d.title, d.source_path) AS title, e.topic, e.embedding
FROM docs.documents d
JOIN ({latest_enrichment("topic", "embedding")}) e USING (content_hash)
WHERE d.is_current AND d.status = 'active' AND d.duplicate_of IS NULL
  AND NOT starts_with(d.source_path, 'generated/')  -- what people dropped, not what chains wrote
ORDER BY d.ingested_at DESC, d.source_path
LIMIT ?
"""


class QuantumConfig(dg.Config):
    max_depth: int = Field(default=2, description="QAOA depths 1..max_depth are run")
    documents: int = Field(default=8, description="How many (newest enriched) documents the problem covers")


def _solve(
    problem: str, q: QUBO, quantum: QuantumResource, config: QuantumConfig, run_id: str, log
) -> tuple[list, dict]:
    """Every method on one QUBO: result rows for quantum.results, and what the metadata shows."""
    instance = hashlib.sha256(q.Q.tobytes()).hexdigest()[:12]
    now = datetime.now(UTC).replace(tzinfo=None)
    diag_worst = None
    rows, answers = [], {}
    base = classical(q)
    optimum = base["exact"]["energy"] if "exact" in base else base["annealing"]["energy"]
    if q.n <= 22:
        d = q.diagonal()
        diag_worst = float(d.max())
    worst = diag_worst if diag_worst is not None else optimum + abs(optimum) + 1.0
    classical_answers = json.dumps(
        {name: {"energy": r["energy"], "answer": r["bits"].tolist()} for name, r in base.items()}
    )
    for name, r in base.items():
        rows.append(
            (
                problem,
                instance,
                name,
                q.n,
                None,
                None,
                r["energy"],
                None,
                optimum,
                ratio(r["energy"], optimum, worst),
                r["seconds"],
                None,
                json.dumps(r["bits"].tolist()),
                None,
                now,
                run_id,
            )
        )
        answers[name] = r["bits"]
    per_depth, distribution = [], {}
    try:
        quantum.check(q.n)
        prev = None
        for p in range(1, config.max_depth + 1):
            a = qaoa(q, quantum, p=p, init=interpolate(prev, p) if prev else None)
            prev = a.params
            r_best = ratio(a.energy, optimum, worst)
            r_expected = ratio(a.expected_energy, optimum, worst)
            per_depth.append((p, r_best, r_expected))
            rows.append(
                (
                    problem,
                    instance,
                    "qaoa",
                    q.n,
                    p,
                    a.shots,
                    a.energy,
                    a.expected_energy,
                    optimum,
                    r_best,
                    a.seconds,
                    a.evaluations,
                    json.dumps(a.bits.tolist()),
                    f"expected-energy ratio {r_expected:.4f}",
                    now,
                    run_id,
                )
            )
            answers["qaoa"], distribution = a.bits, a.distribution
            log(f"{problem}: QAOA p={p} ratio {r_best:.4f} (expected {r_expected:.4f}) in {a.seconds:.1f}s")
        v = vqe(q, quantum)
        rows.append(
            (
                problem,
                instance,
                "vqe",
                q.n,
                v.depth,
                v.shots,
                v.energy,
                v.expected_energy,
                optimum,
                ratio(v.energy, optimum, worst),
                v.seconds,
                v.evaluations,
                json.dumps(v.bits.tolist()),
                "hardware-efficient ansatz (RY + linear CX)",
                now,
                run_id,
            )
        )
        answers["vqe"] = v.bits
    except QubitLimitExceeded as exc:
        # Too big for the backend: the classical heuristic's answer stands, and the reason is kept.
        rows.append(
            (
                problem,
                instance,
                "qaoa",
                q.n,
                None,
                None,
                None,
                None,
                optimum,
                None,
                None,
                None,
                None,
                f"fallback to annealing: {exc}",
                now,
                run_id,
            )
        )
        answers["qaoa"] = answers["annealing"]
        log(f"{problem}: {exc}")
    rows = [(*r, classical_answers) for r in rows]
    top = sorted(distribution.items(), key=lambda kv: -kv[1])[:16]
    meta = {
        "qubits": q.n,
        "instance": instance,
        "optimum": optimum,
        "methods": dg.MetadataValue.md(
            markdown_table(
                ["method", "depth", "energy", "ratio", "seconds", "note"],
                [
                    (
                        r[2],
                        r[4],
                        f"{r[6]:.4f}" if r[6] is not None else "-",
                        f"{r[9]:.4f}" if r[9] is not None else "-",
                        f"{r[10]:.2f}" if r[10] is not None else "-",
                        r[13],
                    )
                    for r in rows
                ],
                80,
            )
        ),
    }
    if per_depth:
        meta["qaoa_best_ratio"] = max(r for _, r, _ in per_depth)
        meta["ratio_per_depth"] = dg.MetadataValue.md(
            png_chart(
                {
                    "best sample": [(str(p), r) for p, r, _ in per_depth],
                    "expectation": [(str(p), e) for p, _, e in per_depth],
                },
                "QAOA approximation ratio per depth",
                "ratio",
                kind="bar",
            )
        )
    if top:
        meta["bitstrings"] = dg.MetadataValue.md(
            png_chart(
                {"counts": [(format(s, f"0{q.n}b")[::-1], c) for s, c in top]},
                "Measured bitstrings (most frequent 16)",
                "shots",
                kind="bar",
            )
        )
    return rows, {"meta": meta, "answers": answers}


def _write(warehouse: LakehouseResource, rows: list) -> dict:
    """Append a solve's rows to quantum.results; the table's row count, as metadata."""
    plain = [tuple(v.item() if isinstance(v, np.generic) else v for v in row) for row in rows]
    with warehouse.writer(DDL) as con:
        con.executemany("INSERT INTO quantum.results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", plain)
        return {"dagster/row_count": con.execute("SELECT count(*) FROM quantum.results").fetchall()[0][0]}


def _documents(warehouse: LakehouseResource, limit: int) -> list[tuple]:
    with warehouse.reader() as con:
        return con.execute(DOCS_SQL, [limit]).fetchall()


def _embeddings(docs) -> np.ndarray:
    E = np.array([d[3] for d in docs], dtype=float)
    E /= np.where(np.linalg.norm(E, axis=1, keepdims=True) > 0, np.linalg.norm(E, axis=1, keepdims=True), 1.0)
    return E


class AssignmentConfig(QuantumConfig):
    documents: int = Field(default=4, description="Documents to assign (qubits = documents x reviewers)")
    reviewers: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "ana": ["contract", "invoice"],
            "ben": ["report", "minutes"],
            "chen": ["news", "correspondence", "manual"],
        },
        description="Reviewer -> the topics they know",
    )


@dg.asset(
    key=dg.AssetKey(["quantum", "workload_assignment"]),
    deps=[DOCUMENT_ENRICHMENT],
    group_name="quantum",
    kinds={"qiskit", "duckdb"},
    owners=OWNERS,
)
def workload_assignment(
    context: dg.AssetExecutionContext, config: AssignmentConfig, warehouse: LakehouseResource, quantum: QuantumResource
) -> dg.MaterializeResult:
    """The newest documents assigned to reviewers by topic with a balanced load, solved as a QUBO."""
    docs = _documents(warehouse, config.documents)
    if not docs:
        raise dg.Failure("no enriched documents: materialise ai/document_enrichment first")
    names = list(config.reviewers)
    affinity = np.array([[1.0 if d[2] in config.reviewers[r] else 0.1 for r in names] for d in docs])
    q = problems.assignment(affinity, balance=0.3)
    rows, out = _solve("workload_assignment", q, quantum, config, context.run.run_id, context.log.info)
    stored = _write(warehouse, rows)
    plan = problems.decode_assignment(out["answers"]["qaoa"], len(docs), len(names))
    best = problems.decode_assignment(out["answers"].get("exact", out["answers"]["annealing"]), len(docs), len(names))
    table = [
        (d[1], d[2], names[w] if w is not None else "(invalid)", names[b] if b is not None else "-")
        for d, w, b in zip(docs, plan, best)
    ]
    return dg.MaterializeResult(
        metadata={
            **out["meta"],
            **stored,
            "assignment": dg.MetadataValue.md(
                markdown_table(["document", "topic", "QAOA assigns", "optimum assigns"], table)
            ),
        }
    )


class SelectionConfig(QuantumConfig):
    documents: int = 10
    k: int = Field(default=3, description="How many documents to pick")


@dg.asset(
    key=dg.AssetKey(["quantum", "diverse_selection"]),
    deps=[DOCUMENT_ENRICHMENT],
    group_name="quantum",
    kinds={"qiskit", "duckdb"},
    owners=OWNERS,
)
def diverse_selection(
    context: dg.AssetExecutionContext, config: SelectionConfig, warehouse: LakehouseResource, quantum: QuantumResource
) -> dg.MaterializeResult:
    """k documents that cover the most topics with the least redundancy (embedding similarity), for digests."""
    docs = _documents(warehouse, config.documents)
    if len(docs) <= config.k:
        raise dg.Failure(f"need more than k={config.k} enriched documents, found {len(docs)}")
    E = _embeddings(docs)
    similarity = np.clip(E @ E.T, 0, 1)
    topics = [d[2] for d in docs]
    relevance = np.array([1.0 / topics.count(t) for t in topics])  # rarer topics are worth more
    q = problems.diverse_selection(relevance, similarity, config.k)
    rows, out = _solve("diverse_selection", q, quantum, config, context.run.run_id, context.log.info)
    stored = _write(warehouse, rows)
    picked = [(docs[i][1], docs[i][2]) for i, b in enumerate(out["answers"]["qaoa"]) if b]
    return dg.MaterializeResult(
        metadata={
            **out["meta"],
            **stored,
            "selection": dg.MetadataValue.md(markdown_table(["document", "topic"], picked)),
        }
    )


@dg.asset(
    key=dg.AssetKey(["quantum", "similarity_maxcut"]),
    deps=[DOCUMENT_ENRICHMENT],
    group_name="quantum",
    kinds={"qiskit", "duckdb"},
    owners=OWNERS,
)
def similarity_maxcut(
    context: dg.AssetExecutionContext, config: QuantumConfig, warehouse: LakehouseResource, quantum: QuantumResource
) -> dg.MaterializeResult:
    """Two-way clustering of documents: Max-Cut of their embedding-distance graph."""
    docs = _documents(warehouse, config.documents)
    if len(docs) < 2:
        raise dg.Failure("need at least two enriched documents")
    E = _embeddings(docs)
    distance = np.clip(1.0 - E @ E.T, 0, 2)
    np.fill_diagonal(distance, 0.0)
    q = problems.maxcut(distance)
    rows, out = _solve("similarity_maxcut", q, quantum, config, context.run.run_id, context.log.info)
    stored = _write(warehouse, rows)
    sides = [(docs[i][1], docs[i][2], "A" if b == 0 else "B") for i, b in enumerate(out["answers"]["qaoa"])]
    return dg.MaterializeResult(
        metadata={
            **out["meta"],
            **stored,
            "cut_value": problems.cut_value(distance, out["answers"]["qaoa"]),
            "partition": dg.MetadataValue.md(markdown_table(["document", "topic", "side"], sides)),
        }
    )


quantum_assets = [workload_assignment, diverse_selection, similarity_maxcut]
