"""Ingesting a landing zone into the warehouse: plain Python over a DuckDB connection.

The run is crash-safe by construction. Files are processed in bounded batches; each batch
becomes one Parquet file in the run's staging folder beside the warehouse, written by the
worker that processed it (nothing but a count travels back). The visible tables change only
in one final merge transaction that reads those files. A run killed half-way leaves staging
files that the next run deletes, and the visible tables exactly as they were.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dwc_resources import pii
from dwc_resources.cas import BlobBatch, ContentStore, StoreConfig
from dwc_resources.duck import transaction

from . import ocr
from .formats import Limits, Rejected, extension_of, extract
from .landing import GONE, LandingFile, iter_landing, todo_sql
from .schema import DOC_FIELDS, STAGING_FIELDS
from .similarity import NUM_PERM, minhashes
from .similarity import SCHEME as MINHASH_SCHEME
from .text import detect_language, normalize_text, safe_display_name, title_from_name, token_count, words_of

_EXPECTED_EXT = {
    "text": {".txt", ".text", ".log", ""},
    "markdown": {".md", ".markdown"},
    "html": {".html", ".htm", ".xhtml"},
    "pdf": {".pdf"},
    "docx": {".docx"},
    "json": {".json", ".ipynb"},
    "csv": {".csv", ".tsv"},
    "epub": {".epub"},
    "email": {".eml"},
    "rtf": {".rtf"},
    "xml": {".xml"},
    "xlsx": {".xlsx", ".xlsm"},
    "xls": {".xls"},
    "pptx": {".pptx", ".pptm"},
    "odt": {".odt"},
    "ods": {".ods"},
    "odp": {".odp"},
    "doc": {".doc"},
    "msg": {".msg"},
    "zip": {".zip"},
    "7z": {".7z"},
    "image": {".png", ".jpg", ".jpeg", ".tif", ".tiff"},
}


@dataclass
class IngestSettings:
    max_file_bytes: int = 50 * 1024 * 1024
    max_text_chars: int = 5_000_000
    limits: Limits = field(default_factory=Limits)
    batch_size: int = 500
    workers: int = 1
    rehash: bool = False  # re-read files whose size and mtime are unchanged
    listing_page: int = 5000  # listing rows read back at a time to build the work list


@dataclass
class IngestReport:
    scanned: int = 0
    processed: int = 0
    unchanged: int = 0
    new_versions: int = 0
    tombstoned: int = 0
    quarantined_new: int = 0
    seconds: float = 0.0


def doc_id_for(relpath: str) -> str:
    return hashlib.sha256(("source:" + relpath).encode("utf-8", "surrogateescape")).hexdigest()[:24]


def _read_bounded(path: str, expected: int, cap: int) -> bytes:
    """At most `cap` bytes of the file, as `open(path, "rb").read(cap)` gives them, in two
    system calls when its size is what the listing saw (no buffered file object to build)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts, total = [], 0
        while total < cap:
            chunk = os.read(fd, min(expected + 1, cap) if not parts else min(1 << 20, cap - total))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def process_file(f: LandingFile, settings: IngestSettings, store: ContentStore, blobs: BlobBatch) -> list[dict]:
    """One file to its staging rows: accepted with its extraction, or quarantined with a reason;
    then a row for each attachment or archive member it holds (child documents, see _staged_bytes).
    Its original bytes go to `blobs` (or straight to the store when over the size limit). An
    accepted row carries its `words` for the batch's MinHash pass (see process_batch)."""
    ext = extension_of(f.relpath)
    shown = safe_display_name(f.relpath)
    row = {"source_path": shown, "extension": ext, "mtime_ns": f.mtime_ns, "size_bytes": f.size}

    def quarantine(code: str, reason: str, content_hash: str | None) -> list[dict]:
        row.update(kind="quarantined", reason_code=code, reason=reason, content_hash=content_hash)
        return [row]

    row["doc_id"] = doc_id_for(f.relpath)  # a quarantined container's children are decided by it too

    if f.problem in ("symlink_outside_landing", "unreadable", "special_file"):
        return quarantine(f.problem, f.problem_reason, None)
    if f.size > settings.max_file_bytes:
        try:
            h = store.put_file(f.abspath)
        except OSError as exc:
            return quarantine("unreadable", f"cannot read the file: {exc.strerror}", None)
        return quarantine("too_large", f"{f.size:,} bytes, over the limit of {settings.max_file_bytes:,}", h)
    try:
        data = _read_bounded(f.abspath, f.size, settings.max_file_bytes + 1)
    except OSError as exc:
        return quarantine("unreadable", f"cannot read the file: {exc.strerror}", None)
    if len(data) > settings.max_file_bytes:  # it grew after the listing
        return quarantine("too_large", f"over the limit of {settings.max_file_bytes:,} bytes", blobs.add(data))
    if f.problem:
        return quarantine(f.problem, f.problem_reason, blobs.add(data))
    return _staged_bytes(
        row, data, f.relpath, settings, blobs, parent=None, depth=0, budget=[settings.limits.max_archive_entries]
    )


def _staged_bytes(
    row: dict,
    data: bytes,
    relpath: str,
    settings: IngestSettings,
    blobs: BlobBatch,
    parent: str | None,
    depth: int,
    budget: list[int],
) -> list[dict]:
    """Rows for one file's (or one member's) bytes: itself, then its children. A child's path is
    its container's path, '!/', and its name inside; it is a document of its own, linked by
    parent_doc_id, and leaves when its container does (see _merge). Depth and the number of
    members across all levels are bounded (an archive bomb made of nested archives is quarantined)."""
    content_hash = blobs.add(data)
    row["size_bytes"] = len(data)
    row["parent_doc_id"] = parent
    ext = row["extension"]
    doc = None
    try:
        doc = _accepted(row, data, relpath, ext, content_hash, settings)
    except Rejected as rej:
        row.update(kind="quarantined", reason_code=rej.code, reason=rej.reason, content_hash=content_hash)
    except (MemoryError, RecursionError) as exc:
        row.update(
            kind="quarantined",
            reason_code="extraction_error",
            reason=f"{type(exc).__name__} while extracting",
            content_hash=content_hash,
        )
    except Exception as exc:  # a parser bug on one hostile file must not sink the batch
        row.update(
            kind="quarantined",
            reason_code="extraction_error",
            reason=f"{type(exc).__name__}: {str(exc)[:300]}",
            content_hash=content_hash,
        )
    row.setdefault("doc_id", doc_id_for(relpath))
    rows = [row]
    children = doc.children if doc is not None else []
    if not children:
        return rows
    if depth + 1 > settings.limits.max_archive_depth:
        row.update(
            kind="quarantined",
            reason_code="archive_too_deep",
            content_hash=content_hash,
            reason=f"holds files {depth + 1} containers deep, over the limit of {settings.limits.max_archive_depth}",
        )
        return rows
    budget[0] -= len(children)
    if budget[0] < 0:
        row.update(
            kind="quarantined",
            reason_code="zip_bomb",
            content_hash=content_hash,
            reason=f"nested archives hold more than {settings.limits.max_archive_entries} files in all",
        )
        return rows
    doc_id = row["doc_id"]
    for name, payload in children:
        child_rel = f"{relpath}!/{name}"
        child = {
            "source_path": safe_display_name(child_rel),
            "extension": extension_of(name),
            "mtime_ns": row["mtime_ns"],
            "size_bytes": len(payload),
        }
        rows.extend(_staged_bytes(child, payload, child_rel, settings, blobs, doc_id, depth + 1, budget))
    return rows


def _accepted(row: dict, data: bytes, relpath: str, ext: str, content_hash: str, settings: IngestSettings):
    """Fills the staging row of a file that extracts and returns the extraction; raises Rejected
    (or anything a parser raises) otherwise."""
    doc = extract(data, relpath, settings.limits)
    # Normalising shrinks text (runs of spaces, control characters): cut with a margin, then exactly.
    raw_text, doc.text = doc.text, None
    text = normalize_text(raw_text[: settings.max_text_chars * 2])
    truncated = len(text) > settings.max_text_chars or len(raw_text) > settings.max_text_chars * 2
    del raw_text
    if truncated:
        text = text[: settings.max_text_chars]
    if not text:
        raise Rejected("empty_text", f"no text after extraction ({doc.format})")
    words = words_of(text)
    row.update(
        kind="accepted",
        doc_id=doc_id_for(relpath),
        content_hash=content_hash,
        format=doc.format,
        mime=doc.mime,
        extension_mismatch=ext not in _EXPECTED_EXT.get(doc.format, {ext}),
        title=(normalize_text(doc.title) if doc.title else "")[:500] or title_from_name(relpath),
        author=normalize_text(str(doc.author))[:300] if doc.author else None,
        created_at=doc.created_at,
        modified_at=doc.modified_at,
        page_count=doc.page_count,
        language=detect_language(text, words),
        word_count=len(words),
        char_count=len(text),
        token_count=token_count(text, words),
        text=text,
        words=words,
        pii=[sp.as_row() for sp in pii.detect(text)],
        text_truncated=truncated,
        pages=doc.extra.get("pages"),
    )
    return doc


_worker_store: ContentStore | None = None


def _init_worker(store_cfg: StoreConfig) -> None:
    """A pool worker keeps one store connection for all its batches: closing the last
    connection to a WAL database checkpoints it, about 10 ms a batch."""
    global _worker_store
    _worker_store = store_cfg.open()


def process_batch(
    files: list[LandingFile],
    settings: IngestSettings,
    store_cfg: StoreConfig,
    first_seq: int,
    run_id: str,
    out_path: str,
) -> dict:
    """Process one batch and write it as one staging Parquet file (written aside, then renamed);
    returns counts only, so a worker sends nothing heavy back."""
    store = _worker_store or store_cfg.open()
    try:
        with store.batch() as blobs:
            rows = [row for f in files for row in process_file(f, settings, store, blobs)]
    finally:
        if store is not _worker_store:
            store.close()
    has_sig = np.fromiter((r["kind"] == "accepted" for r in rows), dtype=bool, count=len(rows))
    signatures = minhashes([r.pop("words") for r, accepted in zip(rows, has_sig) if accepted])
    table = _to_arrow(rows, signatures, has_sig, first_seq, run_id)
    tmp = out_path + ".tmp"
    pq.write_table(table, tmp, compression="none", use_dictionary=False, write_statistics=False)
    os.replace(tmp, out_path)
    return {"files": len(rows), "accepted": int(has_sig.sum())}


_ARROW_TYPES = {
    "extension_mismatch": pa.bool_(),
    "text_truncated": pa.bool_(),
    "created_at": pa.timestamp("us"),
    "modified_at": pa.timestamp("us"),
    "page_count": pa.int32(),
    "word_count": pa.int32(),
    "char_count": pa.int32(),
    "token_count": pa.int32(),
    "size_bytes": pa.int64(),
    "minhash": pa.list_(pa.uint64()),
    "mtime_ns": pa.int64(),
    "seq": pa.int64(),
    "pages": pa.list_(pa.struct([("page", pa.int32()), ("source", pa.string()), ("ocr_confidence", pa.float32())])),
    "pii": pa.list_(
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
}
STAGING_SCHEMA = pa.schema([(name, _ARROW_TYPES.get(name, pa.string())) for name in STAGING_FIELDS])


def _to_arrow(rows: list[dict], signatures: np.ndarray, has_sig: np.ndarray, first_seq: int, run_id: str) -> pa.Table:
    """Staging rows as Arrow; `signatures` holds one row per accepted row, in order."""
    n = len(rows)
    columns = {}
    for name in STAGING_FIELDS:
        if name == "minhash":
            values = np.zeros((n, NUM_PERM), dtype=np.uint64)
            values[has_sig] = signatures
            columns[name] = pa.ListArray.from_arrays(
                pa.array(np.arange(0, (n + 1) * NUM_PERM, NUM_PERM, dtype=np.int32)),
                pa.array(values.ravel()),
                mask=pa.array(~has_sig),
            )
        elif name == "seq":
            columns[name] = pa.array(np.arange(first_seq, first_seq + n, dtype=np.int64))
        elif name == "run_id":
            columns[name] = pa.array([run_id] * n, pa.string())
        else:
            columns[name] = pa.array([r.get(name) for r in rows], type=_ARROW_TYPES.get(name, pa.string()))
    return pa.table(columns, schema=STAGING_SCHEMA)


_LISTING_SCHEMA = pa.schema(
    [
        ("source_path", pa.string()),
        ("raw_path", pa.binary()),
        ("size_bytes", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("problem", pa.string()),
        ("problem_reason", pa.string()),
    ]
)


def _store_listing(con, landing_root: str, path: str, chunk: int = 5_000) -> int:
    """Write the landing-zone listing to a Parquet file at `path` (a row group per `chunk`
    files) and expose it as the temporary view `_listing`; returns the file count. On disk
    rather than in a table: DuckDB reads it back page by page and caches none of it."""
    n = 0
    pending: list[LandingFile] = []
    with pq.ParquetWriter(path, _LISTING_SCHEMA, compression="none") as out:

        def flush() -> None:
            out.write_table(
                pa.table(
                    [
                        [safe_display_name(f.relpath) for f in pending],
                        [os.fsencode(f.relpath) for f in pending],
                        [f.size for f in pending],
                        [f.mtime_ns for f in pending],
                        [f.problem for f in pending],
                        [f.problem_reason for f in pending],
                    ],
                    schema=_LISTING_SCHEMA,
                )
            )
            pending.clear()

        for f in iter_landing(landing_root):
            pending.append(f)
            n += 1
            if len(pending) >= chunk:
                flush()
        if pending or not n:
            flush()
    con.execute(f"CREATE OR REPLACE TEMP VIEW _listing AS SELECT * FROM read_parquet({_sql_str(path)})")
    return n


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _processed(
    batches: Iterable[list[LandingFile]],
    total: int,
    settings: IngestSettings,
    store_cfg: StoreConfig,
    run_id: str,
    staging: str,
) -> Iterator[dict]:
    """Batches processed in order, each written to `staging`; with workers > 1, in a process pool
    with a bounded window of batches in flight, so memory stays flat however many files there
    are. Small drops stay in-process: starting workers costs more than it saves."""

    def jobs():
        # A file can stage several rows (its attachments, an archive's members): each batch numbers
        # its rows from its own block of 2**32, so seq stays unique and in path order.
        for i, b in enumerate(batches):
            yield (b, settings, store_cfg, i << 32, run_id, os.path.join(staging, f"batch-{i:07d}.parquet"))

    if settings.workers <= 1 or total < settings.batch_size * 4:
        for job in jobs():
            yield process_batch(*job)
        return
    ctx = multiprocessing.get_context("forkserver")
    # The fork server imports this module once; every worker forks from it ready to run.
    ctx.set_forkserver_preload([__name__])
    with cf.ProcessPoolExecutor(
        max_workers=settings.workers, mp_context=ctx, initializer=_init_worker, initargs=(store_cfg,)
    ) as pool:
        window: list[cf.Future] = []
        for job in jobs():
            window.append(pool.submit(process_batch, *job))
            if len(window) >= settings.workers * 2:
                yield window.pop(0).result()
        for fut in window:
            yield fut.result()


def staging_root(con) -> str:
    """The folder where runs stage their batches: the lakehouse's work dir (a connection variable
    its writer sets), or a temporary folder for a bare connection."""
    work = con.execute("SELECT getvariable('dwc_work_dir')").fetchall()[0][0]
    if not work:
        import tempfile

        return os.path.join(tempfile.gettempdir(), f"dwc-staging-{os.getpid()}")
    return os.path.join(work, "staging", "docs")


def ingest_landing(
    con,
    landing_root: str,
    store: StoreConfig | str,
    run_id: str,
    settings: IngestSettings | None = None,
    log: Callable[[str], None] = print,
) -> IngestReport:
    settings = settings or IngestSettings()
    report = IngestReport()
    t0 = time.perf_counter()
    now = datetime.now(UTC).replace(tzinfo=None)
    # One ingestion run at a time (the dwc/landing run tag's limit), so any staging files left
    # are from a run that died before its merge: discard them.
    root_staging = staging_root(con)
    shutil.rmtree(root_staging, ignore_errors=True)
    staging = os.path.join(root_staging, run_id)
    os.makedirs(staging)
    report.scanned = _store_listing(con, landing_root, os.path.join(staging, "listing.parquet"))
    todo_query = todo_sql("{listing}", settings.rehash, ocr.available())
    total = con.execute(
        f"SELECT count(*) FILTER (todo) FROM ({todo_query.format(listing='FROM _listing')})"
    ).fetchall()[0][0]
    report.unchanged = report.scanned - total
    log(
        f"landing zone: {report.scanned:,} files, {total:,} new or changed, {report.unchanged:,} unchanged "
        f"(listed in {time.perf_counter() - t0:.1f}s)"
    )
    root = os.path.realpath(landing_root)

    def todo_batches() -> Iterator[list[LandingFile]]:
        # The work list in path order, a page of the listing at a time: no sorted copy of the
        # whole listing is held while the workers run, so memory does not grow with it.
        # Keyed by (source_path, raw_path): two raw names can escape to the same shown path.
        after, batch = None, []
        while True:
            where = "true" if after is None else "source_path > ? OR (source_path = ? AND raw_path > ?)"
            page = f"SELECT * FROM _listing WHERE {where} ORDER BY source_path, raw_path LIMIT ?"
            rows = con.execute(
                todo_query.format(listing=page) + " ORDER BY source_path, raw_path",
                [*(() if after is None else (after[0], after[0], after[1])), settings.listing_page],
            ).fetchall()
            for _, raw, size, mtime, problem, reason, todo in rows:
                if todo:
                    batch.append(
                        LandingFile(
                            os.fsdecode(raw), os.path.join(root, os.fsdecode(raw)), size, mtime, problem, reason
                        )
                    )
                    if len(batch) == settings.batch_size:
                        yield batch
                        batch = []
            if len(rows) < settings.listing_page:
                break
            after = rows[-1][:2]
        if batch:
            yield batch

    last_log = time.perf_counter()
    store_cfg = store if isinstance(store, StoreConfig) else StoreConfig(store)
    for done in _processed(todo_batches(), total, settings, store_cfg, run_id, staging):
        report.processed += done["files"]
        if time.perf_counter() - last_log > 10 or report.processed == total:
            rate = report.processed / max(time.perf_counter() - t0, 1e-9)
            log(f"processed {report.processed:,}/{total:,} files ({rate:,.0f} files/s)")
            last_log = time.perf_counter()

    files = sorted(
        os.path.join(staging, name)
        for name in os.listdir(staging)
        if name.startswith("batch-") and name.endswith(".parquet")
    )
    if not files:
        files = [os.path.join(staging, "empty.parquet")]
        pq.write_table(STAGING_SCHEMA.empty_table(), files[0])
    listed = ", ".join(map(_sql_str, files))
    con.execute(f"CREATE OR REPLACE TEMP VIEW _staged AS SELECT * FROM read_parquet([{listed}])")
    t_merge = time.perf_counter()
    with transaction(con):
        _merge(con, run_id, now, report)
    log(
        f"merged {len(files):,} staged batches in {time.perf_counter() - t_merge:.1f}s: {report.new_versions:,} new "
        f"versions, {report.tombstoned:,} tombstones, {report.quarantined_new:,} newly quarantined"
    )
    con.execute("DROP VIEW _staged")
    con.execute("DROP VIEW _listing")
    shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report


_DOC_COLS = ", ".join(DOC_FIELDS)


def _merge(con, run_id: str, now: datetime, report: IngestReport) -> None:
    # A warehouse with no signatures yet holds only this scheme's from now on.
    con.execute(
        """INSERT INTO docs._settings SELECT 'minhash_scheme', ?
        WHERE NOT EXISTS (SELECT 1 FROM docs._settings WHERE key = 'minhash_scheme')
          AND NOT EXISTS (SELECT 1 FROM docs.documents WHERE minhash IS NOT NULL)""",
        [MINHASH_SCHEME],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _new AS
        SELECT s.seq, s.doc_id, coalesce(v.max_version, 0) + 1 AS version
        FROM _staged s
        LEFT JOIN (SELECT doc_id, max(version) AS max_version FROM docs.documents GROUP BY doc_id) v USING (doc_id)
        LEFT JOIN docs.documents c ON c.doc_id = s.doc_id AND c.is_current
        WHERE s.run_id = ? AND s.kind = 'accepted'
          AND (c.doc_id IS NULL OR c.status = 'deleted' OR c.content_hash <> s.content_hash)
        """,
        [run_id],
    )
    report.new_versions = con.execute("SELECT count(*) FROM _new").fetchall()[0][0]
    con.execute("UPDATE docs.documents SET is_current = false WHERE is_current AND doc_id IN (SELECT doc_id FROM _new)")
    con.execute(
        f"""INSERT INTO docs.documents ({_DOC_COLS}, version, status, is_current, duplicate_of, ingested_at, run_id)
        SELECT {", ".join("s." + c for c in DOC_FIELDS)}, n.version, 'active', true, NULL, ?, ?
        FROM _staged s JOIN _new n USING (seq) WHERE s.run_id = ?""",
        [now, run_id, run_id],
    )

    # Sources that vanished from the landing zone: their documents become tombstones.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _gone AS {GONE.format(listing='_listing')}")
    report.tombstoned = con.execute(
        f"""INSERT INTO docs.documents ({_DOC_COLS}, version, status, is_current, duplicate_of, ingested_at, run_id)
        SELECT doc_id, source_path, content_hash, format, mime, extension, extension_mismatch, title, author,
               created_at, modified_at, page_count, language, 0, 0, size_bytes, '', NULL, NULL, 0, false, parent_doc_id, NULL,
               version + 1, 'deleted', true, NULL, ?, ?
        FROM docs.documents
        WHERE is_current AND status = 'active' AND doc_id IN (SELECT doc_id FROM _gone WHERE status = 'active')""",
        [now, run_id],
    ).fetchall()[0][0]
    con.execute(
        """UPDATE docs.documents SET is_current = false
        WHERE is_current AND status = 'active' AND doc_id IN (SELECT doc_id FROM _gone WHERE status = 'active')"""
    )
    # Children (attachments, archive members) leave with their container, or when a new version of
    # it no longer holds them: level by level down the parent_doc_id links, by hash joins only.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _decided AS
        SELECT doc_id FROM _gone WHERE doc_id IS NOT NULL
        UNION SELECT doc_id FROM _staged WHERE run_id = ? AND doc_id IS NOT NULL""",
        [run_id],
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _orphans (doc_id VARCHAR, version INTEGER)")
    for _ in range(32):  # deeper than any archive nesting allowed
        added = con.execute(
            """INSERT INTO _orphans
            SELECT d.doc_id, d.version FROM docs.documents d
            WHERE d.is_current AND d.status = 'active' AND d.parent_doc_id IS NOT NULL
              AND d.parent_doc_id IN (SELECT doc_id FROM _decided UNION ALL SELECT doc_id FROM _orphans)
              AND d.doc_id NOT IN (SELECT doc_id FROM _staged WHERE run_id = ? AND kind = 'accepted')
              AND d.doc_id NOT IN (SELECT doc_id FROM _orphans)""",
            [run_id],
        ).fetchall()[0][0]
        if not added:
            break
    report.tombstoned += con.execute(
        f"""INSERT INTO docs.documents ({_DOC_COLS}, version, status, is_current, duplicate_of, ingested_at, run_id)
        SELECT doc_id, source_path, content_hash, format, mime, extension, extension_mismatch, title, author,
               created_at, modified_at, page_count, language, 0, 0, size_bytes, '', NULL, NULL, 0, false, parent_doc_id, NULL,
               version + 1, 'deleted', true, NULL, ?, ?
        FROM docs.documents WHERE is_current AND (doc_id, version) IN (SELECT (doc_id, version) FROM _orphans)""",
        [now, run_id],
    ).fetchall()[0][0]
    con.execute(
        """UPDATE docs.documents SET is_current = false
        WHERE is_current AND status = 'active' AND (doc_id, version) IN (SELECT (doc_id, version) FROM _orphans)"""
    )
    con.execute(
        "UPDATE docs.sources SET status = 'deleted', last_run_id = ? WHERE source_path IN (SELECT source_path FROM _gone)",
        [run_id],
    )

    report.quarantined_new = con.execute(
        """INSERT INTO docs.quarantine
        SELECT source_path, content_hash, size_bytes, extension, reason_code, reason, ?, ?
        FROM _staged s
        WHERE s.run_id = ? AND s.kind = 'quarantined' AND NOT EXISTS (
            SELECT 1 FROM docs.quarantine q WHERE q.source_path = s.source_path
              AND q.content_hash IS NOT DISTINCT FROM s.content_hash AND q.reason_code = s.reason_code)
        ORDER BY seq""",
        [now, run_id, run_id],
    ).fetchall()[0][0]

    # The registry of landing files: children are not files of the landing zone.
    con.execute(
        """DELETE FROM docs.sources
        WHERE source_path IN (SELECT source_path FROM _staged WHERE run_id = ? AND parent_doc_id IS NULL)""",
        [run_id],
    )
    con.execute(
        """INSERT INTO docs.sources
        SELECT source_path, CASE kind WHEN 'accepted' THEN doc_id END, size_bytes, mtime_ns, content_hash,
               CASE kind WHEN 'accepted' THEN 'active' ELSE 'quarantined' END, run_id
        FROM _staged WHERE run_id = ? AND parent_doc_id IS NULL ORDER BY seq""",
        [run_id],
    )

    # Exact duplicates: every current document points at the first one with the same bytes. What
    # changes is found on narrow columns first: an UPDATE joined to the whole table reads every row's
    # text (100k documents did not fit the writer's memory), and most runs change nothing here.
    changed = con.execute(
        """CREATE OR REPLACE TEMP TABLE _duplicates AS
        SELECT d.doc_id, d.version, CASE WHEN d.doc_id = c.canonical THEN NULL ELSE c.canonical END AS duplicate_of
        FROM docs.documents d
        JOIN (SELECT content_hash, first(doc_id ORDER BY ingested_at, source_path) AS canonical
              FROM docs.documents WHERE is_current AND status = 'active' GROUP BY content_hash) c USING (content_hash)
        WHERE d.is_current AND d.status = 'active'
          AND d.duplicate_of IS DISTINCT FROM (CASE WHEN d.doc_id = c.canonical THEN NULL ELSE c.canonical END)"""
    ).fetchall()[0][0]
    if changed:
        con.execute(
            """UPDATE docs.documents d SET duplicate_of = u.duplicate_of FROM _duplicates u
            WHERE d.is_current AND d.doc_id = u.doc_id AND d.version = u.version"""
        )
