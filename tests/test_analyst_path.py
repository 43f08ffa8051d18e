"""Analysts read a separate, masked analyst lake while writers commit, and never see a half-committed write."""

import os
import subprocess
import sys

from dwc_resources.lakehouse import sync_analyst

from .conftest import ROOT


def count(out: subprocess.CompletedProcess) -> int:
    """The one number a `dwc sql` count query printed."""
    cells = [c.strip() for line in out.stdout.splitlines() for c in line.split("│") if c.strip().isdigit()]
    assert len(cells) == 1, out.stdout + out.stderr
    return int(cells[0])


def dwc(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dwc_pipelines.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DWC_HOME": str(env.root), "DWC_ENV": "local"},
        timeout=120,
    )


def test_a_plain_duckdb_session_reads_the_analyst_lake_while_a_writer_commits(env, instance):
    env.write("a.txt", "Memo about the Rotterdam warehouse budget. Mail anna.berg@example.com.")
    env.write("b.txt", "Minutes of the safety committee meeting.")
    assert env.run_ingest(instance).success

    attach = dwc(env, "sql", "--print-attach")
    assert attach.returncode == 0, attach.stderr
    assert "READ_ONLY" in attach.stdout and "extension_directory" in attach.stdout
    # A plain duckdb session (no DWC code), in one read transaction: its view stays whole.
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys\n"
            "con = duckdb.connect(config={'autoinstall_known_extensions': False})\n"
            f"for stmt in {attach.stdout!r}.strip().split(';\\n'):\n"
            "    con.execute(stmt.rstrip(';'))\n"
            "con.execute('BEGIN')\n"
            "print(con.execute('SELECT count(*) FROM docs.documents').fetchall()[0][0], flush=True)\n"
            "print(con.execute(\"SELECT count(*) FROM docs.documents WHERE text LIKE '%anna.berg%'\").fetchall()[0][0], flush=True)\n"
            "sys.stdin.readline()\n"
            "print(con.execute('SELECT count(*) FROM docs.documents').fetchall()[0][0], flush=True)\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "2", reader.stderr.read() if reader.poll() is not None else ""
        assert reader.stdout.readline().strip() == "0", "the analyst lake holds masked text only"
        with env.warehouse.writer() as con:
            con.execute("BEGIN")
            con.execute("INSERT INTO docs.documents SELECT * REPLACE (doc_id || '-x' AS doc_id) FROM docs.documents")
            # Uncommitted: neither a new analyst session nor the lake's other readers see it.
            out = dwc(env, "sql", "SELECT count(*) AS n FROM docs.documents")
            assert out.returncode == 0, out.stderr
            assert count(out) == 2
            con.execute("COMMIT")
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "2", "an open read transaction keeps its snapshot"
        reader.wait(timeout=30)
    finally:
        reader.kill()
    out = dwc(env, "sql", "SELECT count(*) AS n FROM docs.documents")
    assert count(out) == 4, "a new session sees the caught-up analyst lake"
    unmasked = dwc(env, "sql", "--unmasked", "SELECT count(*) AS n FROM docs.documents WHERE text LIKE '%anna.berg%'")
    assert count(unmasked) == 2, unmasked.stdout + unmasked.stderr


def test_dwc_sql_reports_errors_plainly(env):
    out = dwc(env, "sql", "SELECT 1")
    assert out.returncode == 1 and "no analyst lake" in out.stderr
    out = dwc(env, "sql")
    assert out.returncode == 2 and "give a query" in out.stderr


def test_analyst_lake_applies_only_what_changed(env):
    lake = env.warehouse
    with lake.writer(
        "CREATE TABLE docs.notes (id INTEGER, body VARCHAR); CREATE TABLE docs._internal (z INTEGER);"
        "CREATE TABLE docs.other (y INTEGER)"
    ) as con:
        con.execute("INSERT INTO docs.notes VALUES (1, 'call 555-123-4567'), (2, 'plain'), (3, 'x')")
        con.execute("INSERT INTO docs.other VALUES (7)")
        con.execute("INSERT INTO docs._internal VALUES (3)")
    with lake.writer() as con:
        con.execute("UPDATE docs.notes SET body = 'mail bo@example.org' WHERE id = 2")
        con.execute("DELETE FROM docs.notes WHERE id = 3")
        con.execute("INSERT INTO docs.notes VALUES (4, 'new')")
        before = dict(
            ((s, t), snap)
            for s, t, snap in con.execute(
                "SELECT schema_name, table_name, snapshot_id FROM analyst._dwc.sync_state"
            ).fetchall()
        )
    with lake.reader() as con:
        assert con.execute("SELECT id, body FROM docs.notes ORDER BY id").fetchall() == [
            (1, "call [PHONE]"),
            (2, "mail [EMAIL]"),
            (4, "new"),
        ]
        assert con.execute("SELECT y FROM docs.other").fetchall() == [(7,)]
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'analyst' AND schema_name = 'docs'"
            ).fetchall()
        }
        assert "_internal" not in tables, "internal tables (_name) never reach analysts"
        after = dict(
            ((s, t), snap)
            for s, t, snap in con.execute("SELECT schema_name, table_name, snapshot_id FROM _dwc.sync_state").fetchall()
        )
    assert after[("docs", "notes")] > before[("docs", "notes")]
    assert after[("docs", "other")] == before[("docs", "other")], "an unchanged table is not copied again"
    # A catch-up with nothing new writes nothing.
    con = lake.connect(writable_analyst=True)
    try:
        assert sync_analyst(con)["analyst_snapshot"] is None
    finally:
        con.close()


def test_rows_inserted_and_updated_in_one_transaction_reach_analysts_once(env):
    """DuckLake keeps a transaction-local row id for a row updated in the transaction that inserted it;
    the analyst lake must still hold each row once (found in the demo: chain-generated documents twice)."""
    from dwc_resources.duck import transaction

    with env.warehouse.writer("CREATE TABLE docs.r (k INTEGER, v INTEGER)") as con:
        con.execute("INSERT INTO docs.r VALUES (0, 0)")
    for step in range(3):
        with env.warehouse.writer() as con, transaction(con):
            con.execute(f"INSERT INTO docs.r VALUES ({step + 1}, 0), ({step + 10}, 0)")
            con.execute(f"UPDATE docs.r SET v = v + 1 WHERE k IN (0, {step + 1})")
    want = env.unmasked("SELECT k, v FROM docs.r ORDER BY k")
    assert len(want) == 7
    assert env.query("SELECT k, v FROM docs.r ORDER BY k") == want
