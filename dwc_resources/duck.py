"""DuckDB warehouse access in plain Python: one writer, and read-only snapshots for analysts.

DuckDB lets one process write a database file, or many processes read it, never both. So
writers work on the warehouse file and, after each committed materialisation, publish a
consistent copy (the analyst snapshot) by writing a new file and renaming it into place.
Analysts open the snapshot read-only: a rename is atomic, so a reader sees the previous
snapshot or the next one, never a half-written table.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb


def connect_writer(path: str, memory_limit: str = "1GB", threads: int = 2, wait_seconds: float = 60.0):
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


def publish_snapshot(con, snapshot_path: str) -> float:
    """Copy the whole warehouse into a new file and atomically rename it over the snapshot."""
    t0 = time.perf_counter()
    snap = Path(snapshot_path)
    snap.parent.mkdir(parents=True, exist_ok=True)
    tmp = snap.with_name(f".{snap.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    source = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute(f"ATTACH '{tmp}' AS dwc_snapshot_tmp")
    try:
        con.execute(f'COPY FROM DATABASE "{source}" TO dwc_snapshot_tmp')
        con.execute("CHECKPOINT dwc_snapshot_tmp")
    finally:
        con.execute("DETACH dwc_snapshot_tmp")
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    os.replace(tmp, snap)
    return time.perf_counter() - t0


@contextmanager
def read_snapshot(snapshot_path: str):
    if not Path(snapshot_path).exists():
        raise FileNotFoundError(
            f"no analyst snapshot at {snapshot_path}: materialise an asset first (make demo)"
        )
    con = duckdb.connect(snapshot_path, read_only=True)
    try:
        yield con
    finally:
        con.close()
