"""Analysts query a read-only snapshot while runs write, and never see a half-written table."""

import os
import subprocess
import sys

from dwc_resources.duck import connect_writer, publish

from .conftest import ROOT


def dwc_sql(env, query: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dwc_pipelines.cli", "sql", query], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DWC_SNAPSHOT_PATH": env.warehouse.snapshot_path}, timeout=120,
    )


def test_dwc_sql_reads_while_a_writer_holds_the_warehouse(env, instance):
    env.write("a.txt", "Memo about the Rotterdam warehouse budget.")
    env.write("b.txt", "Minutes of the safety committee meeting.")
    assert env.run_ingest(instance).success

    writer = connect_writer(env.warehouse.path)  # holds DuckDB's exclusive lock, like a running asset
    try:
        out = dwc_sql(env, "SELECT count(*) AS n FROM docs.documents WHERE is_current")
        assert out.returncode == 0, out.stderr
        assert "│ 2 │" in out.stdout.replace(" ", "").replace("│2│", "│ 2 │")

        # An analyst session open on the current snapshot keeps seeing it whole while a writer
        # adds rows and publishes the next snapshot.
        reader = subprocess.Popen(
            [sys.executable, "-c",
             "import duckdb, sys\n"
             f"con = duckdb.connect({env.warehouse.snapshot_path!r}, read_only=True)\n"
             "print(con.execute('SELECT count(*) FROM docs.documents').fetchall()[0][0], flush=True)\n"
             "sys.stdin.readline()\n"
             "print(con.execute('SELECT count(*) FROM docs.documents').fetchall()[0][0], flush=True)\n"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert reader.stdout.readline().strip() == "2"
        writer.execute("INSERT INTO docs.documents SELECT * REPLACE (doc_id || '-x' AS doc_id) FROM docs.documents")
        publish(writer, env.warehouse.snapshot_path, ['docs.documents'])
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "2", "an open session keeps its consistent snapshot"
        reader.wait(timeout=30)
        out = dwc_sql(env, "SELECT count(*) FROM docs.documents")
        assert "4" in out.stdout, "a new session sees the new snapshot"
    finally:
        writer.close()
    assert not [p for p in os.listdir(os.path.dirname(env.warehouse.snapshot_path)) if p.endswith(".tmp")]


def test_dwc_sql_reports_errors_plainly(env):
    out = dwc_sql(env, "SELECT 1")
    assert out.returncode == 2 and "no analyst snapshot" in out.stderr


def test_publish_exports_changed_tables_and_collects_old_files(tmp_path):
    con = connect_writer(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA docs; CREATE TABLE docs.a AS SELECT 1 AS x; CREATE TABLE docs.b AS SELECT 2 AS y;"
                "CREATE TABLE docs._internal AS SELECT 3 AS z")
    catalog = str(tmp_path / "analyst.duckdb")
    first = publish(con, catalog, ["docs.a"])
    assert first["tables"] == ["docs.a", "docs.b"], "tables missing from the catalog are published once"
    con.execute("INSERT INTO docs.a VALUES (5)")
    second = publish(con, catalog, ["docs.a"], keep_seconds=0)
    assert second["tables"] == ["docs.a"]
    import duckdb

    reader = duckdb.connect(catalog, read_only=True)
    assert reader.execute("SELECT sum(x) FROM docs.a").fetchall() == [(6,)]
    assert reader.execute("SELECT y FROM docs.b").fetchall() == [(2,)]
    views = {r[0] for r in reader.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views == {"a", "b"}, "internal tables (_name) are never published"
    reader.close()
    con.close()
    files = sorted(p.name for p in (tmp_path / "analyst_data" / "docs").glob("*.parquet"))
    assert len(files) == 2, f"the superseded export of docs.a was collected: {files}"
