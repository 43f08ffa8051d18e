"""bench/lakehouse: the same write load on the old single DuckDB file (one writer process at a time, what
the dwc_warehouse pool of 1 enforced) and on the lake with a SQLite and a PostgreSQL catalog, with 1, 2
and 4 writer processes, in one run; analyst queries while four writers run; the ceiling of tiny commits
on the PostgreSQL catalog; an ingestion run that finds nothing new, through the real instance.

Load (dwc_pipelines/lakeload.py): --doc-rows document rows and --chunk-rows chunk rows appended in jobs
across 4 tables, then --upserts upserts per table on 4 more (a key's row replaced by its next version: one
MERGE, one transaction). Each writer process takes every W-th job; a commit that loses a race runs again (counted).
Every configuration starts from an empty store. Threads per DuckDB connection: cores / writers (at
least 1), the same for the single file and the lake. Writers import and connect first, then start
together: the time measured is the load, not Python start-up. Appends run inside duck.appending (DuckLake
settles a race between appends itself); an upsert holds its table (duck.transaction(tables=...)), so
DuckLake settles its races with commits to other tables; a commit that still loses runs again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.common import run_context, write_results
from dwc_pipelines.lakeload import APPEND_TABLES, DDL, UPSERT_TABLES, append_jobs

ROOT = Path(__file__).resolve().parents[1]
PG = "host=127.0.0.1 port=5432 user=postgres"


def pg_admin(sql: str) -> None:
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(sql)
    con.close()


class Store:
    """A fresh single file, or a fresh lake on a SQLite or PostgreSQL catalog."""

    def __init__(self, kind: str, work: Path):
        from dwc_resources.lakehouse import LakehouseResource

        self.kind, self.dbs = kind, []
        home = work / f"{kind}-{uuid.uuid4().hex[:6]}"
        self.home = home
        if kind == "single":
            home.mkdir(parents=True)
            self.path = str(home / "warehouse.duckdb")
            from dwc_resources.duck import connect

            con = connect(self.path)
            con.execute("CREATE SCHEMA IF NOT EXISTS docs")
            con.execute(DDL)
            con.close()
            self.lake = None
            return
        overrides = {}
        if kind == "postgres":
            self.dbs = [f"dwc_bench_{uuid.uuid4().hex[:8]}", f"dwc_bench_{uuid.uuid4().hex[:8]}"]
            for d in self.dbs:
                pg_admin(f'CREATE DATABASE "{d}"')
            overrides = {
                "catalog": f"postgres:dbname={self.dbs[0]} {PG}",
                "analyst_catalog": f"postgres:dbname={self.dbs[1]} {PG}",
            }
        self.lake = LakehouseResource.local(str(home), **overrides)
        with self.lake.writer(DDL):
            pass
        self.path = None

    def spec(self, writers: int, jobs, upserts: int, keys: int, threads: int) -> dict:
        base = {"jobs": jobs, "upserts": upserts, "keys": keys, "writers": writers, "threads": threads}
        return {**base, "path": self.path} if self.path else {**base, "lake": self.lake.model_dump()}

    def counts(self) -> dict:
        from dwc_resources.duck import connect

        con = connect(self.path, read_only=True) if self.path else self.lake.connect(read_only=True)
        try:
            rows = sum(con.execute(f"SELECT count(*) FROM docs.{t}").fetchall()[0][0] for t in APPEND_TABLES)
            versions = sum(
                con.execute(f"SELECT coalesce(sum(version), 0) FROM docs.{t}").fetchall()[0][0] for t in UPSERT_TABLES
            )
        finally:
            con.close()
        return {"rows": rows, "upserts_landed": versions}

    def close(self) -> None:
        for d in self.dbs:
            pg_admin(f'DROP DATABASE IF EXISTS "{d}" WITH (FORCE)')
        shutil.rmtree(self.home, ignore_errors=True)


def run_writers(store: Store, writers: int, jobs, upserts: int, keys: int) -> dict:
    threads = max(1, (os.cpu_count() or 1) // writers)
    spec = store.spec(writers, jobs, upserts, keys, threads)
    env = {**os.environ, "DWC_LAKELOAD_GO": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dwc_pipelines.lakeload", json.dumps({**spec, "writer": w})],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(writers)
    ]
    for p in procs:  # every writer imported and connected: start them together, time the load only
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"writer failed to start: {p.stderr.read()[-2000:]}")
    t0 = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"writer failed: {err[-2000:]}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "conflicts": sum(o["conflicts"] for o in outs),
        "commits": sum(o["commits"] for o in outs),
        "append_s": max(o.get("append_seconds", 0) for o in outs),
        "lock_waits": sum(o.get("lock_waits", 0) for o in outs),
    }


def analyst_queries_during_writes(store: Store, jobs, upserts: int, keys: int, n: int) -> list[float]:
    """Four writers on the lake, one process keeping the analyst lake caught up (masked), and n analyst
    queries (a new read-only session each) issued meanwhile: their latencies."""
    code = (
        "import json, sys, time\nfrom dwc_resources.lakehouse import LakehouseResource, sync_analyst\n"
        "lake = LakehouseResource(**json.loads(sys.argv[1]))\n"
        "while True:\n    con = lake.connect(writable_analyst=True)\n    sync_analyst(con)\n    con.close()\n"
        "    time.sleep(0.5)\n"
    )
    syncer = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(store.lake.model_dump())],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies: list[float] = []
    done = threading.Event()

    def load():
        try:
            run_writers(store, 4, jobs, upserts, keys)
        finally:
            done.set()

    t = threading.Thread(target=load)
    t.start()
    time.sleep(1.0)
    while len(latencies) < n:
        t0 = time.perf_counter()
        try:
            with store.lake.reader() as con:
                con.execute("SELECT count(*), count(DISTINCT doc_id) FROM docs.docs0").fetchall()
        except FileNotFoundError:
            time.sleep(0.2)
            continue
        latencies.append(time.perf_counter() - t0)
        time.sleep(0.25)
    t.join()
    syncer.kill()
    syncer.wait()
    return latencies


def catalog_commits_per_s(seconds: float, procs: int = 8) -> float:
    """procs processes each committing one-row inserts to one table of a PostgreSQL-catalog lake."""
    work = Path(tempfile.mkdtemp(prefix="dwc-bench-commits-"))
    store = Store("postgres", work)
    try:
        with store.lake.writer("CREATE TABLE IF NOT EXISTS docs.tiny (w INTEGER, i INTEGER)"):
            pass
        code = (
            "import json, sys, time\nfrom dwc_resources.lakehouse import LakehouseResource, retryable\n"
            "from dwc_resources.duck import appending\n"
            "lake = LakehouseResource(**json.loads(sys.argv[1]))\ncon = lake.connect()\n"
            "end = time.time() + float(sys.argv[2]); n = 0\n"
            "while time.time() < end:\n    try:\n        with appending(con):\n"
            "            con.execute('INSERT INTO docs.tiny VALUES (?, ?)', [int(sys.argv[3]), n]); n += 1\n"
            "    except Exception as exc:\n        if not retryable(exc): raise\n"
            "print(n)\n"
        )
        ps = [
            subprocess.Popen(
                [sys.executable, "-c", code, json.dumps(store.lake.model_dump()), str(seconds), str(w)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for w in range(procs)
        ]
        total = sum(int(p.communicate()[0].strip().splitlines()[-1]) for p in ps)
        con = store.lake.connect(read_only=True)
        rows = con.execute("SELECT count(*) FROM docs.tiny").fetchall()[0][0]
        con.close()
        assert rows == total, (rows, total)
        return total / seconds
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)


def noop_ingest_run_s(work: Path) -> float:
    """Wall time of `dagster job execute -j ingest_job` on the instance of ./dagster.yaml, over the sample
    corpus, the second time (nothing new to ingest)."""
    home = work / "noop"
    env = {
        **os.environ,
        "DWC_HOME": str(home),
        "DAGSTER_HOME": str(ROOT),
        "DWC_DAGSTER_DIR": str(home / "dagster"),
        "DWC_DAGSTER_LOGS": str(home / "dagster" / "logs"),
        "DWC_ENV": "local",
    }
    env.pop("DWC_LAKE_CATALOG", None)
    shutil.copytree(ROOT / "samples" / "landing", home / "landing")
    cmd = [
        str(Path(sys.executable).parent / "dagster"),
        "job",
        "execute",
        "-m",
        "dwc_pipelines.definitions",
        "-j",
        "ingest_job",
    ]
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if first.returncode != 0:
        raise RuntimeError(first.stderr[-3000:])
    t0 = time.perf_counter()
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if second.returncode != 0:
        raise RuntimeError(second.stderr[-3000:])
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--doc-rows", type=int, default=200_000)
    ap.add_argument("--chunk-rows", type=int, default=1_000_000)
    ap.add_argument("--doc-batch", type=int, default=10_000)
    ap.add_argument("--chunk-batch", type=int, default=50_000)
    ap.add_argument("--upserts", type=int, default=50, help="per upsert table (4 tables)")
    ap.add_argument("--keys", type=int, default=5)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--commit-seconds", type=float, default=10.0)
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of every store x writers configuration, interleaved; the median wall time counts",
    )
    args = ap.parse_args()
    jobs = append_jobs(args.doc_rows, args.chunk_rows, args.doc_batch, args.chunk_batch)
    upserts = args.upserts * len(UPSERT_TABLES)
    rows = args.doc_rows + args.chunk_rows
    work = Path(tempfile.mkdtemp(prefix="dwc-bench-lake-"))
    ctx = run_context("lakehouse", args.repeats)
    out = {**ctx}
    table = [
        "| store | writers | wall s (median) | all runs s | rows/s | commits | conflicts retried | lost commits |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    lost = 0
    configs = [(kind, writers) for kind in ("single", "sqlite", "postgres") for writers in (1, 2, 4)]
    runs: dict[tuple[str, int], list[dict]] = {c: [] for c in configs}
    try:
        # Rounds of every configuration in turn: a slow spell of the machine touches all of them alike.
        for _ in range(args.repeats):
            for kind, writers in configs:
                store = Store(kind, work)
                try:
                    r = run_writers(store, writers, jobs, upserts, args.keys)
                    c = store.counts()
                finally:
                    store.close()
                r["missing"] = (rows - c["rows"]) + (upserts - c["upserts_landed"])
                lost += abs(r["missing"])
                runs[(kind, writers)].append(r)
                print(kind, writers, f"{r['wall_s']:.2f}s", flush=True)
        for kind, writers in configs:
            rs = runs[(kind, writers)]
            wall = statistics.median(r["wall_s"] for r in rs)
            rate = rows / wall
            out[f"rows_per_s_{kind}_{writers}w"] = round(rate)
            out[f"conflicts_{kind}_{writers}w"] = sum(r["conflicts"] for r in rs)
            if kind != "single":
                out[f"append_s_{kind}_{writers}w"] = round(statistics.median(r["append_s"] for r in rs), 2)
            each = ", ".join(f"{r['wall_s']:.1f}" for r in rs)
            table.append(
                f"| {kind} | {writers} | {wall:.1f} | {each} | {rate:,.0f} | {sum(r['commits'] for r in rs)} | "
                f"{out[f'conflicts_{kind}_{writers}w']} | {sum(r['missing'] for r in rs)} |"
            )
        out["rows_per_s_single_file"] = max(out[f"rows_per_s_single_{w}w"] for w in (1, 2, 4))
        out["rows_per_s_lake_1w"] = out["rows_per_s_postgres_1w"]
        out["rows_per_s_lake_4w_pg"] = out["rows_per_s_postgres_4w"]
        out["rows_per_s_lake_4w_sqlite"] = out["rows_per_s_sqlite_4w"]
        out["speedup_4w_pg"] = round(out["rows_per_s_lake_4w_pg"] / out["rows_per_s_single_file"], 3)
        out["speedup_target"] = 0.8 * min(4, os.cpu_count() or 1)
        out["lost_commits"] = lost
        store = Store("postgres", work)
        try:
            lat = analyst_queries_during_writes(store, jobs, upserts, args.keys, args.queries)
        finally:
            store.close()
        out["analyst_query_p95_s_during_writes"] = round(statistics.quantiles(lat, n=20)[-1], 3)
        out["analyst_query_median_s_during_writes"] = round(statistics.median(lat), 3)
        out["catalog_commits_per_s"] = round(catalog_commits_per_s(args.commit_seconds), 1)
        out["noop_ingest_run_s"] = round(noop_ingest_run_s(work), 1)
        out["rows"] = rows
        out["upserts"] = upserts
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table += [
        "",
        f"speedup of 4 lake writers on PostgreSQL over the single file (its best of 1, 2, 4 writers): "
        f"{out['speedup_4w_pg']} (target {out['speedup_target']})",
        f"analyst queries during 4 writers: p95 {out['analyst_query_p95_s_during_writes']} s, median "
        f"{out['analyst_query_median_s_during_writes']} s ({args.queries} queries)",
        f"tiny commits on the PostgreSQL catalog from 8 processes: {out['catalog_commits_per_s']}/s",
        f"ingestion run that finds nothing new (dagster job execute, real instance): {out['noop_ingest_run_s']} s",
    ]
    write_results("lakehouse", out, "Same load on every store in one run; see bench/README.md.", table)


if __name__ == "__main__":
    main()
