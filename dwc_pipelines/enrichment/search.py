"""Chunk embeddings and semantic search over them (plain Python + SQL)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from dwc_resources import ai_local as local
from dwc_resources import pii
from dwc_resources.ai_local import EMBEDDING_DIM
from dwc_resources.duck import insert_arrow, stream_rows, transaction

EMBED_MODEL = f"{local.PROVIDER_VERSION}/hashed-{EMBEDDING_DIM}"


def embed_chunks(con, run_id: str, batch_size: int = 2000, log: Callable[[str], None] = print) -> dict:
    """Embed every chunk of a current document that has no embedding for this model; one transaction."""
    pending = """FROM docs.chunks c WHERE NOT EXISTS (
                   SELECT 1 FROM ai.chunk_embeddings e WHERE e.chunk_id = c.chunk_id AND e.model = ?)"""
    total = con.execute(f"SELECT count(DISTINCT chunk_id) {pending}", [EMBED_MODEL]).fetchall()[0][0]
    schema = pa.schema(
        [
            ("chunk_id", pa.string()),
            ("provider", pa.string()),
            ("model", pa.string()),
            ("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)),
            ("run_id", pa.string()),
        ]
    )
    done = 0
    with transaction(con):
        sql = f"SELECT chunk_id, any_value(text) {pending} GROUP BY chunk_id"
        for rows in stream_rows(con, sql, [EMBED_MODEL], batch_size):
            vectors = local.embed([text for _, text in rows])
            insert_arrow(
                con,
                "ai.chunk_embeddings",
                pa.table(
                    [
                        [r[0] for r in rows],
                        ["local"] * len(rows),
                        [EMBED_MODEL] * len(rows),
                        pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), EMBEDDING_DIM),
                        [run_id] * len(rows),
                    ],
                    schema=schema,
                ),
            )
            done += len(rows)
            log(f"embedded {done:,}/{total:,} chunks")
    return {"chunks_embedded": done, "model": EMBED_MODEL}


def index_chunk_terms(con, run_id: str, batch_size: int = 2000, log: Callable[[str], None] = print) -> dict:
    """The keyword index for BM25: term frequencies and length of every chunk not indexed before.

    Terms come from the chunk's masked text: the index never holds a person's name, email or
    number (a search for one finds nothing by keyword; semantic search still ranks the chunk)."""
    pending = "FROM docs.chunks c WHERE NOT EXISTS (SELECT 1 FROM ai.chunk_lengths l WHERE l.chunk_id = c.chunk_id)"
    total = con.execute(f"SELECT count(DISTINCT chunk_id) {pending}").fetchall()[0][0]
    done = 0
    with transaction(con):
        sql = f"SELECT chunk_id, any_value(text), any_value(pii) {pending} GROUP BY chunk_id"
        for rows in stream_rows(con, sql, [], batch_size):
            ids, terms, tfs, lengths = [], [], [], []
            for chunk_id, text, spans in rows:
                counts = Counter(local.content_words(pii.splice(text, spans) if spans else text))
                lengths.append(sum(counts.values()))
                for term, n in counts.items():
                    ids.append(chunk_id)
                    terms.append(term)
                    tfs.append(n)
            insert_arrow(
                con, "ai.chunk_terms", pa.table({"chunk_id": ids, "term": terms, "tf": pa.array(tfs, pa.int32())})
            )
            insert_arrow(
                con,
                "ai.chunk_lengths",
                pa.table(
                    {
                        "chunk_id": [r[0] for r in rows],
                        "n_terms": pa.array(lengths, pa.int32()),
                        "run_id": [run_id] * len(rows),
                    }
                ),
            )
            done += len(rows)
            log(f"indexed {done:,}/{total:,} chunks for keyword search")
    return {"chunks_indexed": done}


_CURRENT_CHUNKS = """SELECT DISTINCT c.chunk_id FROM docs.chunks c JOIN docs.documents d
                     ON d.doc_id = c.doc_id AND d.version = c.version AND d.is_current AND d.status = 'active'"""

SEMANTIC_SQL = f"""
SELECT e.chunk_id, array_cosine_similarity(e.embedding::FLOAT[{EMBEDDING_DIM}], ?::FLOAT[{EMBEDDING_DIM}]) AS score
FROM ai.chunk_embeddings e JOIN ({_CURRENT_CHUNKS}) USING (chunk_id)
WHERE e.model = ?
ORDER BY score DESC, e.chunk_id
LIMIT ?
"""

# Okapi BM25 (k1 = 1.2, b = 0.75) over the current chunks, in SQL: DuckDB's full-text extension
# would have to be downloaded, and the platform makes no network call it was not asked to.
BM25_SQL = f"""
WITH cur AS ({_CURRENT_CHUNKS}),
lens AS (SELECT l.chunk_id, l.n_terms FROM ai.chunk_lengths l JOIN cur USING (chunk_id)),
stats AS (SELECT count(*) AS n, avg(n_terms) AS avgdl FROM lens),
hits AS (SELECT t.chunk_id, t.term, t.tf FROM ai.chunk_terms t JOIN cur USING (chunk_id)
         WHERE t.term IN (SELECT unnest(?::VARCHAR[]))),
df AS (SELECT term, count(*) AS df FROM hits GROUP BY term)
SELECT h.chunk_id,
       sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * h.tf * 2.2
           / (h.tf + 1.2 * (0.25 + 0.75 * l.n_terms / s.avgdl))) AS score
FROM hits h JOIN df USING (term) JOIN lens l USING (chunk_id), stats s
GROUP BY h.chunk_id
ORDER BY score DESC, h.chunk_id
LIMIT ?
"""

DETAILS_SQL = """
SELECT c.chunk_id, d.title, d.source_path, c.chunk_index, c.text, d.doc_id
FROM docs.chunks c
JOIN docs.documents d ON d.doc_id = c.doc_id AND d.version = c.version AND d.is_current AND d.status = 'active'
WHERE c.chunk_id IN (SELECT unnest(?::VARCHAR[]))
"""

MODES = ("hybrid", "semantic", "keyword")
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)


def semantic_ranking(con, query: str, limit: int) -> list[tuple[str, float]]:
    vector = local.embed([query])[0]
    if not np.any(vector):
        return []
    return con.execute(SEMANTIC_SQL, [vector.tolist(), EMBED_MODEL, limit]).fetchall()


def keyword_ranking(con, query: str, limit: int) -> list[tuple[str, float]]:
    terms = sorted(set(local.content_words(query)))
    if not terms:
        return []
    return con.execute(BM25_SQL, [terms, limit]).fetchall()


def search(con, query: str, k: int = 5, mode: str = "hybrid", candidates: int = 100) -> list[tuple]:
    """The best chunk of each of the k best documents: (title, source_path, chunk_index, score,
    text, doc_id). `hybrid` fuses the semantic and BM25 rankings by reciprocal rank."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    rankings = []
    if mode in ("hybrid", "semantic"):
        rankings.append(semantic_ranking(con, query, candidates))
    if mode in ("hybrid", "keyword"):
        rankings.append(keyword_ranking(con, query, candidates))
    if mode == "hybrid":
        fused: dict[str, float] = {}
        for ranking in rankings:
            for rank, (chunk_id, _) in enumerate(ranking, 1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    else:
        ranked = rankings[0]
    if not ranked:
        return []
    details = {r[0]: r[1:] for r in con.execute(DETAILS_SQL, [[c for c, _ in ranked]]).fetchall()}
    out, seen = [], set()
    for chunk_id, score in ranked:
        if chunk_id not in details:
            continue
        title, path, index, text, doc_id = details[chunk_id]
        if doc_id in seen:
            continue
        seen.add(doc_id)
        out.append((title, path, index, float(score), text, doc_id))
        if len(out) == k:
            break
    return out
