"""Tables derived from current documents: chunks and near-duplicates (plain Python + SQL)."""

from __future__ import annotations

import pyarrow as pa

from dwc_resources.duck import insert_arrow, stream_rows, transaction

from .chunking import CHUNKER_VERSION, chunk_text
from .schema import PII_SPANS
from .similarity import BANDS, NUM_PERM, ROWS, SCHEME, minhashes
from .text import words_of

_CHUNK_SCHEMA = pa.schema(
    [
        ("chunk_id", pa.string()),
        ("doc_id", pa.string()),
        ("version", pa.int32()),
        ("content_hash", pa.string()),
        ("chunk_index", pa.int32()),
        ("token_start", pa.int32()),
        ("token_end", pa.int32()),
        ("char_start", pa.int32()),
        ("char_end", pa.int32()),
        ("n_tokens", pa.int32()),
        ("text", pa.string()),
        ("chunker", pa.string()),
        ("run_id", pa.string()),
        (
            "pii",
            pa.list_(
                pa.struct(
                    [
                        ("start", pa.int32()),
                        ("end", pa.int32()),
                        ("type", pa.string()),
                        ("confidence", pa.float32()),
                        ("detector", pa.string()),
                    ]
                )
            ),
        ),
    ]
)


def clip_spans(spans: list[dict] | None, start: int, end: int) -> list[dict]:
    """A document's personal-data spans that touch [start, end), relative to `start`: a chunk
    that cuts a span in two keeps its piece, so the piece is masked too."""
    return [
        {**s, "start": max(s["start"], start) - start, "end": min(s["end"], end) - start}
        for s in spans or ()
        if s["end"] > start and s["start"] < end
    ]


def build_chunks(con, run_id: str, max_tokens: int = 256, overlap: int = 32, batch_docs: int = 1000, log=print) -> dict:
    """Chunk every current document that has no chunks for its current version; drop chunks of
    versions that are no longer current.

    Each batch of documents commits on its own: one transaction for the whole corpus would hold
    every new chunk in memory until the end (DuckDB's memory_limit does not bound uncommitted
    appends), so memory would grow with the corpus. A document's chunks always commit together,
    and a run stopped half-way leaves whole documents chunked and the rest pending for the next
    run; analysts see none of it before the step publishes."""
    chunker = f"{CHUNKER_VERSION}/{max_tokens}/{overlap}"
    with transaction(con):
        removed = con.execute(
            """DELETE FROM docs.chunks c WHERE chunker <> ? OR NOT EXISTS (
                SELECT 1 FROM docs.documents d WHERE d.is_current AND d.status = 'active'
                  AND d.doc_id = c.doc_id AND d.version = c.version)""",
            [chunker],
        ).fetchall()[0][0]
    pending_sql = """FROM docs.documents d WHERE d.is_current AND d.status = 'active'
          AND NOT EXISTS (SELECT 1 FROM docs.chunks c
                          WHERE c.doc_id = d.doc_id AND c.version = d.version AND c.chunker = ?)"""
    total = con.execute(f"SELECT count(*) {pending_sql}", [chunker]).fetchall()[0][0]
    added = whole = _single_window_chunks(con, pending_sql, chunker, run_id, max_tokens, overlap)
    if whole:
        log(f"chunked {whole:,}/{total:,} documents that fit one window, in SQL")
    done = whole
    sql = f"SELECT d.doc_id, d.version, d.content_hash, d.text, d.pii {pending_sql}"
    for docs in stream_rows(con, sql, [chunker], batch_size=batch_docs):
        cols: dict[str, list] = {name: [] for name in _CHUNK_SCHEMA.names}
        for doc_id, version, content_hash, text, spans in docs:
            for ch in chunk_text(text, content_hash, max_tokens, overlap):
                for name, value in (
                    ("chunk_id", ch.chunk_id),
                    ("doc_id", doc_id),
                    ("version", version),
                    ("content_hash", content_hash),
                    ("chunk_index", ch.index),
                    ("token_start", ch.token_start),
                    ("token_end", ch.token_end),
                    ("char_start", ch.char_start),
                    ("char_end", ch.char_end),
                    ("n_tokens", ch.token_end - ch.token_start),
                    ("text", ch.text),
                    ("chunker", chunker),
                    ("run_id", run_id),
                    ("pii", clip_spans(spans, ch.char_start, ch.char_end)),
                ):
                    cols[name].append(value)
        with transaction(con):
            added += insert_arrow(con, "docs.chunks", pa.table(cols, schema=_CHUNK_SCHEMA), by_name=True)
        done += len(docs)
        if (done // batch_docs) % 20 == 0:
            log(f"chunked {done:,}/{total:,} documents")
    return {
        "documents_chunked": total,
        "single_window_documents": whole,
        "chunks_added": added,
        "chunks_removed": removed,
        "chunker": chunker,
    }


def _single_window_chunks(con, pending_sql: str, chunker: str, run_id: str, max_tokens: int, overlap: int) -> int:
    """Chunks of pending documents whose text fits one window, written by SQL: the text is
    stripped at ingestion, so its only chunk is all of it (characters 0 to its length, tokens 0
    to token_count), with the id chunk_text gives it. One INSERT ... SELECT: DuckDB writes a
    large append to the file as it goes, so its memory stays within memory_limit (measured: the
    same peak as 16 smaller transactions, 20% faster). Documents without a token count
    (ingested before it was stored) are left to chunk_text."""
    with transaction(con):
        return con.execute(
            f"""INSERT INTO docs.chunks BY NAME
            SELECT left(sha256(concat_ws(':', ?, d.content_hash, ?, ?, 0, length(d.text))), 32) AS chunk_id,
                   d.doc_id, d.version, d.content_hash, 0 AS chunk_index, 0 AS token_start,
                   d.token_count AS token_end, 0 AS char_start, length(d.text) AS char_end,
                   d.token_count AS n_tokens, d.text, ? AS chunker, ? AS run_id,
                   CASE WHEN d.pii IS NULL THEN []::{PII_SPANS} ELSE list_transform(
                       list_filter(d.pii, lambda s: s."end" > 0 AND s.start < length(d.text)),
                       lambda s: struct_pack(start := greatest(s.start, 0), "end" := least(s."end", length(d.text)),
                                             type := s.type, confidence := s.confidence, detector := s.detector))
                   END AS pii
            {pending_sql} AND d.token_count BETWEEN 1 AND ?""",
            [CHUNKER_VERSION, max_tokens, overlap, chunker, run_id, chunker, max_tokens],
        ).fetchall()[0][0]


def find_near_duplicates(con, run_id: str, threshold: float = 0.8) -> dict:
    """MinHash LSH in SQL: documents sharing a band are candidates; a candidate pair whose
    estimated Jaccard similarity reaches the threshold is a near-duplicate. Each document
    keeps its nearest twin. Exact byte duplicates are excluded (see duplicate_of)."""
    resigned = _resign_if_scheme_changed(con)
    with transaction(con):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _bands AS
            SELECT doc_id, version, content_hash, band,
                   hash(list_slice(minhash, band * {ROWS} + 1, band * {ROWS} + {ROWS})) AS key
            FROM (SELECT doc_id, version, content_hash, minhash, unnest(range({BANDS})) AS band
                  FROM docs.documents WHERE is_current AND status = 'active' AND minhash IS NOT NULL)"""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _pairs AS
            WITH cand AS (
                SELECT DISTINCT x.doc_id AS a, y.doc_id AS b FROM _bands x JOIN _bands y
                  ON x.band = y.band AND x.key = y.key AND x.doc_id < y.doc_id AND x.content_hash <> y.content_hash)
            SELECT cand.a, cand.b,
                   len(list_filter(list_zip(da.minhash, db.minhash), lambda p: p[1] = p[2])) / {NUM_PERM} AS sim
            FROM cand
            JOIN docs.documents da ON da.doc_id = cand.a AND da.is_current
            JOIN docs.documents db ON db.doc_id = cand.b AND db.is_current"""
        )
        con.execute("DELETE FROM docs.near_duplicates")
        n = con.execute(
            """INSERT INTO docs.near_duplicates
            WITH both_ways AS (
                SELECT a AS doc_id, b AS twin, sim FROM _pairs WHERE sim >= ?
                UNION ALL SELECT b, a, sim FROM _pairs WHERE sim >= ?)
            SELECT d.doc_id, d.version, d.content_hash, w.twin, w.sim, ?
            FROM (SELECT doc_id, twin, sim, row_number() OVER (PARTITION BY doc_id ORDER BY sim DESC, twin) AS r
                  FROM both_ways) w
            JOIN docs.documents d ON d.doc_id = w.doc_id AND d.is_current
            WHERE w.r = 1
            ORDER BY d.doc_id""",
            [threshold, threshold, run_id],
        ).fetchall()[0][0]
        candidates = con.execute("SELECT count(*) FROM _pairs").fetchall()[0][0]
    return {
        "near_duplicate_documents": n,
        "candidate_pairs": candidates,
        "threshold": threshold,
        "signatures_recomputed": resigned,
    }


def _resign_if_scheme_changed(con, batch_docs: int = 2000) -> int:
    """Signatures of another MinHash scheme (a warehouse from an earlier version) are not
    comparable with this one's: recompute those of current documents from their stored text,
    once, then record the scheme. Returns the number recomputed."""
    row = con.execute("SELECT value FROM docs._settings WHERE key = 'minhash_scheme'").fetchall()
    if row and row[0][0] == SCHEME:
        return 0
    n = 0
    with transaction(con):
        for docs in stream_rows(
            con,
            """SELECT doc_id, version, text FROM docs.documents
                                        WHERE is_current AND status = 'active' AND minhash IS NOT NULL""",
            batch_size=batch_docs,
        ):
            sigs = minhashes([words_of(text or "") for _, _, text in docs])
            con.register(
                "_resigned",
                pa.table(
                    {
                        "doc_id": [d[0] for d in docs],
                        "version": pa.array([d[1] for d in docs], pa.int32()),
                        "minhash": pa.array(list(sigs), pa.list_(pa.uint64())),
                    }
                ),
            )
            con.execute("""UPDATE docs.documents d SET minhash = r.minhash FROM _resigned r
                           WHERE d.doc_id = r.doc_id AND d.version = r.version""")
            con.unregister("_resigned")
            n += len(docs)
        con.execute("DELETE FROM docs._settings WHERE key = 'minhash_scheme'")
        con.execute("INSERT INTO docs._settings VALUES ('minhash_scheme', ?)", [SCHEME])
    return n
