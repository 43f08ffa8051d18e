"""The `recs` schema of the warehouse."""

DDL = """
CREATE SCHEMA IF NOT EXISTS recs;
CREATE TABLE IF NOT EXISTS recs.interactions (
    user_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,          -- a document's doc_id when the event names a known document (by path or id)
    type VARCHAR NOT NULL,             -- view | click | like | share | download | purchase | rating
    value DOUBLE,
    weight DOUBLE NOT NULL,            -- what the models learn from (models.WEIGHTS; ratings: stars / 2)
    ts TIMESTAMP NOT NULL,
    source_file VARCHAR NOT NULL,
    line INTEGER NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS recs.interactions_quarantine (
    source_file VARCHAR NOT NULL, line INTEGER, raw VARCHAR, reason VARCHAR NOT NULL,
    quarantined_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS recs._event_files (
    source_file VARCHAR NOT NULL, size_bytes BIGINT NOT NULL, mtime_ns BIGINT NOT NULL,
    rows INTEGER NOT NULL, bad_rows INTEGER NOT NULL, loaded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS recs.item_features (
    item_id VARCHAR NOT NULL, doc_id VARCHAR, title VARCHAR, text VARCHAR, topic VARCHAR, source VARCHAR NOT NULL
);
ALTER TABLE recs.item_features ADD COLUMN IF NOT EXISTS embedding FLOAT[];  -- the document's enrichment embedding
CREATE TABLE IF NOT EXISTS recs.recommendations (
    user_id VARCHAR NOT NULL, item_id VARCHAR NOT NULL, rank INTEGER NOT NULL, score DOUBLE NOT NULL,
    model VARCHAR NOT NULL, model_version VARCHAR NOT NULL, generated_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS recs.similar_items (
    item_id VARCHAR NOT NULL, similar_item_id VARCHAR NOT NULL, rank INTEGER NOT NULL, score DOUBLE NOT NULL,
    model VARCHAR NOT NULL, generated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS recs.evaluation (
    model VARCHAR NOT NULL, precision_at_10 DOUBLE, recall_at_10 DOUBLE, ndcg_at_10 DOUBLE, map_at_10 DOUBLE,
    coverage DOUBLE, users INTEGER, fit_s DOUBLE, ms_per_user DOUBLE, split_seed INTEGER, evaluated_at TIMESTAMP,
    run_id VARCHAR
);
"""
