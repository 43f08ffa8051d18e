"""Analysts query a read-only snapshot while runs write, and never see a half-written table."""

import os
import subprocess
import sys

from dwc_resources.duck import connect_writer, publish_snapshot

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
        publish_snapshot(writer, env.warehouse.snapshot_path)
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
