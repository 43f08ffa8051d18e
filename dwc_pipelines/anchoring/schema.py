"""The `chain` schema of the warehouse: batches, their members, proofs, transactions, certificates."""

DDL = """
CREATE SCHEMA IF NOT EXISTS chain;
-- A batch is planned (and committed) before anything is sent, so a retry finishes the same batch.
CREATE TABLE IF NOT EXISTS chain.batches (
    batch_id VARCHAR NOT NULL,           -- sha256("dwc-batch-v1" || chain id || root): deterministic
    network VARCHAR NOT NULL,
    chain_id UBIGINT NOT NULL,
    root VARCHAR NOT NULL,
    document_count INTEGER NOT NULL,
    manifest JSON NOT NULL,              -- what manifest_hash (in the Anchored event) is the sha256 of
    manifest_hash VARCHAR NOT NULL,
    status VARCHAR NOT NULL,             -- planned | anchored
    contract VARCHAR,
    tx_hash VARCHAR,
    block_number UBIGINT,
    block_timestamp TIMESTAMP,
    gas_used UBIGINT,
    planned_at TIMESTAMP NOT NULL,
    anchored_at TIMESTAMP,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS chain.batch_members (
    batch_id VARCHAR NOT NULL,
    network VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    leaf_index INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chain.proofs (
    content_hash VARCHAR NOT NULL,       -- one row per distinct document content and chain
    network VARCHAR NOT NULL,
    chain_id UBIGINT NOT NULL,
    batch_id VARCHAR NOT NULL,
    root VARCHAR NOT NULL,
    leaf_index INTEGER NOT NULL,
    document_count INTEGER NOT NULL,
    proof JSON NOT NULL,                 -- [{"left"|"right": hex}, ...] from the leaf up
    contract VARCHAR NOT NULL,
    tx_hash VARCHAR NOT NULL,
    block_number UBIGINT NOT NULL,
    block_timestamp TIMESTAMP NOT NULL,
    anchored_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
-- Every signed transaction, written before it is sent: the raw bytes let a later run re-send the
-- very same transaction (same hash, same nonce: it can be mined at most once).
CREATE TABLE IF NOT EXISTS chain.transactions (
    intent_id VARCHAR NOT NULL,          -- anchor:<batch_id> | certify:<network>:<content_hash>
    network VARCHAR NOT NULL,
    chain_id UBIGINT NOT NULL,
    kind VARCHAR NOT NULL,               -- anchor | certify
    status VARCHAR NOT NULL,             -- signed | mined | reverted | dropped (nonce taken by another tx)
    tx_hash VARCHAR NOT NULL,
    nonce UBIGINT NOT NULL,
    sender VARCHAR NOT NULL,
    raw_tx VARCHAR NOT NULL,
    block_number UBIGINT,
    gas_used UBIGINT,
    error VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS chain.certificates (
    content_hash VARCHAR NOT NULL,
    network VARCHAR NOT NULL,
    chain_id UBIGINT NOT NULL,
    doc_id VARCHAR,
    token_id UBIGINT,
    owner_address VARCHAR,
    contract VARCHAR,
    root VARCHAR NOT NULL,
    status VARCHAR NOT NULL,             -- requested | minted
    tx_hash VARCHAR,
    block_number UBIGINT,
    requested_by VARCHAR,                -- the job or chain step that asked
    requested_at TIMESTAMP NOT NULL,
    minted_at TIMESTAMP,
    run_id VARCHAR NOT NULL
);
"""

TABLES = ["chain.batches", "chain.batch_members", "chain.proofs", "chain.transactions", "chain.certificates"]
