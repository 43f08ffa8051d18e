"""A write load on the lake (and on a single DuckDB file, the layout it replaced), in plain Python:
the concurrency tests and bench/lakehouse run it in separate processes.

Appends: `docs0`/`docs1` get document-like rows, `chunks0`/`chunks1` chunk-like rows, in jobs of a
fixed number of rows. Upserts: a key's row is replaced by its next version (one MERGE, one
transaction), so a lost or overwritten commit shows as a version count that does not add up.
"""

from __future__ import annotations

import json
import os
import sys
import time

APPEND_TABLES = ("docs0", "docs1", "chunks0", "chunks1")
UPSERT_TABLES = ("kv0", "kv1", "kv2", "kv3")
DDL = ";".join(
    [
        *(
            f"CREATE TABLE IF NOT EXISTS docs.{t} (id BIGINT NOT NULL, doc_id VARCHAR NOT NULL, body VARCHAR, "
            f"n INTEGER, writer INTEGER)"
            for t in APPEND_TABLES
        ),
        *(
            f"CREATE TABLE IF NOT EXISTS docs.{t} (k INTEGER NOT NULL, version INTEGER NOT NULL, writer INTEGER)"
            for t in UPSERT_TABLES
        ),
    ]
)


def append_jobs(doc_rows: int, chunk_rows: int, doc_batch: int, chunk_batch: int) -> list[tuple[str, int, int]]:
    """(table, first id, last id) for every append job, docs and chunks interleaved."""
    jobs = []
    for table, rows, batch in (
        ("docs0", doc_rows // 2, doc_batch),
        ("docs1", doc_rows - doc_rows // 2, doc_batch),
        ("chunks0", chunk_rows // 2, chunk_batch),
        ("chunks1", chunk_rows - chunk_rows // 2, chunk_batch),
    ):
        jobs += [(table, a, min(a + batch, rows)) for a in range(0, rows, batch)]
    return sorted(jobs, key=lambda j: (j[1], j[0]))


def append_sql(table: str, lo: int, hi: int, writer: int) -> str:
    body = (
        "'chunk text of a document, about forty words long: ' || repeat('lorem ipsum dolor ', 8)"
        if table.startswith("chunks")
        else "'title of document ' || i"
    )
    return (
        f"INSERT INTO docs.{table} SELECT i, 'doc-' || (i // 10), {body} || i, (i % 97)::INTEGER, {writer} "
        f"FROM range({lo}, {hi}) t(i)"
    )


def upsert_target(i: int, keys: int) -> tuple[str, int]:
    """The table and key of the i-th upsert: the tables in turn, keys in turn within each."""
    return UPSERT_TABLES[i % len(UPSERT_TABLES)], (i // len(UPSERT_TABLES)) % keys


def upsert(con, i: int, keys: int, writer: int) -> None:
    """One key's row replaced by its next version (or its first inserted), in one transaction that
    holds the table: a single MERGE reads the table once (a SELECT then DELETE then INSERT costs 1.5x
    on a PostgreSQL-catalog lake, measured), the same statement on every store."""
    from dwc_resources.duck import transaction

    table, key = upsert_target(i, keys)
    with transaction(con, tables=[table]):
        con.execute(
            f"MERGE INTO docs.{table} t USING (SELECT ?::INTEGER AS k) s ON t.k = s.k "
            f"WHEN MATCHED THEN UPDATE SET version = t.version + 1, writer = ? "
            f"WHEN NOT MATCHED THEN INSERT VALUES (s.k, 1, ?)",
            [key, writer, writer],
        )


def _ready() -> None:
    """Imports done and connected: say so and wait for the word to start, so that a measured load
    starts in every writer at once and process start-up is not part of it."""
    if os.environ.get("DWC_LAKELOAD_GO"):
        print("ready", flush=True)
        sys.stdin.readline()


def _append(con, sql: str) -> None:
    from dwc_resources.duck import appending

    with appending(con):
        con.execute(sql)


def run_lake(spec: dict) -> dict:
    """One writer process on the lake: its share of the appends, then its share of the upserts. A commit
    that loses a race runs again (what a step retry does), counted."""
    from dwc_resources.lakehouse import LakehouseResource, backoff, retryable

    lake = LakehouseResource(**{**spec["lake"], "threads": spec.get("threads") or spec["lake"]["threads"]})
    w, writers = spec["writer"], spec["writers"]
    conflicts = committed = 0
    con = lake.connect()
    _ready()
    t0 = time.perf_counter()

    def attempt(fn):
        nonlocal conflicts, con
        for n in range(50):
            try:
                fn(con)
                return
            except Exception as exc:
                if not retryable(exc):
                    raise
                conflicts += 1
                con.close()
                time.sleep(backoff(n, base=0.02, cap=1.0))
                con = lake.connect()
        raise RuntimeError("gave up after 50 conflicts")

    try:
        for i, (table, lo, hi) in enumerate(spec["jobs"]):
            if i % writers == w:
                attempt(lambda c: _append(c, append_sql(table, lo, hi, w)))
                committed += 1
        appended = time.perf_counter() - t0
        for i in range(spec["upserts"]):
            if i % writers == w:
                attempt(lambda c: upsert(c, i, spec["keys"], w))
                committed += 1
    finally:
        con.close()
    return {
        "writer": w,
        "commits": committed,
        "conflicts": conflicts,
        "seconds": time.perf_counter() - t0,
        "append_seconds": appended,
    }


def run_single_file(spec: dict) -> dict:
    """One writer process on a single DuckDB file: each job waits for the file (one writer process at a time)."""
    import duckdb

    from dwc_resources.duck import connect

    w, writers = spec["writer"], spec["writers"]
    committed, waits = 0, 0
    _ready()
    t0 = time.perf_counter()

    def open_file():
        nonlocal waits
        while True:
            try:
                return connect(spec["path"], threads=spec["threads"])
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                waits += 1
                time.sleep(0.01)

    def job(fn):
        con = open_file()
        try:
            fn(con)
        finally:
            con.close()

    for i, (table, lo, hi) in enumerate(spec["jobs"]):
        if i % writers == w:
            job(lambda c: c.execute(append_sql(table, lo, hi, w)))
            committed += 1
    for i in range(spec["upserts"]):
        if i % writers == w:
            job(lambda c: upsert(c, i, spec["keys"], w))
            committed += 1
    return {"writer": w, "commits": committed, "conflicts": 0, "lock_waits": waits, "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    out = run_single_file(spec) if spec.get("path") else run_lake(spec)
    print(json.dumps(out), flush=True)
    sys.exit(0)
