"""Removing personal data from everything the platform holds (plain Python + SQL).

Two callers: retention (whole documents expire) and erasure requests (one subject is removed
from every row and file that mentions it). Both work on every table of the warehouse found at
run time, not on a list kept by hand, so a table a later domain adds is covered from its first day.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

from dwc_resources import pii
from dwc_resources.cas import ContentStore
from dwc_resources.duck import transaction

from ..ingestion.text import token_count

ERASED = "[ERASED]"
# Columns that identify a row rather than describe it: a row whose identifier *is* the subject
# (a user id that is an email, say) is deleted; elsewhere the subject is replaced in the text.
_ID = re.compile(r"(?:^|_)(?:id|user|user_id|item_id|subject)$")
_SKIP_SCHEMAS = {"gov"}  # the governance record itself holds no values (digests and counts only)


def subject_digest(subject: str, salt: bytes) -> str:
    return hashlib.sha256(salt + subject.strip().lower().encode()).hexdigest()


def warehouse_columns(con) -> dict[str, list[tuple[str, str]]]:
    """'schema.table' -> [(column, type)] for every base table of the warehouse."""
    rows = con.execute(
        """SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns()
           WHERE database_name = current_database() AND NOT internal
             AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()
                                AND NOT temporary)
           ORDER BY schema_name, table_name, column_index"""
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for schema, table, col, dtype in rows:
        if schema not in _SKIP_SCHEMAS:
            out.setdefault(f"{schema}.{table}", []).append((col, dtype))
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scrub_warehouse(con, subject: str) -> dict[str, int]:
    """Delete rows identified by the subject and replace it in every text column; returns rows
    touched per table. Case-insensitive, literal."""
    pattern = "(?i)" + re.escape(subject)
    touched: dict[str, int] = {}
    for table, cols in warehouse_columns(con).items():
        n = 0
        for col, dtype in cols:
            c = _q(col)
            if dtype == "VARCHAR" and _ID.search(col):
                n += con.execute(f"DELETE FROM {table} WHERE lower({c}) = lower(?)", [subject]).fetchall()[0][0]
            if dtype == "VARCHAR":
                n += con.execute(
                    f"UPDATE {table} SET {c} = regexp_replace({c}, ?, ?, 'g') WHERE strpos(lower({c}), lower(?)) > 0",
                    [pattern, ERASED, subject],
                ).fetchall()[0][0]
            elif dtype == "JSON":
                n += con.execute(
                    f"""UPDATE {table} SET {c} = CAST(regexp_replace(CAST({c} AS VARCHAR), ?, ?, 'g') AS JSON)
                        WHERE strpos(lower(CAST({c} AS VARCHAR)), lower(?)) > 0""",
                    [pattern, ERASED, subject],
                ).fetchall()[0][0]
            elif dtype == "VARCHAR[]":
                n += con.execute(
                    f"""UPDATE {table} SET {c} = list_transform({c}, lambda x: regexp_replace(x, ?, ?, 'g'))
                        WHERE list_any_value(list_filter({c}, lambda x: strpos(lower(x), lower(?)) > 0)) IS NOT NULL""",
                    [pattern, ERASED, subject],
                ).fetchall()[0][0]
        if n:
            touched[table] = n
    return touched


def refresh_spans(con, doc_ids: list[str]) -> None:
    """Values derived from the text of rewritten documents and chunks, found again on their new
    text: personal-data spans, and a document's token count (which the chunker relies on)."""
    if not doc_ids:
        return

    def spans(text: str) -> list[dict]:
        return [s.as_row() for s in pii.detect(text)]

    con.execute("CREATE OR REPLACE TEMP TABLE _gov_docs AS SELECT unnest(?::VARCHAR[]) AS doc_id", [doc_ids])
    for table, key, derived in (
        ("docs.documents", "doc_id, version", {"pii": spans, "token_count": token_count}),
        ("docs.chunks", "chunk_id", {"pii": spans}),
    ):
        rows = con.execute(f"SELECT {key}, text FROM {table} WHERE doc_id IN (SELECT doc_id FROM _gov_docs)").fetchall()
        if not rows:
            continue
        sets = ", ".join(f"{name} = ?" for name in derived)
        where = " AND ".join(f"{k.strip()} = ?" for k in key.split(","))
        con.executemany(
            f"UPDATE {table} SET {sets} WHERE {where}",
            [(*(fn(r[-1] or "") for fn in derived.values()), *r[:-1]) for r in rows],
        )


def drop_chunk_indexes(con, doc_ids: list[str]) -> int:
    """Embeddings and keyword-index rows of the documents' chunks: rebuilt from the new text by
    the enrichment functions, which pick up chunks that have none."""
    if not doc_ids:
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE _gov_docs AS SELECT unnest(?::VARCHAR[]) AS doc_id", [doc_ids])
    n = 0
    for table in ("ai.chunk_embeddings", "ai.chunk_terms", "ai.chunk_lengths"):
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name || '.' || table_name = ?",
            [table],
        ).fetchall()[0][0]
        if exists:
            n += con.execute(f"""DELETE FROM {table} WHERE chunk_id IN
                                 (SELECT chunk_id FROM docs.chunks WHERE doc_id IN (SELECT doc_id FROM _gov_docs))""").fetchall()[
                0
            ][0]
    return n


def delete_blobs(store: ContentStore, hashes: list[str]) -> int:
    n = sum(store.delete(h) for h in sorted(set(h for h in hashes if h)))
    store.compact()
    return n


def scrub_text_file(path: Path, subject: str, drop_lines: bool = False) -> bool:
    """Replace (or drop the lines holding) the subject in a text file, atomically; True if it changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    if subject.lower() not in text.lower():
        return False
    if drop_lines:
        new = "".join(line for line in text.splitlines(keepends=True) if subject.lower() not in line.lower())
    else:
        new = re.sub(re.escape(subject), ERASED, text, flags=re.IGNORECASE)
    tmp = path.with_name(f".{path.name}.erase-tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)
    return True


def scrub_sqlite(path: Path, subject: str) -> int:
    """Replace the subject in every text column of a SQLite file, then vacuum with secure_delete,
    so no freed page keeps the old bytes; returns rows changed."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        db.execute("PRAGMA secure_delete=ON")
        changed = 0
        tables = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        for t in tables:
            cols = [
                r[1]
                for r in db.execute(f"PRAGMA table_info({_q(t)})")
                if (r[2] or "").upper() in ("TEXT", "VARCHAR", "")
            ]
            for c in cols:
                rows = db.execute(
                    f"SELECT rowid, {_q(c)} FROM {_q(t)} WHERE instr(lower({_q(c)}), lower(?)) > 0", (subject,)
                ).fetchall()
                for rowid, value in rows:
                    if isinstance(value, str):
                        db.execute(
                            f"UPDATE {_q(t)} SET {_q(c)} = ? WHERE rowid = ?",
                            (re.sub(re.escape(subject), ERASED, value, flags=re.IGNORECASE), rowid),
                        )
                        changed += 1
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        return changed
    finally:
        db.close()


def documents_mentioning(con, subject: str) -> list[tuple]:
    """(doc_id, version, content_hash, source_path) of every version whose text, title, author or
    path names the subject."""
    return con.execute(
        """SELECT doc_id, version, content_hash, source_path FROM docs.documents
           WHERE strpos(lower(coalesce(text, '')), lower(?)) > 0 OR strpos(lower(coalesce(title, '')), lower(?)) > 0
              OR strpos(lower(coalesce(author, '')), lower(?)) > 0 OR strpos(lower(source_path), lower(?)) > 0
           ORDER BY doc_id, version""",
        [subject] * 4,
    ).fetchall()


def retire_sources(
    con, landing_root: str, source_paths: list[str], status: str, delete_files: bool, log: Callable[[str], None] = print
) -> int:
    """Mark sources so an unchanged file is not ingested again, and delete the landing copies."""
    deleted = 0
    with transaction(con):
        for path in sorted(set(source_paths)):
            con.execute("UPDATE docs.sources SET status = ? WHERE source_path = ?", [status, path])
    if delete_files:
        root = os.path.realpath(landing_root)
        for path in sorted(set(source_paths)):
            full = os.path.realpath(os.path.join(root, path))
            if full.startswith(root + os.sep) and os.path.isfile(full):
                os.unlink(full)
                deleted += 1
        log(f"deleted {deleted} landing file(s)")
    return deleted


def drop_models_naming(model_dir: Path, subject: str) -> list[str]:
    """Fitted models whose files hold the subject (a recommender's user index, say) are deleted:
    a model cannot be edited, only trained again on the rewritten data."""
    if not model_dir.is_dir():
        return []
    needle = subject.lower().encode()
    gone = []
    for path in sorted(model_dir.glob("*.pkl")):
        if needle in path.read_bytes().lower():
            path.unlink()
            gone.append(path.stem)
    return gone
