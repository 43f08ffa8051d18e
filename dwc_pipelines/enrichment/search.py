"""Chunk embeddings and semantic search over them (plain Python + SQL)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa

from dwc_resources.duck import insert_arrow, stream_rows, transaction

from . import local
from .local import EMBEDDING_DIM

EMBED_MODEL = f"{local.PROVIDER_VERSION}/hashed-{EMBEDDING_DIM}"


def embed_chunks(con, run_id: str, batch_size: int = 2000, log: Callable[[str], None] = print) -> dict:
    """Embed every chunk of a current document that has no embedding for this model; one transaction."""
    pending = """FROM docs.chunks c WHERE NOT EXISTS (
                   SELECT 1 FROM ai.chunk_embeddings e WHERE e.chunk_id = c.chunk_id AND e.model = ?)"""
    total = con.execute(f"SELECT count(DISTINCT chunk_id) {pending}", [EMBED_MODEL]).fetchall()[0][0]
    schema = pa.schema([("chunk_id", pa.string()), ("provider", pa.string()), ("model", pa.string()),
                        ("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)), ("run_id", pa.string())])
    done = 0
    with transaction(con):
        sql = f"SELECT chunk_id, any_value(text) {pending} GROUP BY chunk_id"
        for rows in stream_rows(con, sql, [EMBED_MODEL], batch_size):
            vectors = local.embed([text for _, text in rows])
            insert_arrow(con, "ai.chunk_embeddings", pa.table([[r[0] for r in rows], ["local"] * len(rows), [EMBED_MODEL] * len(rows),
                              pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), EMBEDDING_DIM),
                              [run_id] * len(rows)], schema=schema))
            done += len(rows)
            log(f"embedded {done:,}/{total:,} chunks")
    return {"chunks_embedded": done, "model": EMBED_MODEL}


SEARCH_SQL = f"""
SELECT d.title, d.source_path, c.chunk_index,
       array_cosine_similarity(e.embedding::FLOAT[{EMBEDDING_DIM}], ?::FLOAT[{EMBEDDING_DIM}]) AS score,
       c.text, d.doc_id
FROM ai.chunk_embeddings e
JOIN docs.chunks c USING (chunk_id)
JOIN docs.documents d ON d.doc_id = c.doc_id AND d.version = c.version AND d.is_current AND d.status = 'active'
WHERE e.model = ?
ORDER BY score DESC, d.doc_id, c.chunk_index
LIMIT ?
"""


def search(con, query: str, k: int = 5) -> list[tuple]:
    """The k chunks closest to the query: (title, source_path, chunk_index, score, text, doc_id)."""
    vector = local.embed([query])[0]
    if not np.any(vector):
        return []
    return con.execute(SEARCH_SQL, [vector.tolist(), EMBED_MODEL, k]).fetchall()
