"""bench/platform: what the platform itself costs, apart from the work of its assets.

    python -m bench.platform [--repeats 3] [--launches 5]

- location_load_s: a fresh process imports dwc_pipelines.definitions and builds every definition
  (what a code server or `dagster dev` does on start and reload); median of repeats.
- step_overhead_ms: an asset that does nothing, per step: a job of 1 and a job of 21 empty assets,
  in process and with the multiprocess executor (each step in its own subprocess).
- run_launch_latency_s_sqlite / _postgres: runs launched through the GraphQL API of a webserver
  (default run coordinator, the run in a subprocess, as in production without a queue), measured by
  Dagster's own run record, from creation to the run's start; median of launches.
- demo_wall_s: `dwc demo` on a fresh DWC_HOME, with the time per domain (asset group), summed from
  every step's start and end in the instance.
- catchup_runs_after_demo: runs that `dagster dev`, opened on the demo's instance, launches in its
  first --after seconds (120); noop_ingest_run_s: then `ingest_job` launched through GraphQL with
  nothing new to ingest, from the run's creation to its end (queue, launch, steps);
  cascade_runs_after_noop: runs launched in the --after seconds that follow it.
- cold_import_s: a fresh process imports the code location (Python's bytecode and the OS cache warm).
- ci_wall_s: given with --ci-wall-s from a `.ci/run` on a fresh clone, measured apart.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from bench.common import run_context, write_results

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG = {
    "host": os.environ.get("DWC_TEST_PG_HOST", "127.0.0.1"),
    "port": int(os.environ.get("DWC_TEST_PG_PORT", "5432")),
    "user": os.environ.get("DWC_TEST_PG_USER", "postgres"),
}


def location_load(repeats: int) -> dict:
    code = (
        "import time; t=time.perf_counter(); import dwc_pipelines.definitions as d; t1=time.perf_counter(); "
        "r=d.defs.get_repository_def(); r.load_all_definitions(); n=len(list(r.asset_graph.asset_nodes)); "
        "print(t1-t, time.perf_counter()-t, n)"
    )
    rows = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "DWC_HOME": tempfile.mkdtemp()},
        )
        imp, total, n = out.stdout.split()
        rows.append((float(imp), float(total), int(n)))
    return {
        "location_load_s": statistics.median(r[1] for r in rows),
        "import_s": statistics.median(r[0] for r in rows),
        "assets": rows[0][2],
    }


def step_overhead(repeats: int) -> dict:
    import dagster as dg

    def chain(n: int) -> list:
        out, prev = [], None
        for i in range(n):
            deps = [prev] if prev is not None else []

            @dg.asset(name=f"empty_{i}", deps=deps)
            def _empty() -> None:
                return None

            out.append(_empty)
            prev = _empty
        return out

    times = {}
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        for n in (1, 21):
            assets = chain(n)
            runs = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                assert dg.materialize(assets, instance=instance).success
                runs.append(time.perf_counter() - t0)
            times[("in_process", n)] = statistics.median(runs)
        for n in (1, 21):
            runs = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                # By module name: a job found by file path would put bench/ on sys.path, where this
                # file would shadow the standard library's `platform` in the step processes.
                job = dg.build_reconstructable_job("bench.platform", f"_multiprocess_job_{n}")
                result = dg.execute_job(job, instance=instance)
                assert result.success
                runs.append(time.perf_counter() - t0)
            times[("multiprocess", n)] = statistics.median(runs)
    return {
        "step_overhead_ms_in_process": (times[("in_process", 21)] - times[("in_process", 1)]) / 20 * 1000,
        "step_overhead_ms_multiprocess": (times[("multiprocess", 21)] - times[("multiprocess", 1)]) / 20 * 1000,
        "run_1_step_s_in_process": times[("in_process", 1)],
        "run_1_step_s_multiprocess": times[("multiprocess", 1)],
    }


def _empty_job(n: int):
    import dagster as dg

    @dg.op(name="empty_0")
    def first():
        return 0

    ops = [first]
    for i in range(1, n):

        @dg.op(name=f"empty_{i}")
        def _step(x):
            return x

        ops.append(_step)

    @dg.job(name=f"empty_{n}", executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2}))
    def _job():
        x = ops[0]()
        for op in ops[1:]:
            x = op(x)

    return _job


def _multiprocess_job_1():
    return _empty_job(1)


def _multiprocess_job_21():
    return _empty_job(21)


def launch_latency(kind: str, launches: int) -> float:
    """Median seconds from run creation to run start, runs launched through GraphQL."""
    import dagster as dg
    from dagster_graphql import DagsterGraphQLClient

    from tests.test_deployment import Processes, free_port

    tmp = Path(tempfile.mkdtemp())
    home = tmp / "home"
    home.mkdir()
    coordinator = "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    db = None
    if kind == "postgres":
        import psycopg2

        db = f"dwc_bench_{uuid.uuid4().hex[:10]}"
        admin = psycopg2.connect(dbname="postgres", **PG)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{db}"')
        import yaml

        config = yaml.safe_load((ROOT / "deploy" / "dagster.postgres.yaml").read_text())
        config.update(yaml.safe_load(coordinator))
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        env.update(
            {
                "DAGSTER_PG_HOST": PG["host"],
                "DAGSTER_PG_PORT": str(PG["port"]),
                "DAGSTER_PG_USER": PG["user"],
                "DAGSTER_PG_PASSWORD": "trust",
                "DAGSTER_PG_DB": db,
            }
        )
    else:
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + coordinator)
    (tmp / "workspace.yaml").write_text(
        f"load_from:\n  - python_file: {{relative_path: {ROOT / 'tests' / 'locations' / 'heartbeat.py'}, "
        "location_name: heartbeat}\n"
    )
    port = free_port()
    procs = Processes(tmp / "logs")
    old = dict(os.environ)
    os.environ.update(env)
    try:
        procs.start(
            "webserver",
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", str(tmp / "workspace.yaml")],
            env,
        )
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        deadline = time.time() + 120
        while True:
            try:
                client.get_run_status("00000000-0000-0000-0000-000000000000")
            except Exception as exc:
                if "RunNotFound" in type(exc).__name__ or "not found" in str(exc).lower() or time.time() > deadline:
                    break
                time.sleep(1)
        run_ids = []
        for _ in range(launches + 1):  # the first launch warms the webserver's location
            run_id = client.submit_job_execution(
                "heartbeat_job", repository_location_name="heartbeat", repository_name="__repository__"
            )
            while client.get_run_status(run_id).value not in ("SUCCESS", "FAILURE", "CANCELED"):
                time.sleep(0.2)
            run_ids.append(run_id)
        instance = dg.DagsterInstance.from_config(str(home))
        latencies = []
        for rec in instance.get_run_records(dg.RunsFilter(run_ids=run_ids[1:])):
            assert rec.dagster_run.status == dg.DagsterRunStatus.SUCCESS
            latencies.append(rec.start_time - rec.create_timestamp.timestamp())
        instance.dispose()
        return statistics.median(latencies)
    finally:
        procs.stop()
        os.environ.clear()
        os.environ.update(old)
        if db:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            admin.close()
        shutil.rmtree(tmp, ignore_errors=True)


def demo(after_s: float) -> dict:
    """`dwc demo` on a fresh home; seconds per domain from the step records of its runs; then
    `dagster dev` on the demo's instance, as a user opens it (see `after_demo`)."""
    import dagster as dg

    tmp = Path(tempfile.mkdtemp())
    env = {
        **os.environ,
        "DWC_HOME": str(tmp / "dwc"),
        "DAGSTER_HOME": str(ROOT),
        "DWC_DAGSTER_DIR": str(tmp / "dagster"),
        "DWC_DAGSTER_LOGS": str(tmp / "dagster" / "logs"),
    }
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "dwc_pipelines.cli", "demo", "--samples", "samples/landing"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
    old = dict(os.environ)
    os.environ.update(env)
    try:
        from dwc_pipelines.definitions import defs

        group_of = {}  # op name (the step key) -> the group of its assets
        for ad in defs.get_repository_def().assets_defs_by_key.values():
            if ad.is_executable and ad.group_names_by_key:
                group_of[ad.node_def.name] = next(iter(ad.group_names_by_key.values()))
        instance = dg.DagsterInstance.from_config(str(ROOT))
        per_domain: dict[str, float] = {}
        per_step: dict[str, float] = {}
        for rec in instance.get_run_records():
            for st in instance.get_run_step_stats(rec.dagster_run.run_id):
                if st.start_time and st.end_time:
                    group = group_of.get(st.step_key, _domain_of_step(st.step_key))
                    per_domain[group] = per_domain.get(group, 0.0) + st.end_time - st.start_time
                    per_step[st.step_key] = per_step.get(st.step_key, 0.0) + st.end_time - st.start_time
        instance.dispose()
        opened = after_demo(env, tmp, after_s)
    finally:
        os.environ.clear()
        os.environ.update(old)
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "demo_wall_s": wall,
        "per_domain_s": dict(sorted(per_domain.items(), key=lambda kv: -kv[1])),
        "slowest_steps_s": dict(sorted(per_step.items(), key=lambda kv: -kv[1])[:12]),
        **opened,
    }


def after_demo(env: dict, tmp: Path, after_s: float) -> dict:
    """`dagster dev` on the instance the demo wrote, as `make ui` opens it. Counts the runs the daemon
    launches in its first `after_s` seconds (sensors and automation catching up), launches
    `ingest_job` through GraphQL as a user would (nothing new in the landing zone) and times it from
    the run's creation to its end, then counts the runs that follow it in `after_s` seconds."""
    import dagster as dg
    from dagster_graphql import DagsterGraphQLClient

    from tests.test_deployment import Processes, free_port, wait_for, webserver_up

    port = free_port()
    procs = Processes(tmp / "dev-logs")
    instance = dg.DagsterInstance.from_config(str(ROOT))
    demo_runs = {r.run_id for r in instance.get_runs()}
    try:
        started = time.time()
        procs.start("dev", [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)], env)
        wait_for(lambda: webserver_up(port), 300, "dagster dev's webserver", procs)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)

        def location_loaded() -> bool:
            query = "{workspaceOrError{... on Workspace{locationEntries{loadStatus}}}}"
            try:
                url = f"http://127.0.0.1:{port}/graphql?query={urllib.parse.quote(query)}"
                return "LOADED" in urllib.request.urlopen(url, timeout=10).read().decode()
            except OSError:
                return False

        wait_for(location_loaded, 300, "the code location", procs, step=2)
        time.sleep(max(0.0, started + after_s - time.time()))
        catchup = [r for r in instance.get_runs() if r.run_id not in demo_runs]
        run_id = client.submit_job_execution(
            "ingest_job", repository_location_name="dwc", repository_name="__repository__"
        )
        wait_for(
            lambda: client.get_run_status(run_id).value in ("SUCCESS", "FAILURE", "CANCELED"),
            600,
            "the ingest run",
            procs,
            step=0.5,
        )
        record = instance.get_run_record_by_id(run_id)
        noop_s = record.end_time - record.create_timestamp.timestamp()
        status = record.dagster_run.status.value
        time.sleep(after_s)
        known = demo_runs | {r.run_id for r in catchup} | {run_id}
        cascade = [r for r in instance.get_runs() if r.run_id not in known]
        return {
            "catchup_runs_after_demo": len(catchup),
            "catchup_jobs": sorted(r.job_name for r in catchup),
            "noop_ingest_run_s": noop_s,
            "noop_ingest_status": status,
            "cascade_runs_after_noop": len(cascade),
            "cascade_jobs": sorted(r.job_name for r in cascade),
        }
    finally:
        procs.stop()
        instance.dispose()


def _domain_of_step(step_key: str) -> str:
    head = step_key.split("__")[0]
    return {"docs": "ingestion", "ai": "enrichment", "gov": "governance", "chain": "anchoring"}.get(
        head, head or "other"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--launches", type=int, default=5)
    ap.add_argument(
        "--after", type=float, default=120, help="seconds of dagster dev watched after the demo and the no-op run"
    )
    ap.add_argument(
        "--ci-wall-s", type=float, help="the wall time of the last `.ci/run` on a fresh clone (measured apart)"
    )
    ap.add_argument("--ci-commit", help="the commit that `.ci/run` measured (it may precede this run's)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    load = location_load(args.repeats)
    print(f"location load {load['location_load_s']:.2f} s", flush=True)
    steps = step_overhead(args.repeats)
    print(
        f"step overhead {steps['step_overhead_ms_in_process']:.0f} ms in process, "
        f"{steps['step_overhead_ms_multiprocess']:.0f} ms multiprocess",
        flush=True,
    )
    sqlite = launch_latency("sqlite", args.launches)
    postgres = launch_latency("postgres", args.launches)
    print(f"launch latency sqlite {sqlite:.2f} s, postgres {postgres:.2f} s", flush=True)
    d = demo(args.after)
    print(
        f"demo {d['demo_wall_s']:.1f} s; after it: {d['catchup_runs_after_demo']} catch-up runs, no-op ingest "
        f"{d['noop_ingest_run_s']:.1f} s ({d['noop_ingest_status']}), {d['cascade_runs_after_noop']} runs after it",
        flush=True,
    )
    result = {
        "demo_wall_s": round(d["demo_wall_s"], 1),
        "location_load_s": round(load["location_load_s"], 2),
        "location_import_s": round(load["import_s"], 2),
        "cold_import_s": round(load["import_s"], 2),
        "noop_ingest_run_s": round(d["noop_ingest_run_s"], 1),
        "catchup_runs_after_demo": d["catchup_runs_after_demo"],
        "catchup_jobs": d["catchup_jobs"],
        "cascade_runs_after_noop": d["cascade_runs_after_noop"],
        "cascade_jobs": d["cascade_jobs"],
        "watched_s": args.after,
        **({"ci_wall_s": args.ci_wall_s, "ci_commit": args.ci_commit} if args.ci_wall_s else {}),
        "assets": load["assets"],
        "run_launch_latency_s_sqlite": round(sqlite, 2),
        "run_launch_latency_s_postgres": round(postgres, 2),
        "step_overhead_ms_in_process": round(steps["step_overhead_ms_in_process"], 1),
        "step_overhead_ms_multiprocess": round(steps["step_overhead_ms_multiprocess"], 1),
        "demo_step_s_per_domain": {k: round(v, 1) for k, v in d["per_domain_s"].items()},
        "demo_slowest_steps_s": {k: round(v, 1) for k, v in d["slowest_steps_s"].items()},
        **run_context("platform", args.repeats),
    }
    lines = [
        "| measure | value |",
        "|---|---:|",
        f"| code location load (fresh process, {load['assets']} assets) | {load['location_load_s']:.2f} s "
        f"(of which imports {load['import_s']:.2f} s) |",
        f"| empty asset, per step, in process | {steps['step_overhead_ms_in_process']:.0f} ms |",
        f"| empty op, per step, multiprocess executor | {steps['step_overhead_ms_multiprocess']:.0f} ms |",
        f"| run launch to start, SQLite instance | {sqlite:.2f} s |",
        f"| run launch to start, PostgreSQL instance | {postgres:.2f} s |",
        f"| `dwc demo`, wall | {d['demo_wall_s']:.1f} s |",
        f"| runs `dagster dev` launches in its first {args.after:.0f} s after the demo | {d['catchup_runs_after_demo']} |",
        f"| `ingest_job` finding nothing new, launched through GraphQL, creation to end | "
        f"{d['noop_ingest_run_s']:.1f} s |",
        f"| runs launched in the {args.after:.0f} s after that no-op run | {d['cascade_runs_after_noop']} |",
        f"| cold import of the code location (fresh process, OS cache warm) | {load['import_s']:.2f} s |",
        "",
        "Step time of the demo per domain (asset group; all its runs, summed over steps):",
        "",
        "| domain | step seconds |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in d["per_domain_s"].items()]
    write_results(
        "platform", result, f"Medians of {args.repeats} loads and of {args.launches} launches per instance.", lines
    )


if __name__ == "__main__":
    main()
