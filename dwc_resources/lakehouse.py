"""The warehouse as a DuckLake: one lake of unmasked tables for writers, one analyst lake of masked
copies for everyone else.

Embedded default: both catalogs are SQLite files and both data paths folders under DWC_HOME (no
service). Production: PostgreSQL catalogs and a shared data path (a mounted volume or an object-store
URL), so writers on many hosts commit to the same lake. Configuration picks one; assets never branch.

Writers commit in DuckLake transactions, concurrently: appends from many processes land side by side,
and a genuine conflict (two upserts of one table) fails the later commit, which then runs again, a
bounded number of times with backoff and jitter, never lost and never silently overwritten.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from . import duck

# One schema per domain (DESIGN.md); created up front so analysts see the whole layout.
DOMAIN_SCHEMAS = ("docs", "ai", "chains", "ml", "recs", "chain", "quantum", "iot", "xr", "ops", "gov")
LAKE, ANALYST = "lake", "analyst"
ROW_ID = "_row_id"  # in every analyst table: the lake row id the masked row was copied from
# DuckLake 1.5.5 keeps the transaction-local row id (from 10^18 up) of a row updated in the transaction
# that inserted it: such ids are not stable and can repeat, so a change feed holding one is not applied
# by row id; the table is copied whole instead.
TXN_LOCAL_ROWID = 10**18
ROW_SNAPSHOT = "_lake_snapshot"  # and the lake snapshot that wrote that row (provenance: dwc trace)


def dwc_home() -> str:
    return os.path.abspath(os.environ.get("DWC_HOME", ".dwc"))


class LakeConflict(RuntimeError):
    """A commit that lost to a concurrent one more times than the retry budget allows."""


class CatalogUnreachable(RuntimeError):
    pass


_RETRYABLE = re.compile(
    r"conflict|database is locked|database is busy|could not serialize|deadlock|"
    r"maximum retry count",
    re.I,
)
ROW_GROUP_BYTES = "16MB"
# What this process has already set up, per catalog identity (LakehouseResource._catalog_identity).
_schemas_present: set[tuple] = set()
_ddl_done: set[tuple] = set()
# Two processes attaching a new catalog at once both create its tables; the loser attaches again.
_INIT_RACE = re.compile(r"Failed to initialize DuckLake.*(duplicate key|already exists)", re.I | re.S)
_UNREACHABLE = re.compile(
    r"could not connect|connection refused|unable to open database file|"
    r"could not translate host|timeout expired|no such host",
    re.I,
)


def retryable(exc: BaseException) -> bool:
    """A lost race with another writer: running the same work again will succeed."""
    import duckdb

    return isinstance(exc, (duckdb.TransactionException, duckdb.IOException, duckdb.Error)) and bool(
        _RETRYABLE.search(str(exc))
    )


def backoff(attempt: int, base: float = 0.2, cap: float = 20.0) -> float:
    """Exponential backoff with full jitter: concurrent losers spread out instead of colliding again."""
    return random.uniform(base, min(cap, base * 2**attempt))


def redact(catalog: str) -> str:
    return re.sub(r"(password\s*=\s*)[^\s\"']+", r"\1***", catalog, flags=re.I)


def _execution_context():
    try:
        return dg.OpExecutionContext.get()
    except Exception:
        return None


class LakehouseResource(dg.ConfigurableResource):
    """The DuckLake warehouse (one schema per domain) and its masked analyst lake."""

    catalog: str = Field(description="Lake catalog: 'sqlite:<file>' (embedded) or 'postgres:<libpq string>'")
    data_path: str = Field(
        description="Where the lake's Parquet files live: a folder, a shared volume or an object-store URL"
    )
    analyst_catalog: str = Field(description="Analyst lake catalog, same forms as `catalog`")
    analyst_data_path: str = Field(description="Analyst lake's Parquet files")
    catalog_password: str | None = Field(default=None, description="PostgreSQL password of both catalogs (dg.EnvVar)")
    work_dir: str = Field(description="Local scratch for a step (ingestion stages its batches here)")
    # 128 MB held any drop's ingestion but not the masked analyst copy of a 100k-document first load
    # (bench/ingest: its Python masking functions over every text column); 256 MB holds both.
    memory_limit: str = Field(default="256MB", description="DuckDB memory_limit per writer connection")
    threads: int = Field(default=2, description="DuckDB threads per connection")
    mask_personal_data: bool = Field(
        default=True,
        description="Analyst copies have personal data masked ([EMAIL], [CARD], ...); the lake itself "
        "is the privileged path (dwc sql --unmasked)",
    )
    commit_retries: int = Field(
        default=8, description="Times a step whose commit lost a race runs again before failing"
    )
    snapshot_retention: str = Field(default="7 days", description="Maintenance expires lake snapshots older than this")

    @classmethod
    def local(cls, home: str | None = None, **overrides) -> LakehouseResource:
        home = home or dwc_home()
        settings = dict(
            catalog=f"sqlite:{os.path.join(home, 'lake', 'catalog.sqlite')}",
            data_path=os.path.join(home, "lake", "data") + os.sep,
            analyst_catalog=f"sqlite:{os.path.join(home, 'analyst', 'catalog.sqlite')}",
            analyst_data_path=os.path.join(home, "analyst", "data") + os.sep,
            work_dir=os.path.join(home, "work"),
        )
        return cls(**{**settings, **overrides})

    # -- connections ---------------------------------------------------------------------------

    def _catalog(self, which: str) -> str:
        cat = self.catalog if which == LAKE else self.analyst_catalog
        if cat.startswith("postgres:") and self.catalog_password and "password=" not in cat:
            cat = f"{cat} password={self.catalog_password}"
        return cat

    def _prepare(self, which: str) -> None:
        cat = self.catalog if which == LAKE else self.analyst_catalog
        path = self.data_path if which == LAKE else self.analyst_data_path
        if "://" not in path:
            os.makedirs(path, exist_ok=True)
        if cat.startswith("sqlite:"):
            import sqlite3

            file = cat[len("sqlite:") :]
            os.makedirs(os.path.dirname(os.path.abspath(file)), exist_ok=True)
            if not os.path.exists(file):
                # WAL before DuckLake creates its tables: readers then never block a writer's commit.
                db = sqlite3.connect(file)
                db.execute("PRAGMA journal_mode=WAL")
                db.close()

    def attach(
        self,
        con,
        which: str = LAKE,
        read_only: bool = False,
        snapshot_version: int | None = None,
        snapshot_time: str | None = None,
        alias: str | None = None,
    ) -> None:
        """Attach the lake (or the analyst lake) to `con`, retrying a locked catalog; an unreachable
        one fails at once with its (redacted) name."""
        self._prepare(which)
        sql = duck.attach_sql(
            self._catalog(which),
            self.data_path if which == LAKE else self.analyst_data_path,
            alias or which,
            read_only,
            snapshot_version,
            snapshot_time,
        )
        for attempt in range(12):
            try:
                con.execute(sql)
                return
            except Exception as exc:
                text = redact(str(exc).replace(self.catalog_password or "\0", "***"))
                if _UNREACHABLE.search(text):
                    raise CatalogUnreachable(
                        f"the {which} catalog {redact(self.catalog if which == LAKE else self.analyst_catalog)} "
                        f"is unreachable: {text}"
                    ) from None
                if not (retryable(exc) or _INIT_RACE.search(text)) or attempt == 11:
                    raise
                time.sleep(backoff(attempt))

    def connect(self, *, analyst: bool = False, writable_analyst: bool = False, read_only: bool = False):
        """A connection with the lake attached as `lake` (current database) and, on request, the
        analyst lake as `analyst`."""
        con = duck.connect(memory_limit=self.memory_limit, threads=self.threads, trusted=True)
        try:
            # DuckLake's own commit retry re-commits on a newer snapshot and, measured here (1.5.5), can
            # lose an upsert that raced another: four writers upserting three keys lost one on both
            # catalogs (tests/test_lakehouse.py). Off; a lost race runs the work again instead, except
            # where a race cannot change the outcome: blind appends (duck.appending) and transactions
            # that lock the tables they depend on (duck.transaction(tables=...)).
            con.execute("SET ducklake_max_retry_count = 0")
            self.attach(con, LAKE, read_only=read_only)
            if analyst or writable_analyst:
                self.attach(con, ANALYST, read_only=not writable_analyst)
            con.execute(f"USE {LAKE}")
            con.execute(f"SET VARIABLE dwc_work_dir = {duck.sql_str(self.work_dir)}")
            # An in-memory DuckDB spills nowhere unless told where: without this, a sort, window or join
            # larger than memory_limit fails instead of going to disk (the analyst copy of 100k documents).
            con.execute(f"SET temp_directory = {duck.sql_str(os.path.join(self.work_dir, 'spill'))}")
            lock = self.commit_lock_path()
            if lock:
                duck.set_commit_lock(con, lock)
            elif not read_only:
                duck.enable_table_locks(con, self._catalog(LAKE)[len("postgres:") :])
        except BaseException:
            con.close()
            raise
        return con

    def commit_lock_path(self) -> str | None:
        """On a SQLite catalog a DuckLake transaction holds a read snapshot of the catalog file, and
        a commit after anyone else's fails: explicit transactions take turns on this host through a
        lock file instead (PostgreSQL needs none)."""
        if not self.catalog.startswith("sqlite:"):
            return None
        return self.catalog[len("sqlite:") :] + ".commit-lock"

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def writer(self, ddl: str | None = None) -> Iterator:
        """A connection to the lake for one step's writes. On a clean exit the analyst lake catches
        up (masked, incrementally) and the snapshot committed is recorded in the step's metadata. A
        commit that lost to a concurrent writer runs the step again (bounded, backoff with jitter)."""
        con = self.connect(writable_analyst=True)
        try:
            catalog = self._catalog_identity()
            self._ensure_schemas(con, catalog)
            # The DDL is idempotent (IF NOT EXISTS) and lake tables are never dropped: a process runs
            # each statement list once per catalog, not once per step (a dozen catalog round trips).
            if ddl and (catalog is None or (catalog, ddl) not in _ddl_done):
                con.execute(ddl)
                if catalog is not None:
                    _ddl_done.add((catalog, ddl))
            yield con
            snapshot = last_committed_snapshot(con)
            try:
                synced = sync_analyst(con, self.mask_personal_data)
            except Exception as exc:  # the lake write stands; the next writer (or maintenance) catches up
                synced = None
                dg.get_dagster_logger().warning(f"analyst lake not caught up this time: {exc}")
            _record(snapshot, synced)
        except Exception as exc:
            if retryable(exc):
                raise self._retry(exc) from exc
            raise
        finally:
            con.close()

    def _ensure_schemas(self, con, key: tuple | None) -> None:
        # Schemas are never dropped: once a process has seen them all, it stops asking.
        if key is not None and key in _schemas_present:
            return
        have = {
            r[0]
            for r in con.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [LAKE]).fetchall()
        }
        for name in DOMAIN_SCHEMAS:
            if name not in have:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
        # DuckLake's Parquet writer holds a whole row group in memory (122,880 rows by default): of
        # documents' text, more than a writer's memory_limit. Row groups of at most 16 MB keep an
        # insert of any size within it (100k documents failed with an out-of-memory error before).
        attached = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
        for db in (LAKE, ANALYST):
            if db in attached:
                con.execute(f"CALL {db}.set_option('parquet_row_group_size_bytes', '{ROW_GROUP_BYTES}')")
        if key is not None:
            _schemas_present.add(key)

    def _catalog_identity(self) -> tuple | None:
        """The lake catalog's name and, for a SQLite file, the time of its first snapshot (a lake
        deleted and made anew under the same path, even on a reused inode, is another catalog);
        None before the catalog exists."""
        if not self.catalog.startswith("sqlite:"):
            return (self.catalog,)
        import sqlite3

        path = self.catalog[len("sqlite:") :]
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                row = db.execute("SELECT snapshot_time FROM ducklake_snapshot WHERE snapshot_id = 0").fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return None
        return (self.catalog, row[0]) if row else None

    def _retry(self, exc: BaseException) -> BaseException:
        context = _execution_context()
        if context is None:
            return LakeConflict(f"lake commit lost to a concurrent writer: {exc}")
        attempt = context.retry_number
        wait = backoff(attempt, base=1.0, cap=30.0)
        context.log.warning(
            f"lake commit lost to a concurrent writer (attempt {attempt + 1} of "
            f"{self.commit_retries + 1}); running the step again in {wait:.1f}s: {exc}"
        )
        return dg.RetryRequested(max_retries=self.commit_retries, seconds_to_wait=wait)

    # -- reading -------------------------------------------------------------------------------

    @contextmanager
    def reader(self) -> Iterator:
        """The analyst lake, read-only: masked tables, never a half-committed write."""
        import duckdb

        con = duck.connect(memory_limit=self.memory_limit, threads=self.threads)
        try:
            self.attach(con, ANALYST, read_only=True)
        except duckdb.Error as exc:
            con.close()
            raise FileNotFoundError(
                f"no analyst lake at {redact(self.analyst_catalog)}: materialise an asset first (make demo) ({exc})"
            ) from None
        con.execute(f"USE {ANALYST}")
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def unmasked_reader(self, snapshot_version: int | None = None, snapshot_time: str | None = None) -> Iterator:
        """The lake itself, read-only, as of now or of a past snapshot: the privileged path."""
        con = duck.connect(memory_limit=self.memory_limit, threads=self.threads, trusted=True)
        try:
            self.attach(con, LAKE, read_only=True, snapshot_version=snapshot_version, snapshot_time=snapshot_time)
            con.execute(f"USE {LAKE}")
            yield con
        finally:
            con.close()

    def print_attach(self) -> str:
        """What a plain `duckdb` session runs to read the analyst lake (no password: libpq takes
        PGPASSWORD from the environment)."""
        return "\n".join(
            [
                f"SET extension_directory = {duck.sql_str(duck.extension_directory())};",
                "SET autoinstall_known_extensions = false;",
                duck.attach_sql(self.analyst_catalog, self.analyst_data_path, ANALYST, read_only=True) + ";",
                f"USE {ANALYST};",
            ]
        )

    # -- maintenance ---------------------------------------------------------------------------

    def maintain(self, expire_older_than: str | None = None, log=print) -> dict:
        """Compact small files, expire old snapshots and delete the files nobody references, in both lakes."""
        window = expire_older_than or self.snapshot_retention
        out = {}
        con = self.connect(writable_analyst=True)
        try:
            for db in (LAKE, ANALYST):
                t0 = time.perf_counter()
                merged = _call_count(con, f"CALL ducklake_merge_adjacent_files({duck.sql_str(db)})")
                expired = _call_count(
                    con,
                    f"CALL ducklake_expire_snapshots({duck.sql_str(db)}, "
                    f"older_than => now() - INTERVAL {duck.sql_str(window)})",
                )
                cleaned = _call_count(con, f"CALL ducklake_cleanup_old_files({duck.sql_str(db)}, cleanup_all => true)")
                orphans = _call_count(
                    con, f"CALL ducklake_delete_orphaned_files({duck.sql_str(db)}, cleanup_all => true)"
                )
                out[db] = {
                    "files_merged": merged,
                    "snapshots_expired": expired,
                    "files_deleted": cleaned + orphans,
                    "seconds": round(time.perf_counter() - t0, 2),
                    **lake_stats(con, db),
                }
                log(f"{db}: merged {merged} files, expired {expired} snapshots, deleted {cleaned + orphans} files")
        finally:
            con.close()
        return out

    def forget_history(self, log=print) -> dict:
        """After an erasure or a retention run: every snapshot but the newest expired and every file
        they alone held deleted, in both lakes, so no old snapshot or Parquet file keeps the values."""
        con = self.connect(writable_analyst=True)
        try:
            sync_analyst(con, self.mask_personal_data)
            out = {}
            for db in (LAKE, ANALYST):
                # Rewrite files that carry deletions (their rows would stay readable in the old file).
                _call_count(con, f"CALL ducklake_rewrite_data_files({duck.sql_str(db)}, delete_threshold => 0)")
                current = con.execute(f"SELECT id FROM {db}.current_snapshot()").fetchall()[0][0]
                old = [
                    r[0]
                    for r in con.execute(
                        f"SELECT snapshot_id FROM {db}.snapshots() WHERE snapshot_id < ?", [current]
                    ).fetchall()
                ]
                expired = (
                    _call_count(con, f"CALL ducklake_expire_snapshots({duck.sql_str(db)}, versions => {old})")
                    if old
                    else 0
                )
                # Table-wide minima and maxima only ever widen: they can still name an erased value.
                _restate_table_stats(con, db)
                deleted = _call_count(con, f"CALL ducklake_cleanup_old_files({duck.sql_str(db)}, cleanup_all => true)")
                deleted += _call_count(
                    con, f"CALL ducklake_delete_orphaned_files({duck.sql_str(db)}, cleanup_all => true)"
                )
                out[db] = {"snapshots_expired": expired, "files_deleted": deleted}
                log(f"{db}: expired {expired} snapshots, deleted {deleted} files")
        finally:
            con.close()
        for cat in (self.catalog, self.analyst_catalog):
            if cat.startswith("sqlite:"):
                _vacuum(cat[len("sqlite:") :])
        return out


# DuckLake's type names -> DuckDB types, to order statistics (kept as strings) by value.
_STAT_TYPES = {
    "boolean": "BOOLEAN",
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "int128": "HUGEINT",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "date": "DATE",
    "time": "TIME",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
    "timestamp_s": "TIMESTAMP_S",
    "timestamp_ms": "TIMESTAMP_MS",
    "timestamp_ns": "TIMESTAMP_NS",
    "varchar": "VARCHAR",
    "json": "VARCHAR",
    "uuid": "UUID",
    "blob": "BLOB",
}


def _restate_table_stats(con, db: str) -> None:
    """Table-wide column minima and maxima recomputed from the statistics of the live data files.

    Once the files with deletions are rewritten, each live file's statistics describe live rows only,
    so the recomputed bounds are exact and name no erased value. They must stay bounds: DuckLake merges
    a new file's statistics into these, and a NULL bound would be replaced by the new file's alone
    (the next query would then prune every older file from a filter)."""
    meta = f"__ducklake_metadata_{db}"
    columns = con.execute(
        f"""SELECT DISTINCT s.table_id, s.column_id, c.column_type
            FROM {meta}.ducklake_table_column_stats s
            JOIN {meta}.ducklake_column c ON c.table_id = s.table_id AND c.column_id = s.column_id
            WHERE c.end_snapshot IS NULL"""
    ).fetchall()
    for table_id, column_id, column_type in columns:
        kind = column_type.lower()
        if kind.startswith("decimal"):
            sql_type = kind.upper()
        elif kind in _STAT_TYPES:
            sql_type = _STAT_TYPES[kind]
        else:
            continue  # a type with no ordering we know: its bounds stay as DuckLake wrote them
        lo, hi = con.execute(
            f"""SELECT arg_min(f.min_value, TRY_CAST(f.min_value AS {sql_type})),
                       arg_max(f.max_value, TRY_CAST(f.max_value AS {sql_type}))
                FROM {meta}.ducklake_file_column_stats f
                JOIN {meta}.ducklake_data_file d USING (data_file_id)
                WHERE d.end_snapshot IS NULL AND f.table_id = ? AND f.column_id = ?""",
            [table_id, column_id],
        ).fetchall()[0]
        con.execute(
            f"UPDATE {meta}.ducklake_table_column_stats SET min_value = ?, max_value = ? "
            f"WHERE table_id = ? AND column_id = ?",
            [lo, hi, table_id, column_id],
        )


def _vacuum(path: str) -> None:
    """A SQLite catalog rewritten with secure_delete: the statistics of deleted files (column minima
    and maxima, which can be values) leave no bytes in freed pages."""
    import sqlite3

    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def _call_count(con, sql: str) -> int:
    return len(con.execute(sql).fetchall())


def lake_stats(con, db: str) -> dict:
    files, size = con.execute(
        f"SELECT coalesce(sum(file_count), 0), coalesce(sum(file_size_bytes), 0) FROM ducklake_table_info({duck.sql_str(db)})"
    ).fetchall()[0]
    snaps, oldest = con.execute(f"SELECT count(*), min(snapshot_time) FROM {db}.snapshots()").fetchall()[0]
    return {
        "data_files": int(files),
        "data_bytes": int(size),
        "snapshots": int(snaps),
        "oldest_snapshot": oldest.isoformat() if oldest else None,
    }


def last_committed_snapshot(con) -> int | None:
    """The newest snapshot this connection committed (None when it committed nothing)."""
    row = con.execute(f"SELECT * FROM {LAKE}.last_committed_snapshot()").fetchall()
    return row[0][0] if row and row[0] and row[0][0] is not None else None


def _record(snapshot: int | None, synced: dict | None) -> None:
    context = _execution_context()
    if context is None:
        return
    metadata = {}
    if snapshot is not None:
        metadata["dwc/lake_snapshot"] = snapshot
    if synced is not None:
        metadata["dwc/analyst_snapshot"] = synced["analyst_snapshot"]
    if not metadata:
        return
    for name in context.selected_output_names:
        try:
            context.add_output_metadata(metadata, output_name=name)
        except Exception:  # an output already yielded (a multi-asset writing twice): its record stands
            pass


# -- the analyst lake ------------------------------------------------------------------------------

_STATE = f"{ANALYST}._dwc.sync_state"
_CLOCK = f"{ANALYST}._dwc.sync_clock"


def sync_analyst(con, mask: bool = True, attempts: int = 20) -> dict:
    """Bring the analyst lake up to the lake's current snapshot: tables changed since the last catch-up
    get their changed rows (masked) applied, new or reshaped tables are copied whole, dropped ones
    dropped. One analyst transaction; concurrent catch-ups serialise on a one-row clock, and a loser
    tries again (it usually finds the winner did its work)."""
    for attempt in range(attempts):
        try:
            with duck.commit_lock(con):
                return _sync_once(con, mask)
        except Exception as exc:
            try:
                con.execute("ROLLBACK")
            except Exception:
                pass
            if not retryable(exc) or attempt == attempts - 1:
                raise
            time.sleep(backoff(attempt, base=0.05, cap=2.0))
    raise AssertionError("unreachable")


def _sync_once(con, mask: bool) -> dict:
    have = {
        r[0]
        for r in con.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [ANALYST]).fetchall()
    }
    if "_dwc" not in have:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {ANALYST}._dwc")
        con.execute(f"""CREATE TABLE IF NOT EXISTS {_STATE} (schema_name VARCHAR, table_name VARCHAR, table_id BIGINT,
                        columns VARCHAR, snapshot_id BIGINT)""")
        con.execute(f"CREATE TABLE IF NOT EXISTS {_CLOCK} (lake_snapshot BIGINT, synced_at TIMESTAMP)")
    con.execute("BEGIN")
    current = con.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchall()[0][0]
    clock = con.execute(f"SELECT lake_snapshot FROM {_CLOCK}").fetchall()
    last = clock[0][0] if clock else -1
    if last >= current:
        con.execute("ROLLBACK")
        return {"analyst_snapshot": None, "tables": [], "lake_snapshot": current}
    meta = f"__ducklake_metadata_{LAKE}"
    live = "{0}.begin_snapshot <= {1} AND ({0}.end_snapshot IS NULL OR {0}.end_snapshot > {1})"
    lake = {
        (s, t): (tid, cols)
        for s, t, tid, cols in con.execute(
            f"""SELECT s.schema_name, t.table_name, t.table_id,
                   (SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index) FROM duckdb_columns() c
                    WHERE c.database_name = '{LAKE}' AND c.schema_name = s.schema_name AND c.table_name = t.table_name)
            FROM {meta}.ducklake_table t JOIN {meta}.ducklake_schema s USING (schema_id)
            WHERE {live.format("t", current)} AND {live.format("s", current)}"""
        ).fetchall()
        if not s.startswith("_") and not t.startswith("_")
    }
    first = con.execute(f"SELECT min(snapshot_id) FROM {LAKE}.snapshots()").fetchall()[0][0]  # older ones expired
    state = {(s, t): (tid, cols, snap) for s, t, tid, cols, snap in con.execute(f"FROM {_STATE}").fetchall()}
    mentioned: set[str] = set()
    for (changes,) in con.execute(f"SELECT changes FROM {LAKE}.snapshots() WHERE snapshot_id > ?", [last]).fetchall():
        for values in (changes or {}).values():
            mentioned.update(str(v) for v in values)
    touched = []
    for (schema, table), (tid, cols) in sorted(lake.items()):
        before = state.get((schema, table))
        target = f"{ANALYST}.{schema}.{table}"
        local = 0
        if before and before[0] == tid and before[1] == cols and before[2] + 1 >= first:
            if str(tid) not in mentioned and f"{schema}.{table}" not in mentioned:
                continue
            exprs = ", ".join(e for _, e in _columns(con, schema, table, mask))
            feed = f"ducklake_table_changes('{LAKE}', '{schema}', '{table}', {before[2] + 1}, {current})"
            con.execute(f"""CREATE OR REPLACE TEMP TABLE _dwc_feed AS
                SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY rowid ORDER BY snapshot_id DESC,
                                      change_type = 'update_postimage' DESC) AS _n FROM {feed}) WHERE _n = 1""")
            local = con.execute(f"SELECT count(*) FROM _dwc_feed WHERE rowid >= {TXN_LOCAL_ROWID}").fetchall()[0][0]
            if not local:
                con.execute(f"DELETE FROM {target} WHERE {ROW_ID} IN (SELECT rowid FROM _dwc_feed)")
                con.execute(f"""INSERT INTO {target} SELECT {exprs}, rowid AS {ROW_ID}, snapshot_id AS {ROW_SNAPSHOT}
                                FROM _dwc_feed WHERE change_type IN ('insert', 'update_postimage')""")
            con.execute("DROP TABLE _dwc_feed")
        if not before or before[0] != tid or before[1] != cols or before[2] + 1 < first or local:
            exprs = ", ".join(e for _, e in _columns(con, schema, table, mask))
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ANALYST}.{schema}")
            con.execute(
                f"CREATE OR REPLACE TABLE {target} AS SELECT {exprs}, rowid AS {ROW_ID}, "
                f"snapshot_id AS {ROW_SNAPSHOT} FROM {LAKE}.{schema}.{table}"
            )
        con.execute(f"DELETE FROM {_STATE} WHERE schema_name = ? AND table_name = ?", [schema, table])
        con.execute(f"INSERT INTO {_STATE} VALUES (?, ?, ?, ?, ?)", [schema, table, tid, cols, current])
        touched.append(f"{schema}.{table}")
    for schema, table in sorted(set(state) - set(lake)):
        con.execute(f"DROP TABLE IF EXISTS {ANALYST}.{schema}.{table}")
        con.execute(f"DELETE FROM {_STATE} WHERE schema_name = ? AND table_name = ?", [schema, table])
        touched.append(f"-{schema}.{table}")
    # The one-row clock every catch-up rewrites: two at once conflict here, and one goes again.
    con.execute(f"DELETE FROM {_CLOCK}")
    con.execute(f"INSERT INTO {_CLOCK} VALUES (?, now()::TIMESTAMP)", [current])
    con.execute("COMMIT")
    snap = con.execute(f"SELECT * FROM {ANALYST}.last_committed_snapshot()").fetchall()
    dg.get_dagster_logger().info(
        f"analyst lake caught up to lake snapshot {current}: {', '.join(touched) or 'no table changed'}"
    )
    return {"analyst_snapshot": snap[0][0] if snap else None, "tables": touched, "lake_snapshot": current}


def _columns(con, schema: str, table: str, mask: bool) -> list[tuple[str, str]]:
    if mask:
        return duck.masked_columns(con, LAKE, schema, table)
    rows = con.execute(
        """SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ?
                          AND table_name = ? ORDER BY column_index""",
        [LAKE, schema, table],
    ).fetchall()
    return [(c, '"' + c.replace('"', '""') + '"') for (c,) in rows]


# -- moving a single-file warehouse in ---------------------------------------------------------------

_FIXED = re.compile(r"\[\d+\]$")


def _checksum(con, relation: str) -> tuple[int, int]:
    """Row count and an order-free checksum of every row's text form (types the lake widens, such
    as fixed-size arrays to lists, print the same)."""
    n, h = con.execute(f"SELECT count(*), coalesce(bit_xor(hash(CAST(t AS VARCHAR))), 0) FROM {relation} t").fetchall()[
        0
    ]
    return int(n), int(h)


def migrate_file(lake: LakehouseResource, path: str, log=print) -> list[dict]:
    """Copy every table of a single-file DuckDB warehouse into the lake: a table whose rows and
    checksum already match is left alone, so a second run copies nothing."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no single-file warehouse at {path}")
    out = []
    with lake.writer() as con:
        con.execute(f"ATTACH {duck.sql_str(path)} AS old (READ_ONLY)")
        tables = con.execute("""SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'old'
                                ORDER BY 1, 2""").fetchall()
        for schema, table in tables:
            source = f"old.{schema}.{table}"
            want = _checksum(con, source)
            exists = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                [LAKE, schema, table],
            ).fetchall()[0][0]
            if exists and _checksum(con, f"{LAKE}.{schema}.{table}") == want:
                out.append({"table": f"{schema}.{table}", "rows": want[0], "copied": False, "checksum": want[1]})
                continue
            cols = con.execute(
                """SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'old'
                                  AND schema_name = ? AND table_name = ? ORDER BY column_index""",
                [schema, table],
            ).fetchall()
            # DuckLake has no fixed-size arrays: FLOAT[384] becomes FLOAT[].
            exprs = ", ".join(
                f'CAST("{c}" AS {_FIXED.sub("[]", t)}) AS "{c}"' if _FIXED.search(t) else f'"{c}"' for c, t in cols
            )
            with duck.transaction(con):
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                con.execute(f"CREATE OR REPLACE TABLE {LAKE}.{schema}.{table} AS SELECT {exprs} FROM {source}")
            got = _checksum(con, f"{LAKE}.{schema}.{table}")
            if got != want:
                raise RuntimeError(
                    f"{schema}.{table}: copied {got[0]} rows with checksum {got[1]}, "
                    f"the file has {want[0]} with {want[1]}"
                )
            log(f"{schema}.{table}: {want[0]:,} rows copied, checksum {want[1]:x}")
            out.append({"table": f"{schema}.{table}", "rows": want[0], "copied": True, "checksum": want[1]})
        con.execute("DETACH old")
    return out
