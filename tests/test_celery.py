"""Steps of one run on two Celery workers (dagster-celery, RabbitMQ on 127.0.0.1:5672): the design
that puts workers on other hosts. The run is on a PostgreSQL-backed instance, which every worker
reaches; the event log names the worker that ran each step."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from .conftest import ROOT, require_service
from .test_deployment import Processes
from .test_postgres_instance import PG_HOST, PG_PORT, PG_USER, pg_database  # noqa: F401 (fixture)

BIN = Path(sys.executable).parent


@pytest.mark.services
def test_steps_of_one_run_execute_in_two_celery_workers(tmp_path, pg_database):  # noqa: F811
    require_service("127.0.0.1", 5672, "RabbitMQ")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    queue = f"dwc-test-{uuid.uuid4().hex[:8]}"  # a queue of our own: no stray worker takes these steps
    broker = "pyamqp://guest:guest@127.0.0.1:5672//"
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
        "DWC_EXECUTOR": "celery",
        "DWC_CELERY_BROKER": broker,
        "DWC_CELERY_QUEUE": queue,
    }
    procs = Processes(tmp_path / "logs")
    workers = {}
    try:
        for name in ("w1", "w2"):
            workers[name] = procs.celery_worker(name, broker, queue, env)
        deadline = time.time() + 90
        while time.time() < deadline and not all("ready" in procs.log(n) for n in workers):
            for n, p in workers.items():
                assert p.poll() is None, procs.log(n)
            time.sleep(1)
        assert all("ready" in procs.log(n) for n in workers), [procs.log(n) for n in workers]

        out = subprocess.run(
            [str(BIN / "dagster"), "job", "execute", "-m", "dwc_pipelines.definitions", "-j", "quantum_algorithms_job"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    finally:
        procs.stop()

    os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        run = instance.get_runs(limit=1)[0]
        assert run.job_name == "quantum_algorithms_job" and run.status == dg.DagsterRunStatus.SUCCESS
        logs = instance.all_logs(run.run_id)
    finally:
        instance.dispose()
    ran_on = {}  # step -> (worker hostname, pid of the process that ran it)
    for rec in logs:
        ev = rec.dagster_event
        if ev and ev.event_type_value == "ENGINE_EVENT" and ev.step_key:
            meta = ev.engine_event_data.metadata
            if "Celery worker" in meta:
                ran_on.setdefault(ev.step_key, [meta["Celery worker"].value, None])
        if ev and ev.event_type_value == "STEP_START":
            ran_on.setdefault(ev.step_key, [None, None])[1] = ev.pid
    assert len(ran_on) >= 5 and all(h and pid for h, pid in ran_on.values()), ran_on
    hosts = {h.split("@")[0] for h, _ in ran_on.values()}
    pids = {pid for _, pid in ran_on.values()}
    assert hosts == {"w1", "w2"}, ran_on
    assert pids == {workers["w1"].pid, workers["w2"].pid}, (pids, {n: p.pid for n, p in workers.items()})
