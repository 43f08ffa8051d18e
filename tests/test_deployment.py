"""The production topology without containers: the code location as a gRPC server, the daemon and
the webserver as separate processes on a PostgreSQL-backed instance; runs launched through the
GraphQL API, a schedule tick and a sensor tick fired by the daemon, every run in PostgreSQL."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_postgres_instance import PG_HOST, PG_PORT, PG_USER, pg_database  # noqa: F401 (fixture)

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Everything started here is stopped here, process groups included."""

    def __init__(self, logs: Path):
        self.logs, self.procs = logs, []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc, log))
        return proc

    def celery_worker(self, name: str, broker: str, queue: str, env: dict) -> subprocess.Popen:
        # --pool solo: a step runs in the worker process itself, so its pid names the worker.
        args = ["-b", broker, "worker", "-Q", queue, "-n", f"{name}@%h", "--pool", "solo", "--loglevel", "INFO"]
        args += ["--without-gossip", "--without-mingle"]
        return self.start(name, [str(BIN / "celery"), "-A", "dagster_celery.app", *args], env)

    def code_server(self, name: str, target: list[str], port: int, env: dict) -> subprocess.Popen:
        """`dagster code-server start` for `target` (["-m", module] or ["-f", file])."""
        args = [str(BIN / "dagster"), "code-server", "start", *target, "-h", "127.0.0.1", "-p", str(port)]
        return self.start(name, args, env)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for _, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.time() + 30
        for _, proc, log in reversed(self.procs):
            try:
                proc.wait(timeout=max(1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def webserver_up(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).status == 200
    except OSError:
        return False


def wait_for(predicate, timeout: float, what: str, procs: Processes, step: float = 1.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        for name, proc, _ in procs.procs:
            assert proc.poll() is None, f"{name} exited while waiting for {what}:\n{procs.log(name)}"
        time.sleep(step)
    logs = "\n".join(f"--- {n}\n{procs.log(n)}" for n, _, _ in procs.procs)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


@pytest.mark.services
def test_code_server_daemon_and_webserver_on_postgres(tmp_path, pg_database):  # noqa: F811
    import psycopg2
    from dagster_graphql import DagsterGraphQLClient

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    code_port, heartbeat_port, web_port = free_port(), free_port(), free_port()
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n"
        f"  - grpc_server: {{host: 127.0.0.1, port: {code_port}, location_name: dwc}}\n"
        f"  - grpc_server: {{host: 127.0.0.1, port: {heartbeat_port}, location_name: heartbeat}}\n"
    )
    dwc_home = tmp_path / "dwc"
    (dwc_home / "landing").mkdir(parents=True)
    # Dropped before the daemon starts: the landing sensor's first tick finds it.
    (dwc_home / "landing" / "memo.txt").write_text("Quarterly memo\n\nThe board approved the budget for Rotterdam.\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": PG_HOST,
        "DAGSTER_PG_PORT": str(PG_PORT),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "trust-auth-ignores-it",
        "DAGSTER_PG_DB": pg_database,
        "DWC_HOME": str(dwc_home),
        "DWC_ENV": "local",
        "DWC_AI_PROVIDER": "local",
    }
    procs = Processes(tmp_path / "logs")
    try:
        procs.code_server("code", ["-m", "dwc_pipelines.definitions"], code_port, env)
        procs.code_server("heartbeat", ["-f", str(ROOT / "tests" / "locations" / "heartbeat.py")], heartbeat_port, env)
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

        wait_for(lambda: webserver_up(web_port), 180, "the webserver", procs)
        client = DagsterGraphQLClient("127.0.0.1", port_number=web_port)

        def location_loaded():
            try:
                return client.submit_job_execution(
                    "ops_marts_job", repository_location_name="dwc", repository_name="__repository__"
                )
            except Exception as exc:
                if any(w in str(exc).lower() for w in ("not found", "unavailable", "loading", "could not")):
                    return None  # the code server is still loading the definitions
                raise

        launched = [wait_for(location_loaded, 180, "the code location to load", procs, step=3)]
        launched.append(
            client.submit_job_execution(
                "quantum_algorithms_job", repository_location_name="dwc", repository_name="__repository__"
            )
        )

        def runs(where: str = "TRUE") -> list[tuple]:
            with (
                psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=pg_database) as con,
                con.cursor() as cur,
            ):
                cur.execute(f"SELECT run_id, pipeline_name, status FROM runs WHERE {where}")
                return cur.fetchall()

        from_graphql = wait_for(
            lambda: (
                all(client.get_run_status(r).value in ("SUCCESS", "FAILURE", "CANCELED") for r in launched)
                and [client.get_run_status(r).value for r in launched]
            ),
            300,
            "the GraphQL runs",
            procs,
            step=2,
        )
        assert from_graphql == ["SUCCESS", "SUCCESS"], from_graphql
        sensor_runs = wait_for(
            lambda: runs("pipeline_name = 'ingest_job' AND status = 'SUCCESS'"),
            240,
            "a run from the landing sensor's tick",
            procs,
            step=2,
        )
        schedule_runs = wait_for(
            lambda: runs("pipeline_name = 'heartbeat_job' AND status = 'SUCCESS'"),
            150,
            "a run from the schedule's tick",
            procs,
            step=2,
        )
        with psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=pg_database) as con, con.cursor() as cur:
            cur.execute("SELECT key, value FROM run_tags WHERE run_id = %s", (sensor_runs[0][0],))
            assert ("dagster/sensor_name", "landing_zone_sensor") in cur.fetchall()
            cur.execute("SELECT key, value FROM run_tags WHERE run_id = %s", (schedule_runs[0][0],))
            assert ("dagster/schedule_name", "heartbeat_every_minute") in cur.fetchall()
        # Runs the automation sensor started meanwhile must finish, and nothing may have failed.
        wait_for(
            lambda: not runs("status IN ('QUEUED', 'NOT_STARTED', 'STARTING', 'STARTED')"),
            300,
            "every run to finish",
            procs,
            step=3,
        )
        all_runs = runs()
        assert {r[0] for r in all_runs} >= set(launched)
        assert [r for r in all_runs if r[2] != "SUCCESS"] == [], all_runs
    finally:
        procs.stop()
    assert all(proc.poll() is not None for _, proc, _ in procs.procs)
