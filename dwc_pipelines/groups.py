"""What each asset group is for. Dagster has no group description of its own, so each asset carries
its group's (`dwc/group`) in its definition metadata, and `docs/` has the long form."""

from __future__ import annotations

import dagster as dg

GROUPS = {
    "ingestion": "Files in the landing zone become versioned, de-duplicated, chunked documents; bad files are quarantined.",
    "enrichment": "Summaries, keywords, topics, entities, sentiment and embeddings per document; the search index.",
    "chains": "The registry of user-declared workflow chains (YAML in chains/), valid or not.",
    "ml": "The document classifier: labelled texts, trainings tracked in MLflow, the champion, predictions.",
    "recs": "Interactions, item features, every recommender family, their evaluation, served recommendations.",
    "quantum": "QUBO optimisation on Qiskit Aer (workload assignment, diverse selection, max-cut) beside classical solvers.",
    "quantum_algorithms": "Textbook quantum algorithms run on Qiskit Aer and checked against their known answers.",
    "governance": "Personal data: findings, retention, erasure and encryption at rest of the original bytes.",
    "iot": "Device telemetry over MQTT: hourly loads, registry, rollups, anomalies and commands back to devices.",
    "anchoring": "Document hashes anchored on a chain in Merkle batches, with proofs and certificates.",
    "xr": "glTF scenes of the platform's data with viewers, and XR session analytics.",
    "ops": "Run history, the audit trail and document statistics.",
    "lakehouse": "Maintenance of the lake: compaction, snapshot expiry, removal of unreferenced files.",
}
PREFIXES = {
    "workflow_": "Workflow chain {name} (chains/{name}.yaml): its selection and steps.",
    "model_": "Tabular model {name} (models/{name}.yaml): training tracked in MLflow, then predictions.",
}


def group_description(group: str) -> str | None:
    if group in GROUPS:
        return GROUPS[group]
    for prefix, text in PREFIXES.items():
        if group.startswith(prefix):
            return text.format(name=group[len(prefix) :])
    return None


def with_group(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with its group's description (`dwc/group`), where the group has one."""
    text = group_description(spec.group_name or "")
    return spec.merge_attributes(metadata={"dwc/group": text}) if text else spec
