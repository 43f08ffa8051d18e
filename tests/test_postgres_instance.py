"""The production instance file (deploy/dagster.postgres.yaml) against the real PostgreSQL here."""

import os
import shutil
import uuid

import dagster as dg
import pytest

from .conftest import ROOT, Env, require_service

PG_HOST, PG_PORT = os.environ.get("DWC_TEST_PG_HOST", "127.0.0.1"), int(os.environ.get("DWC_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("DWC_TEST_PG_USER", "postgres")


@pytest.fixture
def pg_database():
    require_service(PG_HOST, PG_PORT, "PostgreSQL")
    import psycopg2

    name = f"dwc_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.services
def test_ingest_job_runs_on_a_postgres_backed_instance(tmp_path, pg_database, monkeypatch):
    import psycopg2

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    for key, value in {
        "DAGSTER_PG_HOST": PG_HOST,
        "DAGSTER_PG_PORT": str(PG_PORT),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "trust-auth-ignores-it",
        "DAGSTER_PG_DB": pg_database,
    }.items():
        monkeypatch.setenv(key, value)

    env = Env(tmp_path / "dwc")
    env.write("memo.txt", "Quarterly memo\n\nThe board approved the budget for the new warehouse in Rotterdam.")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        result = env.run_ingest(instance)
        assert result.success
        run_id = result.run_id
    finally:
        instance.dispose()

    with psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=pg_database) as con, con.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        assert cur.fetchall() == [("SUCCESS",)]
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        )
        assert cur.fetchone()[0] >= 4
    assert env.query("SELECT count(*) FROM docs.documents") == [(1,)]
