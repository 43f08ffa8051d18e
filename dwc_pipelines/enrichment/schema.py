"""The `ai` schema of the warehouse."""

DDL = """
CREATE SCHEMA IF NOT EXISTS ai;
CREATE TABLE IF NOT EXISTS ai.document_enrichment (
    content_hash VARCHAR NOT NULL,     -- the cache key: the same bytes are never enriched twice ...
    provider VARCHAR NOT NULL,         -- ... by the same provider,
    model VARCHAR NOT NULL,            -- model
    prompt_version VARCHAR NOT NULL,   -- and prompt version
    summary VARCHAR,
    keywords VARCHAR[],
    topic VARCHAR,
    topic_scores JSON,
    entities JSON,
    sentiment DOUBLE,
    embedding FLOAT[],                 -- a list, since DuckLake has no fixed-size arrays
    status VARCHAR NOT NULL,           -- ok | failed
    error VARCHAR,
    enriched_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    embedding_model VARCHAR,           -- the embedding's model and width (null on rows older than them)
    embedding_dim INTEGER
);
ALTER TABLE ai.document_enrichment ADD COLUMN IF NOT EXISTS embedding_model VARCHAR;
ALTER TABLE ai.document_enrichment ADD COLUMN IF NOT EXISTS embedding_dim INTEGER;
CREATE TABLE IF NOT EXISTS ai.chunk_embeddings (
    chunk_id VARCHAR NOT NULL,         -- content-bound: the same chunk text is embedded once per model
    provider VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    embedding FLOAT[] NOT NULL,        -- `dim` wide; one index never mixes models
    run_id VARCHAR NOT NULL,
    dim INTEGER
);
ALTER TABLE ai.chunk_embeddings ADD COLUMN IF NOT EXISTS dim INTEGER;
CREATE TABLE IF NOT EXISTS ai.semantic_duplicates (
    doc_id VARCHAR NOT NULL,           -- two current documents that say the same thing in other words
    twin_doc_id VARCHAR NOT NULL,
    similarity DOUBLE NOT NULL,        -- cosine of their embeddings
    minhash_twin BOOLEAN NOT NULL,     -- also a MinHash (wording) near-duplicate
    model VARCHAR NOT NULL,
    threshold DOUBLE NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ai.chunk_terms (
    chunk_id VARCHAR NOT NULL,         -- the keyword (BM25) index: term frequencies per chunk
    term VARCHAR NOT NULL,
    tf INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ai.chunk_lengths (
    chunk_id VARCHAR NOT NULL,
    n_terms INTEGER NOT NULL,
    run_id VARCHAR NOT NULL
);
"""


def latest_enrichment(*columns: str) -> str:
    """SQL: per content_hash, the given columns of its newest successful enrichment."""
    picked = ", ".join(f"arg_max({c}, enriched_at) AS {c}" for c in columns)
    return f"SELECT content_hash, {picked} FROM ai.document_enrichment WHERE status = 'ok' GROUP BY content_hash"
