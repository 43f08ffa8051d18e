"""The production topology as separate processes on this machine: a PostgreSQL instance, the lake on
PostgreSQL catalogs with a shared data path, the code location as a gRPC server, the webserver, the
daemon and two Celery workers on RabbitMQ; ingestion and enrichment runs launched at once write the
lake from both workers, with no DuckDB file shared and no writer pool."""

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from dwc_resources.lakehouse import LakehouseResource

from .conftest import ROOT, require_service
from .test_deployment import Processes, free_port, wait_for, webserver_up
from .test_lakehouse import pg_catalogs  # noqa: F401 (fixture)
from .test_postgres_instance import PG_HOST, PG_PORT, PG_USER, pg_database  # noqa: F401 (fixture)

BIN = Path(sys.executable).parent
MEMO = "Quarterly memo {i}\n\nThe board approved the budget for the Rotterdam warehouse, item {i}.\n"


@pytest.mark.services
def test_ingestion_and_enrichment_run_at_once_on_two_celery_workers(tmp_path, pg_database, pg_catalogs):  # noqa: F811
    require_service("127.0.0.1", 5672, "RabbitMQ")
    from dagster_graphql import DagsterGraphQLClient

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    code_port, web_port = free_port(), free_port()
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server: {{host: 127.0.0.1, port: {code_port}, location_name: dwc}}\n"
    )
    shared = tmp_path / "shared"  # what a mounted volume holds: the lake's data; DWC_HOME the landing zone and blobs
    landing = tmp_path / "dwc" / "landing"
    landing.mkdir(parents=True)
    for i in range(6):
        (landing / f"memo-{i}.txt").write_text(MEMO.format(i=i))
    queue, broker = f"dwc-topology-{uuid.uuid4().hex[:8]}", "pyamqp://guest:guest@127.0.0.1:5672//"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": PG_HOST,
        "DAGSTER_PG_PORT": str(PG_PORT),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "trust-auth-ignores-it",
        "DAGSTER_PG_DB": pg_database,
        "DWC_HOME": str(tmp_path / "dwc"),
        "DWC_ENV": "local",
        "DWC_AI_PROVIDER": "local",
        "DWC_LAKE_CATALOG": pg_catalogs[0],
        "DWC_LAKE_DATA_PATH": str(shared / "lake") + "/",
        "DWC_ANALYST_CATALOG": pg_catalogs[1],
        "DWC_ANALYST_DATA_PATH": str(shared / "analyst") + "/",
        "DWC_WORK_DIR": str(tmp_path / "work"),
        "DWC_EXECUTOR": "celery",
        "DWC_CELERY_BROKER": broker,
        "DWC_CELERY_QUEUE": queue,
    }
    procs = Processes(tmp_path / "logs")
    try:
        for name in ("w1", "w2"):
            procs.celery_worker(name, broker, queue, env)
        procs.code_server("code", ["-m", "dwc_pipelines.definitions"], code_port, env)
        procs.start(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(web_port),
                "-w",
                str(tmp_path / "workspace.yaml"),
            ],
            env,
        )
        procs.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(tmp_path / "workspace.yaml")], env)
        wait_for(lambda: all("ready" in procs.log(n) for n in ("w1", "w2")), 120, "the Celery workers", procs)
        wait_for(lambda: webserver_up(web_port), 180, "the webserver", procs)
        client = DagsterGraphQLClient("127.0.0.1", port_number=web_port)

        def submit(job: str):
            try:
                return client.submit_job_execution(
                    job, repository_location_name="dwc", repository_name="__repository__"
                )
            except Exception as exc:
                if any(w in str(exc).lower() for w in ("not found", "unavailable", "loading", "could not")):
                    return None
                raise

        first = wait_for(lambda: submit("ingest_job"), 180, "the code location to load", procs, step=3)
        done = lambda runs: all(client.get_run_status(r).value in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)  # noqa: E731
        wait_for(lambda: done([first]), 600, "the first ingestion run", procs, step=2)
        assert client.get_run_status(first).value == "SUCCESS", procs.log("daemon")
        for i in range(6, 12):
            (landing / f"memo-{i}.txt").write_text(MEMO.format(i=i))
        # At once: ingestion of the new files and enrichment of what is there, steps on both workers.
        runs = [submit("ingest_job"), submit("enrich_job")]
        wait_for(lambda: done(runs), 900, "the concurrent runs", procs, step=2)
        statuses = [client.get_run_status(r).value for r in runs]
        assert statuses == ["SUCCESS", "SUCCESS"], (statuses, procs.log("w1"), procs.log("w2"))
    finally:
        procs.stop()
    # The whole log: stopping a worker can write a traceback longer than Processes.log's tail.
    worker_logs = [(procs.logs / f"{w}.log").read_text(errors="replace") for w in ("w1", "w2")]
    assert all("succeeded" in log for log in worker_logs), "both workers ran steps"
    assert not list(shared.rglob("*.duckdb")), "no DuckDB file on the shared volume"
    lake = LakehouseResource.local(
        str(tmp_path / "dwc"),
        catalog=pg_catalogs[0],
        data_path=str(shared / "lake") + "/",
        analyst_catalog=pg_catalogs[1],
        analyst_data_path=str(shared / "analyst") + "/",
    )
    with lake.unmasked_reader() as con:
        assert con.execute("SELECT count(*) FROM docs.documents WHERE is_current").fetchall()[0][0] == 12
        assert con.execute("SELECT count(DISTINCT content_hash) FROM ai.document_enrichment").fetchall()[0][0] >= 6
    with lake.reader() as con:
        assert con.execute("SELECT count(*) FROM docs.documents WHERE is_current").fetchall()[0][0] == 12
