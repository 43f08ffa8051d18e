"""DuckDB access in plain Python: connections with the project's pinned extensions, DuckLake
attachment, masking for the analyst lake, and small helpers shared by every writer.

DuckDB's extensions come from PyPI wheels of the same version as `duckdb` (pyproject.toml);
`connect` links them into one extension directory and turns autoinstall off, so nothing is
downloaded at run time and a missing wheel fails with the name of the package to install.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import lru_cache

import duckdb

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# DuckDB's name for each extension (the file it loads) and the wheel that ships it.
EXTENSIONS = {
    "ducklake": "duckdb-extension-ducklake",
    "sqlite_scanner": "duckdb-extension-sqlite-scanner",
    "postgres_scanner": "duckdb-extension-postgres-scanner",
}


class MissingExtension(RuntimeError):
    pass


@lru_cache(maxsize=1)
def _platform() -> str:
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        return con.execute("PRAGMA platform").fetchall()[0][0]
    finally:
        con.close()


def extension_wheel_file(name: str) -> str:
    """The .duckdb_extension file the wheel of `name` installed, or MissingExtension naming the package."""
    package = EXTENSIONS[name]
    spec = importlib.util.find_spec(package.replace("-", "_"))
    files = (
        glob.glob(
            os.path.join(os.path.dirname(spec.origin), "extensions", f"v{duckdb.__version__}", "*.duckdb_extension")
        )
        if spec and spec.origin
        else []
    )
    if not files:
        raise MissingExtension(
            f"DuckDB extension {name!r} for duckdb {duckdb.__version__} is not installed: "
            f"pip install '{package}=={duckdb.__version__}' (DWC never downloads extensions at run time)"
        )
    return files[0]


@lru_cache(maxsize=1)
def extension_directory() -> str:
    """An extension directory (<dir>/v<version>/<platform>/<name>.duckdb_extension) whose files are
    links to the installed wheels; beside them in site-packages, or in a temp folder where that is read-only."""
    spec = importlib.util.find_spec("duckdb")
    candidates = [
        os.environ.get("DWC_DUCKDB_EXTENSION_DIR"),
        os.path.join(os.path.dirname(os.path.dirname(spec.origin)), "dwc_duckdb_extensions"),
        os.path.join(tempfile.gettempdir(), f"dwc-duckdb-extensions-{os.getuid()}"),
    ]
    for root in filter(None, candidates):
        target = os.path.join(root, f"v{duckdb.__version__}", _platform())
        try:
            os.makedirs(target, exist_ok=True)
            for name in EXTENSIONS:
                link, src = os.path.join(target, f"{name}.duckdb_extension"), extension_wheel_file(name)
                if os.path.realpath(link) != os.path.realpath(src):
                    tmp = f"{link}.{os.getpid()}.tmp"
                    os.symlink(src, tmp)
                    os.replace(tmp, link)
            return root
        except PermissionError:
            continue
    raise MissingExtension(f"no writable place for DuckDB's extension directory (tried {candidates})")


# Extension files whose signature DuckDB checked in this process, by path, with the identity
# (inode, size, mtime) they had then.
_verified: dict[str, tuple] = {}


def _identity(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _extension_files() -> dict[str, str]:
    root = os.path.join(extension_directory(), f"v{duckdb.__version__}", _platform())
    return {name: os.path.join(root, f"{name}.duckdb_extension") for name in EXTENSIONS}


def _still_verified() -> bool:
    try:
        return bool(_verified) and all(_identity(path) == known for path, known in _verified.items())
    except OSError:
        return False


def connect(
    database: str = ":memory:",
    read_only: bool = False,
    memory_limit: str | None = None,
    threads: int | None = None,
    trusted: bool = False,
):
    """Every DuckDB connection of the project: the pinned extensions, nothing autoinstalled.

    Checking an extension's signature hashes the whole file (about 75 ms for each of the two every
    lake connection loads), on every new connection. A `trusted` connection (the pipelines' own SQL,
    never an analyst's) skips the check once DuckDB has verified the same files, unchanged since,
    earlier in this process."""
    config = {
        "extension_directory": extension_directory(),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    skip_check = trusted and _still_verified()
    if skip_check:
        config["allow_unsigned_extensions"] = True
    con = duckdb.connect(database, read_only=read_only, config=config)
    if trusted and not skip_check:
        files = _extension_files()
        before = {path: _identity(path) for path in files.values()}
        for name in files:
            con.execute(f"LOAD {name}")  # signature checked here
        _verified.clear()
        _verified.update({path: ident for path, ident in before.items() if _identity(path) == ident})
    # Lets large INSERT ... SELECT and COPY stream within memory_limit; readers sort explicitly.
    con.execute("SET preserve_insertion_order = false")
    return con


def extension_versions() -> dict[str, str]:
    """duckdb's version and each pinned extension's, as loaded (what `dwc doctor` reports)."""
    con = connect()
    try:
        for name in EXTENSIONS:
            con.execute(f"LOAD {name}")
        rows = con.execute("SELECT extension_name, extension_version FROM duckdb_extensions() WHERE loaded").fetchall()
    finally:
        con.close()
    return {"duckdb": duckdb.__version__, **{n: v for n, v in rows if n in EXTENSIONS}}


def sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def attach_sql(
    catalog: str,
    data_path: str | None,
    alias: str,
    read_only: bool = False,
    snapshot_version: int | None = None,
    snapshot_time: str | None = None,
) -> str:
    """ATTACH for a DuckLake whose catalog is `sqlite:<file>` or `postgres:<libpq string>`."""
    if not _NAME.match(alias):
        raise ValueError(f"not a plain database alias: {alias!r}")
    options = []
    if data_path:
        options.append(f"DATA_PATH {sql_str(data_path)}")
    if read_only:
        options.append("READ_ONLY")
    else:
        # Every row in Parquet under the data path, none inlined in the catalog: erasure and
        # retention then reach every copy through snapshot expiry and file cleanup.
        options.append("DATA_INLINING_ROW_LIMIT 0")
    if snapshot_version is not None:
        options.append(f"SNAPSHOT_VERSION {int(snapshot_version)}")
    if snapshot_time is not None:
        options.append(f"SNAPSHOT_TIME {sql_str(snapshot_time)}")
    return f"ATTACH {sql_str('ducklake:' + catalog)} AS {alias} ({', '.join(options)})"


def table_names(con, database: str | None = None) -> list[str]:
    """Every published table of `database` (default: the current one) as 'schema.table'
    (names starting with '_' are internal)."""
    rows = con.execute(
        """SELECT schema_name, table_name FROM duckdb_tables()
           WHERE database_name = coalesce(?, current_database()) AND NOT temporary ORDER BY 1, 2""",
        [database],
    ).fetchall()
    return [f"{s}.{t}" for s, t in rows if not s.startswith("_") and not t.startswith("_")]


# Identifiers, hashes and chain values (roots, Merkle paths, addresses, signed transactions) are hex
# by construction: masking could only corrupt them.
_OPAQUE = re.compile(r"(?:^|_)(?:id|ids|hash|key|run_id|chunker|root|proof|contract|sender|raw_tx|address)$")


def masked_columns(con, database: str, schema: str, table: str) -> list[tuple[str, str]]:
    """(column, masked expression) for `database.schema.table`: personal data masked in every
    text column. Text that carries its spans (a `pii` column, filled at ingestion) is spliced,
    anything else is detected on the way out; identifiers and hashes pass unchanged (opaque by
    construction). The expressions read the table's own column names, so they apply as well to
    a change feed of the table."""
    register_masking(con)
    cols = con.execute(
        """SELECT column_name, data_type FROM duckdb_columns()
           WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index""",
        [database, schema, table],
    ).fetchall()
    names = {c for c, _ in cols}
    out = []
    for name, dtype in cols:
        q = '"' + name.replace('"', '""') + '"'
        if dtype == "VARCHAR" and not _OPAQUE.search(name):
            if name == "text" and "pii" in names:
                expr = "CASE WHEN pii IS NULL THEN dwc_mask(text) WHEN len(pii) = 0 THEN text ELSE dwc_splice(text, pii) END"
            else:
                expr = f"dwc_mask({q})"
        elif dtype == "JSON" and not _OPAQUE.search(name):
            # Placeholders hold no quote, so masked JSON stays JSON; anything else becomes NULL.
            expr = f"TRY_CAST(dwc_mask(CAST({q} AS VARCHAR)) AS JSON)"
        elif dtype == "VARCHAR[]":
            expr = f"list_transform({q}, lambda x: dwc_mask(x))"
        else:
            expr = q
        out.append((name, expr if expr == q else f"{expr} AS {q}"))
    return out


def masked_select(con, schema: str, table: str, database: str | None = None) -> str:
    """A query over `schema.table` (of `database`, default the current one) with personal data masked."""
    database = database or con.execute("SELECT current_database()").fetchall()[0][0]
    exprs = ", ".join(e for _, e in masked_columns(con, database, schema, table))
    return f"(SELECT {exprs} FROM {database}.{schema}.{table})"


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

    spans_type = duckdb.list_type(
        duckdb.struct_type(
            {"start": "INTEGER", "end": "INTEGER", "type": "VARCHAR", "confidence": "FLOAT", "detector": "VARCHAR"}
        )
    )
    for name, fn, params in (
        ("dwc_mask", mask_arrow, ["VARCHAR"]),
        ("dwc_splice", splice_arrow, ["VARCHAR", spans_type]),
    ):
        try:
            con.create_function(name, fn, params, "VARCHAR", type="arrow", null_handling="special", side_effects=False)
        except duckdb.NotImplementedException:
            pass  # already registered on this connection


_held = threading.local()
_open: set[int] = set()  # connections inside transaction(), by id
# What a lake connection's transactions take turns on: {"commit_lock": lock file} on a SQLite
# catalog, {"lock_catalog": libpq string} on PostgreSQL. Kept here, not in DuckDB variables: reading
# one is a statement, and every statement on a lake connection reads the catalog's current snapshot
# (three round trips to PostgreSQL).
_lake_connections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def set_commit_lock(con, path: str) -> None:
    """Explicit transactions on `con` take turns on this host through the lock file `path`."""
    _lake_connections.setdefault(con, {})["commit_lock"] = path


def enable_table_locks(con, libpq: str) -> None:
    """Tables of the lake on `con` are locked in the PostgreSQL catalog database `libpq`."""
    _lake_connections.setdefault(con, {})["lock_catalog"] = libpq


@contextmanager
def commit_lock(con) -> Iterator[bool]:
    """The host-local turn for an explicit transaction on a SQLite-catalog lake (see
    LakehouseResource.commit_lock_path); nothing on PostgreSQL or a plain database. Yields whether
    this connection's commits take turns."""
    path = _lake_connections.get(con, {}).get("commit_lock")
    if not path or path in _held.__dict__:
        yield bool(path)  # no lake lock, or this thread holds it already (a nested transaction)
        return
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        setattr(_held, path, True)
        yield True
    finally:
        _held.__dict__.pop(path, None)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


_lock_sessions: dict[str, object] = {}  # this process's session on each catalog that holds table locks


def _lock_session(libpq: str):
    import psycopg2

    pg = _lock_sessions.get(libpq)
    if pg is None or pg.closed:
        pg = psycopg2.connect(libpq)
        pg.autocommit = True
        _lock_sessions[libpq] = pg
    return pg


@contextmanager
def table_locks(con, tables) -> Iterator[bool]:
    """Exclusive turns on `tables` across every process and host writing the lake: PostgreSQL
    advisory locks in its catalog database, taken in one order (no deadlock) and released by the
    server if this process dies. Yields whether locks were taken (a SQLite catalog takes none: its
    commit lock serialises every transaction already)."""
    libpq = _lake_connections.get(con, {}).get("lock_catalog")
    if not libpq or not tables:
        yield False
        return
    keys = sorted({f"dwc-table:{t}" for t in tables})
    cur = _lock_session(libpq).cursor()
    taken = []
    try:
        for key in keys:
            cur.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
            taken.append(key)
        yield True
    finally:
        for key in reversed(taken):
            cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
        cur.close()


@contextmanager
def _commit_retries(con, retries: int, wait_ms: int = 5):
    # DuckLake waits 100 ms before its first retry by default: a lost race between short commits
    # is settled in a few, and 10 retries doubling from 5 ms still wait up to 5 s in all.
    con.execute(f"SET ducklake_max_retry_count = {int(retries)}")
    con.execute(f"SET ducklake_retry_wait_ms = {int(wait_ms)}")
    con.execute("SET ducklake_retry_backoff = 2.0")
    try:
        yield
    finally:
        con.execute("SET ducklake_max_retry_count = 0")


@contextmanager
def appending(con, retries: int = 10):
    """Inside: only blind appends (rows that do not depend on what the lake holds). A commit that
    races another is then settled by DuckLake itself, against the newer snapshot and without
    rewriting the Parquet files, which is sound for appends only; elsewhere a lost race fails and
    the work runs again (LakehouseResource.connect)."""
    with commit_lock(con) as turns:
        # Commits that take turns (a SQLite catalog) race no one; DuckLake's retry there only costs
        # (appends 3x slower with it on, measured).
        with nullcontext() if turns else _commit_retries(con, retries):
            yield con


@contextmanager
def transaction(con, tables=(), retries: int = 10):
    """BEGIN ... COMMIT, or ROLLBACK on any exception (a killed step leaves no partial write).
    Inside a transaction already open on `con`, the outer one decides: this adds nothing.

    `tables`: every lake table the transaction reads to decide what it writes, and every table it
    writes. They are locked for its length (table_locks), so it sees each earlier commit to them and
    no one commits to them meanwhile; a commit that races one to another table is then settled by
    DuckLake (bounded retries, no Parquet rewrite) instead of failing and running the work again.
    Without `tables`, a lost race fails (the optimistic path: the caller runs the work again)."""
    key = id(con)
    if key in _open:
        yield con
        return
    with (
        table_locks(con, tables) as locked,
        _commit_retries(con, retries) if locked else nullcontext(),
        commit_lock(con),
    ):
        con.execute("BEGIN")
        _open.add(key)
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            _open.discard(key)
        con.execute("COMMIT")


def stream_rows(con, sql: str, params=None, batch_size: int = 1000) -> Iterator[list[tuple]]:
    """Rows of `sql` in batches from a second cursor, so memory does not grow with the result and
    `con` stays free for writes meanwhile."""
    reader = con.cursor()
    try:
        # A cursor is a new connection to the same instance: it starts in the default database.
        reader.execute(f"USE {con.execute('SELECT current_database()').fetchall()[0][0]}")
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
