"""Operational marts from the Dagster instance and the warehouse (plain Python + SQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from dwc_resources.duck import insert_arrow, transaction

DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.runs (
    run_id VARCHAR NOT NULL, job_name VARCHAR NOT NULL, chain VARCHAR, status VARCHAR NOT NULL,
    launched_by VARCHAR NOT NULL,      -- sensor:<name> | schedule:<name> | automation | backfill | user:<name> | manual
    run_key VARCHAR, created_at TIMESTAMP, started_at TIMESTAMP, ended_at TIMESTAMP, duration_s DOUBLE
);
CREATE TABLE IF NOT EXISTS ops.audit_trail (
    storage_id BIGINT NOT NULL,        -- the event's id in the instance: the mart grows from the last one seen
    asset_key VARCHAR NOT NULL, partition VARCHAR, run_id VARCHAR NOT NULL, job_name VARCHAR,
    launched_by VARCHAR, materialized_at TIMESTAMP NOT NULL, code_version VARCHAR, data_version VARCHAR
);
"""

VIEWS = """
CREATE OR REPLACE TABLE ops.run_stats AS
SELECT job_name, chain, count(*) AS runs,
       count(*) FILTER (status = 'SUCCESS') AS succeeded, count(*) FILTER (status = 'FAILURE') AS failed,
       round(avg(duration_s), 2) AS mean_s, round(quantile_cont(duration_s, 0.95), 2) AS p95_s,
       max(created_at) AS last_run_at
FROM ops.runs GROUP BY ALL ORDER BY runs DESC, job_name;
CREATE OR REPLACE TABLE ops.activity_by_actor AS
SELECT launched_by AS actor, count(DISTINCT run_id) AS runs, count(*) AS materializations,
       count(DISTINCT asset_key) AS assets, min(materialized_at) AS first_seen, max(materialized_at) AS last_seen
FROM ops.audit_trail GROUP BY 1 ORDER BY materializations DESC, actor;
"""

DOCUMENT_STATS = """
CREATE OR REPLACE TABLE ops.document_stats_daily AS
SELECT CAST(ingested_at AS DATE) AS day, format,
       count(*) FILTER (status = 'active' AND version = 1) AS new_documents,
       count(*) FILTER (status = 'active' AND version > 1) AS new_versions,
       count(*) FILTER (status = 'deleted') AS tombstones,
       sum(word_count) FILTER (status = 'active') AS words
FROM docs.documents GROUP BY ALL ORDER BY day, format
"""


def launched_by(tags: dict) -> str:
    if tags.get("dagster/from_automation_condition") or tags.get("dagster/auto_materialize"):
        return "automation"
    if tags.get("dagster/schedule_name"):
        return f"schedule:{tags['dagster/schedule_name']}"
    if tags.get("dagster/sensor_name"):
        return f"sensor:{tags['dagster/sensor_name']}"
    if tags.get("dagster/backfill"):
        return "backfill"
    if tags.get("dagster/user"):
        return f"user:{tags['dagster/user']}"
    return "manual"


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None) if value else None


def refresh_runs(con, instance, limit: int = 100_000) -> int:
    records = instance.get_run_records(limit=limit)
    rows = []
    for r in records:
        run, tags = r.dagster_run, r.dagster_run.tags
        started, ended = r.start_time, r.end_time
        rows.append(
            (
                run.run_id,
                run.job_name,
                tags.get("dwc/chain"),
                run.status.value,
                launched_by(tags),
                tags.get("dagster/run_key"),
                r.create_timestamp.replace(tzinfo=None) if r.create_timestamp else None,
                _ts(started),
                _ts(ended),
                (ended - started) if started and ended else None,
            )
        )
    with transaction(con):
        con.execute("DELETE FROM ops.runs")
        if rows:
            con.executemany("INSERT INTO ops.runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute(VIEWS)
    return len(rows)


def refresh_audit(con, instance, batch: int = 1000) -> int:
    """Append every materialization not yet in the trail: who or what caused it, and its code version."""
    seen = dict(con.execute("SELECT asset_key, max(storage_id) FROM ops.audit_trail GROUP BY 1").fetchall())
    runs = {r[0]: (r[1], r[2]) for r in con.execute("SELECT run_id, job_name, launched_by FROM ops.runs").fetchall()}
    import dagster as dg

    added = 0
    with transaction(con):
        for key in instance.get_asset_keys():
            user_key = key.to_user_string()
            after = seen.get(user_key)
            cursor = None
            while True:
                result = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, after_storage_id=after),
                    limit=batch,
                    cursor=cursor,
                    ascending=True,
                )
                cols: dict[str, list] = {
                    n: []
                    for n in (
                        "storage_id",
                        "asset_key",
                        "partition",
                        "run_id",
                        "job_name",
                        "launched_by",
                        "materialized_at",
                        "code_version",
                        "data_version",
                    )
                }
                for rec in result.records:
                    mat = rec.asset_materialization
                    tags = (mat.tags or {}) if mat else {}
                    job, actor = runs.get(rec.run_id, (None, None))
                    for name, value in (
                        ("storage_id", rec.storage_id),
                        ("asset_key", user_key),
                        ("partition", mat.partition if mat else None),
                        ("run_id", rec.run_id),
                        ("job_name", job),
                        ("launched_by", actor),
                        ("materialized_at", _ts(rec.timestamp)),
                        ("code_version", tags.get("dagster/code_version")),
                        ("data_version", tags.get("dagster/data_version")),
                    ):
                        cols[name].append(value)
                if cols["storage_id"]:
                    insert_arrow(
                        con,
                        "ops.audit_trail",
                        pa.table(
                            cols,
                            schema=pa.schema(
                                [
                                    ("storage_id", pa.int64()),
                                    ("asset_key", pa.string()),
                                    ("partition", pa.string()),
                                    ("run_id", pa.string()),
                                    ("job_name", pa.string()),
                                    ("launched_by", pa.string()),
                                    ("materialized_at", pa.timestamp("us")),
                                    ("code_version", pa.string()),
                                    ("data_version", pa.string()),
                                ]
                            ),
                        ),
                    )
                    added += len(cols["storage_id"])
                if not result.has_more:
                    break
                cursor = result.cursor
        con.execute(VIEWS)
    return added
