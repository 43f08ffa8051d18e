"""The `ml` schema of the warehouse."""

DDL = """
CREATE SCHEMA IF NOT EXISTS ml;
CREATE TABLE IF NOT EXISTS ml.labelled_texts (
    text_id VARCHAR NOT NULL,          -- doc:<doc_id> for a labelled document, <corpus>:<row> for a corpus text
    content_hash VARCHAR,              -- a document's content (NULL for corpus texts)
    text VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    source VARCHAR NOT NULL,           -- the labels file or corpus it came from
    loaded_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ml.trainings (
    model_name VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,    -- the MLflow registry version
    mlflow_run_id VARCHAR NOT NULL,
    pipeline VARCHAR NOT NULL,         -- the candidate that cross-validation selected
    cv_accuracy DOUBLE,
    held_out_accuracy DOUBLE,
    held_out_macro_f1 DOUBLE,
    held_out_digest VARCHAR NOT NULL,  -- which held-out set: models compare only on the same one
    n_train INTEGER NOT NULL,
    n_held_out INTEGER NOT NULL,
    label_distribution JSON,
    trained_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ml.model_decisions (
    model_name VARCHAR NOT NULL,
    challenger_version VARCHAR NOT NULL,
    champion_version VARCHAR,          -- the champion before the decision (NULL: there was none)
    challenger_accuracy DOUBLE NOT NULL,
    champion_accuracy DOUBLE,
    held_out_digest VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,         -- promoted | kept_champion
    reason VARCHAR NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ml.document_predictions (
    doc_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    confidence DOUBLE,
    model_name VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    predicted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
"""
