"""The `docs` schema of the warehouse."""

DOC_COLUMNS = """
    doc_id VARCHAR{nn},
    source_path VARCHAR NOT NULL,
    content_hash VARCHAR,
    format VARCHAR,
    mime VARCHAR,
    extension VARCHAR,
    extension_mismatch BOOLEAN,
    title VARCHAR,
    author VARCHAR,
    created_at TIMESTAMP,
    modified_at TIMESTAMP,
    page_count INTEGER,
    language VARCHAR,
    word_count INTEGER,
    char_count INTEGER,
    size_bytes BIGINT,
    text VARCHAR,
    minhash UBIGINT[],
    pii STRUCT("start" INTEGER, "end" INTEGER, "type" VARCHAR, confidence FLOAT, detector VARCHAR)[],
    token_count INTEGER,
    text_truncated BOOLEAN,
    parent_doc_id VARCHAR,
    pages STRUCT(page INTEGER, source VARCHAR, ocr_confidence FLOAT)[]
"""

# Personal-data spans of a text (offsets into it; never the values): see dwc_resources.pii.
PII_SPANS = 'STRUCT("start" INTEGER, "end" INTEGER, "type" VARCHAR, confidence FLOAT, detector VARCHAR)[]'

DDL = f"""
CREATE SCHEMA IF NOT EXISTS docs;
CREATE TABLE IF NOT EXISTS docs.documents (
    {DOC_COLUMNS.format(nn=" NOT NULL")},
    version INTEGER NOT NULL,
    status VARCHAR NOT NULL,          -- active | deleted (a tombstone: the source disappeared)
    is_current BOOLEAN NOT NULL,
    duplicate_of VARCHAR,             -- doc_id of the first document with the same bytes
    ingested_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS docs.quarantine (
    source_path VARCHAR NOT NULL,
    content_hash VARCHAR,
    size_bytes BIGINT,
    extension VARCHAR,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    quarantined_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS docs.sources (
    source_path VARCHAR NOT NULL,
    doc_id VARCHAR,
    size_bytes BIGINT,
    mtime_ns BIGINT,
    content_hash VARCHAR,
    status VARCHAR NOT NULL,          -- active | quarantined | deleted
    last_run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS docs._settings (  -- what the stored values were computed with; one row per key
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS docs.chunks (
    chunk_id VARCHAR NOT NULL,
    doc_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    chunk_index INTEGER NOT NULL,
    token_start INTEGER NOT NULL,
    token_end INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    chunker VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    pii {PII_SPANS}
);
CREATE TABLE IF NOT EXISTS docs.near_duplicates (
    doc_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    twin_doc_id VARCHAR NOT NULL,
    similarity DOUBLE NOT NULL,
    run_id VARCHAR NOT NULL
);
-- Warehouses created before personal-data spans existed: their columns come last, which is
-- why every insert names its columns.
ALTER TABLE docs.documents ADD COLUMN IF NOT EXISTS pii {PII_SPANS};
ALTER TABLE docs.chunks ADD COLUMN IF NOT EXISTS pii {PII_SPANS};
-- Tokens of the text as the chunker counts them (recounted when governance rewrites the text).
ALTER TABLE docs.documents ADD COLUMN IF NOT EXISTS token_count INTEGER;
-- The text stored was cut at the landing zone's max_text_chars (the original bytes are in the blob store).
ALTER TABLE docs.documents ADD COLUMN IF NOT EXISTS text_truncated BOOLEAN;
-- An attachment or archive member: the document it came in (its source_path is the container's, '!/', its name).
ALTER TABLE docs.documents ADD COLUMN IF NOT EXISTS parent_doc_id VARCHAR;
-- Per page of a PDF or image: where its text came from ('text' layer or 'ocr') and Tesseract's confidence.
ALTER TABLE docs.documents ADD COLUMN IF NOT EXISTS pages STRUCT(page INTEGER, source VARCHAR, ocr_confidence FLOAT)[];
"""

DOC_FIELDS = [
    "doc_id",
    "source_path",
    "content_hash",
    "format",
    "mime",
    "extension",
    "extension_mismatch",
    "title",
    "author",
    "created_at",
    "modified_at",
    "page_count",
    "language",
    "word_count",
    "char_count",
    "size_bytes",
    "text",
    "minhash",
    "pii",
    "token_count",
    "text_truncated",
    "parent_doc_id",
    "pages",
]
STAGING_FIELDS = DOC_FIELDS + ["kind", "mtime_ns", "reason_code", "reason", "seq", "run_id"]
