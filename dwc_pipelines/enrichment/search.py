"""Chunk embeddings, the keyword index, and hybrid search over both (plain Python + SQL)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dwc_resources import ai_local as local
from dwc_resources import pii
from dwc_resources.duck import insert_arrow, stream_rows, transaction

from . import vector_index


def embed_chunks(con, embedder, run_id: str, batch_size: int = 2000, log: Callable[[str], None] = print) -> dict:
    """Embed every chunk that has no embedding for this model; one transaction. Rows of other models
    stay (a model change re-embeds incrementally, and search only ever reads one model's rows)."""
    pending = """FROM docs.chunks c WHERE NOT EXISTS (
                   SELECT 1 FROM ai.chunk_embeddings e WHERE e.chunk_id = c.chunk_id AND e.model = ?)"""
    total = con.execute(f"SELECT count(DISTINCT chunk_id) {pending}", [embedder.model]).fetchall()[0][0]
    done = 0
    seconds = 0.0
    with transaction(con):
        sql = f"SELECT chunk_id, any_value(text) {pending} GROUP BY chunk_id"
        for rows in stream_rows(con, sql, [embedder.model], batch_size):
            started = time.perf_counter()
            vectors = embedder.embed([text for _, text in rows])
            seconds += time.perf_counter() - started
            dim = vectors.shape[1]
            insert_arrow(
                con,
                "ai.chunk_embeddings",
                pa.table(
                    {
                        "chunk_id": [r[0] for r in rows],
                        "provider": [embedder.provider] * len(rows),
                        "model": [embedder.model] * len(rows),
                        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim),
                        "run_id": [run_id] * len(rows),
                        "dim": pa.array([dim] * len(rows), pa.int32()),
                    }
                ),
                by_name=True,
            )
            done += len(rows)
            log(f"embedded {done:,}/{total:,} chunks ({embedder.model})")
    return {
        "chunks_embedded": done,
        "model": embedder.model,
        "dim": embedder.dim,
        "chunks_per_s": round(done / seconds, 1) if seconds else None,
    }


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


def _semantic_sql(dim: int) -> str:
    return f"""
SELECT e.chunk_id, array_cosine_similarity(e.embedding::FLOAT[{dim}], ?::FLOAT[{dim}]) AS score
FROM ai.chunk_embeddings e JOIN ({_CURRENT_CHUNKS}) USING (chunk_id)
WHERE e.model = ?
ORDER BY score DESC, e.chunk_id
LIMIT ?
"""


# Okapi BM25 (k1 = 1.2, b = 0.75) over the current chunks, in SQL; docs/search.md compares it with
# DuckDB's fts extension.
BM25_SQL = f"""
WITH cur AS ({_CURRENT_CHUNKS}),
lens AS (SELECT l.chunk_id, l.n_terms FROM ai.chunk_lengths l JOIN cur USING (chunk_id)),
stats AS (SELECT count(*) AS n, avg(n_terms) AS avgdl FROM lens),
hits AS (SELECT t.chunk_id, t.term, t.tf FROM ai.chunk_terms t JOIN cur USING (chunk_id)
         WHERE t.term IN (SELECT unnest(?::VARCHAR[]))),
df AS (SELECT term, count(*) AS df FROM hits GROUP BY term)
SELECT h.chunk_id,
       sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * h.tf * 2.2
           / (h.tf + 1.2 * (0.25 + 0.75 * l.n_terms / s.avgdl))) AS score,
       count(*) AS matched
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

VECTORS_SQL = """
SELECT chunk_id, any_value(embedding) FROM ai.chunk_embeddings
WHERE model = ? AND chunk_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY chunk_id
"""

MODES = ("hybrid", "semantic", "keyword")
# Reciprocal rank fusion (Cormack et al. 2009) with k = 10 rather than their 60: on the dev half of
# bench/enrich's title queries, MRR@10 0.717 at 10, 0.712 at 30 and 0.711 at 60.
RRF_K = 10
# A hit must be this close in meaning to the query (cosine of the centred WordLlama vectors), or
# match every query term by keyword. Chosen on calibration queries that bench/enrich does not score
# (docs/search.md); other embedding models need their own value (`--min-similarity`).
MIN_SIMILARITY = 0.29


@dataclass
class Hit:
    title: str | None
    source_path: str
    chunk_index: int
    score: float  # the ranking's own score: fused RRF (hybrid), cosine (semantic) or BM25 (keyword)
    text: str
    doc_id: str
    chunk_id: str
    similarity: float | None  # cosine between query and chunk
    vector_rank: int | None
    keyword_rank: int | None
    bm25: float | None
    terms_matched: int

    def __iter__(self):  # (title, path, chunk_index, score, text, doc_id), as callers unpack hits
        return iter((self.title, self.source_path, self.chunk_index, self.score, self.text, self.doc_id))

    def __getitem__(self, i):
        return tuple(self)[i]

    def explain(self) -> dict:
        return {
            "vector_rank": self.vector_rank,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "vector_rrf": round(1 / (RRF_K + self.vector_rank), 5) if self.vector_rank else 0.0,
            "keyword_rank": self.keyword_rank,
            "bm25": None if self.bm25 is None else round(self.bm25, 4),
            "keyword_rrf": round(1 / (RRF_K + self.keyword_rank), 5) if self.keyword_rank else 0.0,
            "terms_matched": self.terms_matched,
        }


def query_terms(query: str) -> list[str]:
    return sorted(set(local.content_words(query)))


def semantic_ranking(con, vector: np.ndarray, model: str, limit: int, index_folder: str | None = None):
    """(chunk_id, cosine) best first: from the model's ANN index when there is one, else exactly."""
    if not np.any(vector):
        return []
    if index_folder:
        index = vector_index.load(index_folder, model)
        if index is not None:
            # Over-fetch: chunks of superseded documents are in the index until they are filtered out.
            return index.search(vector, limit * 2)
    return con.execute(_semantic_sql(len(vector)), [vector.tolist(), model, limit]).fetchall()


def keyword_ranking(con, query: str, limit: int) -> list[tuple[str, float, int]]:
    terms = query_terms(query)
    if not terms:
        return []
    return con.execute(BM25_SQL, [terms, limit]).fetchall()


def indexed_models(con) -> list[tuple[str, int]]:
    return con.execute("SELECT model, count(*) FROM ai.chunk_embeddings GROUP BY 1 ORDER BY 2 DESC").fetchall()


def search(
    con,
    query: str,
    k: int = 5,
    mode: str = "hybrid",
    candidates: int = 100,
    embedder=None,
    index_folder: str | None = None,
    min_similarity: float | None = MIN_SIMILARITY,
) -> list[Hit]:
    """The best chunk of each of the k best documents, as `Hit`s. `hybrid` fuses the semantic and
    BM25 rankings by reciprocal rank. Hits that are neither close in meaning (`min_similarity`) nor
    match every query term are dropped, so a query about nothing in the corpus returns nothing."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if embedder is None:
        from dwc_resources.embedding import local_embedder

        embedder = local_embedder()
    vector = embedder.embed([query])[0]
    semantic = semantic_ranking(con, vector, embedder.model, candidates, index_folder) if mode != "keyword" else []
    keyword = keyword_ranking(con, query, candidates) if mode != "semantic" else []
    ids = list(dict.fromkeys([c for c, *_ in semantic] + [c for c, *_ in keyword]))
    if not ids:
        return []
    details = {r[0]: r[1:] for r in con.execute(DETAILS_SQL, [ids]).fetchall()}
    # Rank among current chunks only: an index may still hold chunks of superseded versions.
    semantic = [(c, s) for c, s in semantic if c in details][:candidates]
    keyword = [(c, s, m) for c, s, m in keyword if c in details]
    v_rank = {c: (i, s) for i, (c, s) in enumerate(semantic, 1)}
    k_rank = {c: (i, s, m) for i, (c, s, m) in enumerate(keyword, 1)}
    similarity = {c: s for c, s in semantic}
    missing = [c for c in k_rank if c not in similarity]
    if missing and np.any(vector):
        stored = dict(con.execute(VECTORS_SQL, [embedder.model, missing]).fetchall())
        for c in missing:
            if c in stored:
                similarity[c] = float(np.dot(np.asarray(stored[c], np.float32), vector))
    n_terms = len(query_terms(query))
    scored: dict[str, float] = {}
    for c in details:
        if mode == "hybrid":
            scored[c] = sum(1.0 / (RRF_K + r[0]) for r in (v_rank.get(c), k_rank.get(c)) if r)
        elif mode == "semantic" and c in v_rank:
            scored[c] = v_rank[c][1]
        elif mode == "keyword" and c in k_rank:
            scored[c] = k_rank[c][1]
    out, seen = [], set()
    for c, score in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])):
        title, path, index, text, doc_id = details[c]
        matched = k_rank[c][2] if c in k_rank else 0
        sim = similarity.get(c)
        relevant = (
            min_similarity is None
            or (sim is not None and sim >= min_similarity)
            or (n_terms > 0 and matched == n_terms)
        )
        if doc_id in seen or not relevant:
            continue
        seen.add(doc_id)
        out.append(
            Hit(
                title, path, index, float(score), text, doc_id, c, sim,
                v_rank[c][0] if c in v_rank else None,
                k_rank[c][0] if c in k_rank else None,
                k_rank[c][1] if c in k_rank else None,
                matched,
            )
        )  # fmt: skip
        if len(out) == k:
            break
    return out


def find_semantic_duplicates(con, model: str, threshold: float, run_id: str) -> dict:
    """Replace ai.semantic_duplicates with the pairs of current documents whose embeddings (of
    `model`) have a cosine of at least `threshold`; MinHash twins among them are marked."""
    from dwc_resources.semantic import near_duplicate_pairs

    rows = con.execute(
        """SELECT d.doc_id, e.embedding FROM docs.documents d
           JOIN (SELECT content_hash, arg_max(embedding, enriched_at) AS embedding FROM ai.document_enrichment
                 WHERE status = 'ok' AND embedding_model = ? GROUP BY content_hash) e USING (content_hash)
           WHERE d.is_current AND d.status = 'active' AND d.duplicate_of IS NULL ORDER BY d.doc_id""",
        [model],
    ).fetchall()
    pairs = []
    if len(rows) > 1:
        vectors = np.asarray([r[1] for r in rows], np.float32)
        pairs = [(rows[i][0], rows[j][0], s) for i, j, s in near_duplicate_pairs(vectors, threshold)]
    with transaction(con):
        con.execute("DELETE FROM ai.semantic_duplicates")
        if pairs:
            minhash = {
                tuple(sorted(p))
                for p in con.execute(
                    "SELECT doc_id, twin_doc_id FROM docs.near_duplicates n JOIN docs.documents d USING (doc_id, version) "
                    "WHERE d.is_current"
                ).fetchall()
            }
            insert_arrow(
                con,
                "ai.semantic_duplicates",
                pa.table(
                    {
                        "doc_id": [a for a, _, _ in pairs],
                        "twin_doc_id": [b for _, b, _ in pairs],
                        "similarity": [s for *_, s in pairs],
                        "minhash_twin": [tuple(sorted((a, b))) in minhash for a, b, _ in pairs],
                        "model": [model] * len(pairs),
                        "threshold": [threshold] * len(pairs),
                        "run_id": [run_id] * len(pairs),
                    }
                ),
                by_name=True,
            )
    return {"pairs": len(pairs), "documents": len(rows), "model": model, "threshold": threshold}
