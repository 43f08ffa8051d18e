"""DuckDB warehouse access in plain Python: one writer, and a read-only catalog for analysts.

DuckDB lets one process write a database file, or many processes read it, never both. So
writers work on the warehouse file and, after each committed materialisation, publish the
tables they changed as new Parquet files, then replace the analyst catalog: a small DuckDB
file of views over the newest Parquet file of every table, written aside and renamed into
place. A rename is atomic, so a reader sees the previous catalog or the next one, never a
half-written table; publishing costs the size of the tables that changed, not of the
warehouse. Parquet files a catalog no longer names are removed after a grace period, so a
session opened on an older catalog keeps working meanwhile.
"""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import duckdb

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def connect_writer(path: str, memory_limit: str = "128MB", threads: int = 2, wait_seconds: float = 60.0):
    """Open the warehouse for writing, waiting (with backoff) while another process holds it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    delay, deadline = 0.2, time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(path, config={"memory_limit": memory_limit, "threads": threads})
            # Lets large INSERT ... SELECT and COPY stream within memory_limit; readers sort explicitly.
            con.execute("SET preserve_insertion_order = false")
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def warehouse_tables(con) -> list[str]:
    """Every published table as 'schema.table' (names starting with '_' are internal)."""
    rows = con.execute(
        """SELECT schema_name, table_name FROM duckdb_tables()
           WHERE database_name = current_database() AND NOT temporary ORDER BY 1, 2"""
    ).fetchall()
    return [f"{s}.{t}" for s, t in rows if not s.startswith("_") and not t.startswith("_")]


def publish(con, catalog_path: str, tables: Iterable[str] | None = None, keep_seconds: float = 3600.0,
            mask: bool = False) -> dict:
    """Export `tables` (default: all) to new Parquet files and atomically replace the catalog.
    With `mask`, personal data in every text column is replaced by placeholders on the way out
    (see `masked_select`): the analyst catalog never holds it."""
    t0 = time.perf_counter()
    catalog = Path(catalog_path)
    data_dir = catalog.with_name(catalog.stem + "_data")
    manifest_path = data_dir / "manifest.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, str] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    existing = warehouse_tables(con)
    wanted = set(existing if tables is None else tables) | (set(existing) - set(manifest))
    stamp = f"{time.time_ns()}-{os.getpid()}"
    for name in sorted(wanted):
        schema, table = name.split(".")
        if not (_NAME.match(schema) and _NAME.match(table)):
            raise ValueError(f"not a plain table name: {name!r}")
        target = data_dir / schema / f"{table}-{stamp}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name("." + target.name + ".tmp")
        source = masked_select(con, schema, table) if mask else f"{schema}.{table}"
        con.execute(f"COPY {source} TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)")
        os.replace(tmp, target)
        manifest[name] = str(target.resolve())
    manifest = {k: v for k, v in manifest.items() if k in existing}

    tmp_catalog = catalog.with_name(f".{catalog.name}.{os.getpid()}.tmp")
    tmp_catalog.unlink(missing_ok=True)
    cat = duckdb.connect(str(tmp_catalog))
    try:
        for name, path in sorted(manifest.items()):
            schema, table = name.split(".")
            cat.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            cat.execute(f"CREATE VIEW {schema}.{table} AS SELECT * FROM read_parquet('{path}')")
        cat.execute("CHECKPOINT")
    finally:
        cat.close()
    Path(str(tmp_catalog) + ".wal").unlink(missing_ok=True)
    os.replace(tmp_catalog, catalog)
    tmp_manifest = manifest_path.with_name(".manifest.json.tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp_manifest, manifest_path)
    _collect_garbage(data_dir, set(manifest.values()), keep_seconds)
    return {"tables": sorted(wanted), "seconds": time.perf_counter() - t0}


# Identifiers, hashes and chain values (roots, Merkle paths, addresses, signed transactions) are hex
# by construction: masking could only corrupt them.
_OPAQUE = re.compile(r"(?:^|_)(?:id|ids|hash|key|run_id|chunker|root|proof|contract|sender|raw_tx|address)$")


def masked_select(con, schema: str, table: str) -> str:
    """A query over `schema.table` with personal data masked in every text column: text that
    carries its spans (a `pii` column, filled at ingestion) is spliced, anything else is detected
    on the way out. Identifiers and hashes pass unchanged: they are opaque by construction."""
    register_masking(con)
    cols = con.execute(
        """SELECT column_name, data_type FROM duckdb_columns()
           WHERE database_name = current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index""",
        [schema, table],
    ).fetchall()
    names = {c for c, _ in cols}
    exprs = []
    for name, dtype in cols:
        q = '"' + name.replace('"', '""') + '"'
        if dtype == "VARCHAR" and not _OPAQUE.search(name):
            if name == "text" and "pii" in names:
                expr = f"CASE WHEN pii IS NULL THEN dwc_mask(text) WHEN len(pii) = 0 THEN text ELSE dwc_splice(text, pii) END"
            else:
                expr = f"dwc_mask({q})"
            exprs.append(f"{expr} AS {q}")
        elif dtype == "JSON" and not _OPAQUE.search(name):
            # Placeholders hold no quote, so masked JSON stays JSON; anything else becomes NULL.
            exprs.append(f"TRY_CAST(dwc_mask(CAST({q} AS VARCHAR)) AS JSON) AS {q}")
        elif dtype == "VARCHAR[]":
            exprs.append(f"list_transform({q}, lambda x: dwc_mask(x)) AS {q}")
        else:
            exprs.append(q)
    return f"(SELECT {', '.join(exprs)} FROM {schema}.{table})"


def register_masking(con) -> None:
    """dwc_mask(text) and dwc_splice(text, spans) as vectorised functions on this connection."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from . import pii

    def mask_arrow(arr):
        # Distinct values once each: most text columns repeat (formats, titles of versions).
        uniq = pc.unique(arr)
        masked = pa.array([pii.mask(v) if v is not None else None for v in uniq.to_pylist()], pa.string())
        return pc.take(masked, pc.index_in(arr, uniq))

    def splice_arrow(texts, spans):
        return pa.array([pii.splice(t, s) for t, s in zip(texts.to_pylist(), spans.to_pylist())], pa.string())

    spans_type = duckdb.list_type(duckdb.struct_type(
        {"start": "INTEGER", "end": "INTEGER", "type": "VARCHAR", "confidence": "FLOAT", "detector": "VARCHAR"}))
    for name, fn, params in (("dwc_mask", mask_arrow, ["VARCHAR"]), ("dwc_splice", splice_arrow, ["VARCHAR", spans_type])):
        try:
            con.create_function(name, fn, params, "VARCHAR", type="arrow", null_handling="special", side_effects=False)
        except duckdb.NotImplementedException:
            pass  # already registered on this connection


def _collect_garbage(data_dir: Path, live: set[str], keep_seconds: float) -> None:
    cutoff = time.time() - keep_seconds
    for path in data_dir.glob("*/*.parquet"):
        if str(path.resolve()) not in live and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


@contextmanager
def read_snapshot(catalog_path: str, memory_limit: str | None = None):
    if not Path(catalog_path).exists():
        raise FileNotFoundError(
            f"no analyst snapshot at {catalog_path}: materialise an asset first (make demo)"
        )
    config = {"memory_limit": memory_limit} if memory_limit else {}
    con = duckdb.connect(catalog_path, read_only=True, config=config)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con):
    """BEGIN ... COMMIT, or ROLLBACK on any exception (a killed step leaves no partial write)."""
    con.execute("BEGIN")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def stream_rows(con, sql: str, params=None, batch_size: int = 1000) -> Iterator[list[tuple]]:
    """Rows of `sql` in batches from a second cursor, so memory does not grow with the result and
    `con` stays free for writes meanwhile."""
    reader = con.cursor()
    try:
        reader.execute(sql, params or [])
        while rows := reader.fetchmany(batch_size):
            yield rows
    finally:
        reader.close()


def insert_arrow(con, table: str, data, by_name: bool = False) -> int:
    """Append an Arrow table to `table` (columns in table order, or matched by name); returns the
    rows appended."""
    con.register("_dwc_arrow_in", data)
    try:
        con.execute(f"INSERT INTO {table} {'BY NAME ' if by_name else ''}SELECT * FROM _dwc_arrow_in")
    finally:
        con.unregister("_dwc_arrow_in")
    return data.num_rows


def compact_database(path: str) -> None:
    """Rewrite a DuckDB file into a fresh one and swap it in: deleted and overwritten values leave
    no bytes behind in freed blocks (DuckDB reuses blocks but does not zero them). The caller holds
    the writer's turn (the warehouse pool); readers use the analyst catalog, not this file."""
    src = Path(path)
    tmp = src.with_name(f".{src.name}.compact")
    tmp.unlink(missing_ok=True)
    con = connect_writer(str(src))  # waits for, then holds, the file lock
    try:
        con.execute("CHECKPOINT")
        con.execute(f"ATTACH '{tmp}' AS _fresh")
        con.execute(f"COPY FROM DATABASE {_database_name(con)} TO _fresh")
        con.execute("DETACH _fresh")
    finally:
        con.close()
    os.replace(tmp, src)
    Path(str(src) + ".wal").unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)


def _database_name(con) -> str:
    return con.execute("SELECT current_database()").fetchall()[0][0]
