"""The warehouse on DuckLake: offline extensions, both catalogs, concurrent writer processes, time
travel, erasure that reaches every file, a writer killed mid-write, an unreachable catalog."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from dwc_pipelines.lakeload import APPEND_TABLES, DDL, UPSERT_TABLES, append_jobs, upsert_target
from dwc_resources.lakehouse import CatalogUnreachable, LakehouseResource

from .conftest import ROOT, require_service
from .test_postgres_instance import PG_HOST, PG_PORT, PG_USER


@pytest.fixture
def pg_catalogs():
    """Two fresh PostgreSQL databases (lake and analyst catalogs), dropped afterwards."""
    require_service(PG_HOST, PG_PORT, "PostgreSQL")
    import psycopg2

    names = [f"dwc_lake_{uuid.uuid4().hex[:10]}", f"dwc_analyst_{uuid.uuid4().hex[:10]}"]
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        for n in names:
            cur.execute(f'CREATE DATABASE "{n}"')
    try:
        yield [f"postgres:dbname={n} host={PG_HOST} port={PG_PORT} user={PG_USER}" for n in names]
    finally:
        with admin.cursor() as cur:
            for n in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        admin.close()


def lake_for(kind: str, root: Path, pg_catalogs=None) -> LakehouseResource:
    if kind == "sqlite":
        return LakehouseResource.local(str(root))
    return LakehouseResource.local(str(root), catalog=pg_catalogs[0], analyst_catalog=pg_catalogs[1])


@pytest.fixture(params=["sqlite", "postgres"])
def lake(request, tmp_path):
    pg = request.getfixturevalue("pg_catalogs") if request.param == "postgres" else None
    return lake_for(request.param, tmp_path / "dwc", pg)


def test_extensions_load_offline_and_a_missing_one_names_its_package(monkeypatch):
    from dwc_resources import duck

    versions = duck.extension_versions()
    assert versions["duckdb"] == "1.5.5" and {"ducklake", "sqlite_scanner", "postgres_scanner"} <= set(versions)
    con = duck.connect()
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('autoinstall_known_extensions', 'extension_directory')"
        ).fetchall()
    )
    con.close()
    assert settings["autoinstall_known_extensions"] == "false"
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "duckdb_extension_ducklake" else real(name, *a)
    )
    with pytest.raises(duck.MissingExtension, match="pip install 'duckdb-extension-ducklake==1.5.5'"):
        duck.extension_wheel_file("ducklake")


def test_extension_signatures_are_checked_once_per_process_and_again_when_a_file_changes(monkeypatch):
    from dwc_resources import duck

    def unsigned_allowed(con) -> bool:
        value = con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchall()[0][0]
        con.close()
        return value in (True, "true")

    monkeypatch.setattr(duck, "_verified", {})
    assert not unsigned_allowed(duck.connect(trusted=True))  # the first one has DuckDB check the files
    assert set(duck._verified) == set(duck._extension_files().values())
    assert unsigned_allowed(duck.connect(trusted=True))
    assert not unsigned_allowed(duck.connect())  # an analyst's connection is always checked
    path = next(iter(duck._verified))
    duck._verified[path] = (*duck._verified[path][:-1], 0)  # as if the file had been replaced since
    assert not unsigned_allowed(duck.connect(trusted=True))
    assert unsigned_allowed(duck.connect(trusted=True))


def test_concurrent_writer_processes_lose_no_commit(lake):
    """Four processes append to the same tables and upsert the same keys at once: every append lands,
    and every key's version counts every upsert (a lost or overwritten commit would show)."""
    with lake.writer(DDL):
        pass
    jobs = append_jobs(doc_rows=4000, chunk_rows=8000, doc_batch=500, chunk_batch=1000)
    writers, upserts, keys = 4, 36, 3
    spec = {"lake": lake.model_dump(), "jobs": jobs, "upserts": upserts, "keys": keys, "writers": writers}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dwc_pipelines.lakeload", json.dumps({**spec, "writer": w})],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["commits"] for r in results) == len(jobs) + upserts
    con = lake.connect()
    try:
        counts = dict(
            con.execute(
                " UNION ALL ".join(f"SELECT '{t}', count(DISTINCT id) FROM docs.{t}" for t in APPEND_TABLES)
            ).fetchall()
        )
        rows = con.execute(" UNION ALL ".join(f"SELECT count(*) FROM docs.{t}" for t in APPEND_TABLES)).fetchall()
        kv = con.execute(
            " UNION ALL ".join(
                f"SELECT '{t}', k, count(*), max(version) FROM docs.{t} GROUP BY k" for t in UPSERT_TABLES
            )
            + " ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    assert counts == {"docs0": 2000, "docs1": 2000, "chunks0": 4000, "chunks1": 4000}
    assert sum(r[0] for r in rows) == 12000, "an append settled by DuckLake's own retry landed once"
    want = Counter(upsert_target(i, keys) for i in range(upserts))
    assert kv == sorted((t, k, 1, n) for (t, k), n in want.items()), "one row per key, every upsert counted"


def test_a_transaction_holds_the_tables_it_names_across_processes(pg_catalogs, tmp_path):
    """On a PostgreSQL catalog `transaction(tables=...)` excludes every other session from those
    tables until it ends, commit or rollback; a SQLite catalog's commit lock stands in for it."""
    import psycopg2

    from dwc_resources.duck import table_locks, transaction

    lake = lake_for("postgres", tmp_path / "dwc", pg_catalogs)
    with lake.writer(DDL):
        pass
    other = psycopg2.connect(pg_catalogs[0][len("postgres:") :])
    other.autocommit = True
    cur = other.cursor()

    def free(table: str) -> bool:
        cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [f"dwc-table:{table}"])
        got = cur.fetchone()[0]
        if got:
            cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", [f"dwc-table:{table}"])
        return got

    con = lake.connect()
    try:
        with transaction(con, tables=["docs.kv0"]):
            con.execute("INSERT INTO docs.kv0 VALUES (1, 1, 0)")
            assert not free("docs.kv0") and free("docs.kv1")
        assert free("docs.kv0")
        with pytest.raises(ZeroDivisionError):
            with transaction(con, tables=["docs.kv1", "docs.kv0"]):
                assert not free("docs.kv0") and not free("docs.kv1")
                raise ZeroDivisionError
        assert free("docs.kv0") and free("docs.kv1")
        assert con.execute("SELECT count(*) FROM docs.kv0").fetchall() == [(1,)]
    finally:
        con.close()
        other.close()
    sqlite = LakehouseResource.local(str(tmp_path / "embedded"))
    con = sqlite.connect()
    try:
        with table_locks(con, ["docs.kv0"]) as locked:
            assert not locked
    finally:
        con.close()


def _appender(i: int):
    @dg.asset(name=f"part{i}", group_name="t")
    def _a(warehouse: LakehouseResource):
        with warehouse.writer("CREATE TABLE IF NOT EXISTS docs.parts (part INTEGER, x BIGINT)") as con:
            con.execute(f"INSERT INTO docs.parts SELECT {i}, range FROM range(1000)")

    return _a


def parts_job():
    """Three appending assets, each in a process of its own (reconstructed from this module)."""
    from dwc_pipelines.resources import lakehouse_resource

    job = dg.define_asset_job("parts_job", executor_def=dg.multiprocess_executor.configured({"max_concurrent": 3}))
    return dg.Definitions(
        assets=[_appender(i) for i in range(3)], resources={"warehouse": lakehouse_resource("local")}, jobs=[job]
    ).resolve_job_def("parts_job")


def lake_env(lake: LakehouseResource, home: Path) -> dict:
    env = {"DWC_HOME": str(home)}
    if not lake.catalog.startswith("sqlite:"):
        env.update(
            DWC_LAKE_CATALOG=lake.catalog,
            DWC_LAKE_DATA_PATH=lake.data_path,
            DWC_ANALYST_CATALOG=lake.analyst_catalog,
            DWC_ANALYST_DATA_PATH=lake.analyst_data_path,
        )
    return env


def test_assets_write_in_parallel_steps_of_the_multiprocess_executor(lake, tmp_path, monkeypatch):
    """Three assets append to one table from three step processes of one run, at once."""
    for k, v in lake_env(lake, tmp_path / "dwc").items():
        monkeypatch.setenv(k, v)
    (tmp_path / "dg").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dg")) as instance:
        with dg.execute_job(dg.reconstructable(parts_job), instance=instance) as result:
            assert result.success
            events = result.get_asset_materialization_events()
            pids = {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
        snapshots = [e.materialization.metadata["dwc/lake_snapshot"].value for e in events]
    assert len(pids) == 3, "three step processes"
    assert len(set(snapshots)) == 3, "each materialization records the snapshot it committed"
    with lake.reader() as con:
        assert con.execute("SELECT part, count(*) FROM docs.parts GROUP BY 1 ORDER BY 1").fetchall() == [
            (0, 1000),
            (1, 1000),
            (2, 1000),
        ]


def test_time_travel_and_erasure_reach_every_file(lake, tmp_path):
    secret = "zelda.quarantino@example.net"
    with lake.writer("CREATE TABLE IF NOT EXISTS docs.notes (id INTEGER, body VARCHAR)") as con:
        con.execute("INSERT INTO docs.notes VALUES (1, ?), (2, 'nothing personal')", [f"write to {secret} today"])
        first = con.execute("SELECT * FROM lake.last_committed_snapshot()").fetchall()[0][0]
    with lake.writer() as con:
        con.execute("UPDATE docs.notes SET body = 'erased' WHERE id = 1")
    with lake.unmasked_reader(snapshot_version=first) as con:
        assert con.execute("SELECT body FROM docs.notes WHERE id = 1").fetchall() == [(f"write to {secret} today",)]
    env = {**os.environ, **lake_env(lake, tmp_path / "dwc")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dwc_pipelines.cli",
            "sql",
            "--at",
            str(first),
            "--unmasked",
            "SELECT body FROM docs.notes WHERE id = 1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert secret in out.stdout, out.stderr
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dwc_pipelines.cli",
            "sql",
            "--at",
            str(first),
            "SELECT body FROM docs.notes WHERE id = 1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "[EMAIL]" in out.stdout and secret not in out.stdout, out.stdout + out.stderr

    def files_holding(needle: bytes) -> list[str]:
        hits = []
        for root in (lake.data_path, lake.analyst_data_path, tmp_path / "dwc" / "lake", tmp_path / "dwc" / "analyst"):
            for p in Path(root).rglob("*"):
                if p.is_file() and needle in p.read_bytes():
                    hits.append(str(p))
        return hits

    # Parquet may compress the value; its first bytes stay literal in a dictionary or statistics page.
    assert files_holding(b"zelda.quarantino"), "the old value is on disk before the history is forgotten"
    lake.forget_history(log=lambda m: None)
    assert files_holding(b"zelda.quarantino") == []
    with lake.unmasked_reader() as con:
        assert con.execute("SELECT body FROM docs.notes ORDER BY id").fetchall() == [("erased",), ("nothing personal",)]
        assert con.execute("SELECT count(*) FROM lake.snapshots()").fetchall()[0][0] == 1
    with lake.reader() as con:
        assert con.execute("SELECT body FROM docs.notes ORDER BY id").fetchall() == [("erased",), ("nothing personal",)]
    # The restated table statistics stay bounds of every live file once a new file is merged into them
    # (cleared bounds were replaced by the new file's, and filters then skipped the older files).
    with lake.writer() as con:
        con.execute("INSERT INTO docs.notes VALUES (3, 'written after the erasure')")
    for read in (lake.unmasked_reader, lake.reader):
        with read() as con:
            assert con.execute("SELECT id FROM docs.notes WHERE body = 'erased'").fetchall() == [(1,)]
            assert con.execute("SELECT count(*) FROM docs.notes WHERE id < 3").fetchall() == [(2,)]


def test_a_writer_killed_mid_write_leaves_the_previous_snapshot(lake, tmp_path):
    with lake.writer("CREATE TABLE IF NOT EXISTS docs.big (i BIGINT, s VARCHAR)") as con:
        con.execute("INSERT INTO docs.big SELECT range, 'base' FROM range(10)")
        before = con.execute("SELECT * FROM lake.last_committed_snapshot()").fetchall()[0][0]
    code = (
        "import json, sys\nfrom dwc_resources.lakehouse import LakehouseResource\n"
        f"lake = LakehouseResource(**json.loads({json.dumps(json.dumps(lake.model_dump()))}))\n"
        "con = lake.connect()\ncon.execute('BEGIN')\n"
        "con.execute(\"INSERT INTO docs.big SELECT range, repeat('x', 200) FROM range(3000000)\")\n"
        "print('inserted', flush=True)\ncon.execute('COMMIT')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "inserted"  # Parquet files written, the commit under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    con = lake.connect()
    try:
        assert con.execute("SELECT id FROM lake.current_snapshot()").fetchall()[0][0] in (before, before + 1)
        rows = con.execute("SELECT count(*) FROM docs.big").fetchall()[0][0]
    finally:
        con.close()
    assert rows in (10, 3_000_010), "all or nothing"
    lake.maintain("0 seconds", log=lambda m: None)
    con = lake.connect()
    try:
        listed = {
            os.path.basename(r[0])
            for r in con.execute(
                "SELECT data_file FROM ducklake_list_files('lake', 'big', schema => 'docs')"
            ).fetchall()
        }
    finally:
        con.close()
    on_disk = {p.name for p in Path(lake.data_path, "docs", "big").glob("*.parquet")}
    assert on_disk == listed, "no data file is left that the lake does not reference"


def test_an_unreachable_catalog_fails_fast_naming_it(tmp_path):
    lake = LakehouseResource.local(
        str(tmp_path), catalog="postgres:dbname=nowhere host=127.0.0.1 port=9 user=x password=hunter2-secret"
    )
    t0 = time.monotonic()
    with pytest.raises(CatalogUnreachable) as err:
        lake.connect()
    assert time.monotonic() - t0 < 15
    assert "dbname=nowhere" in str(err.value) and "hunter2-secret" not in str(err.value)


def test_migrate_a_single_file_warehouse_idempotently(tmp_path):
    import duckdb

    old = tmp_path / "dwc" / "warehouse.duckdb"
    old.parent.mkdir(parents=True)
    con = duckdb.connect(str(old))
    con.execute("CREATE SCHEMA docs; CREATE SCHEMA ai")
    con.execute(
        "CREATE TABLE docs.documents AS SELECT range AS id, 'text ' || range AS text, "
        "'{\"a\": 1}'::JSON AS meta FROM range(2500)"
    )
    con.execute("CREATE TABLE docs._settings (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO docs._settings VALUES ('minhash_scheme', 'x')")
    con.execute(
        "CREATE TABLE ai.chunk_embeddings AS SELECT range AS i, [1.0, 2.0, range]::FLOAT[3] AS embedding FROM range(10)"
    )
    con.close()
    env = {**os.environ, "DWC_HOME": str(tmp_path / "dwc"), "DWC_ENV": "local"}
    env.pop("DWC_LAKE_CATALOG", None)

    def run():
        return subprocess.run(
            [sys.executable, "-m", "dwc_pipelines.cli", "migrate-warehouse"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert "3 tables" in first.stdout and "3 copied" in first.stdout, first.stdout
    second = run()
    assert "0 copied" in second.stdout and "3 already identical" in second.stdout, second.stdout
    lake = LakehouseResource.local(str(tmp_path / "dwc"))
    with lake.unmasked_reader() as con:
        assert con.execute("SELECT count(*), sum(id) FROM docs.documents").fetchall() == [(2500, sum(range(2500)))]
        assert con.execute("SELECT embedding FROM ai.chunk_embeddings WHERE i = 7").fetchall() == [([1.0, 2.0, 7.0],)]
    with lake.reader() as con:
        assert con.execute("SELECT count(*) FROM docs.documents").fetchall() == [(2500,)]
