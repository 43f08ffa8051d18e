"""Operations marts in the `ops` schema: run history, an audit trail, document statistics over time."""

from datetime import timedelta

import dagster as dg

from dwc_resources import LakehouseResource

from ..ingestion.assets import DOCUMENTS, OWNERS
from ..ingestion.schema import DDL as DOCS_DDL
from ..plots import png_chart
from ..shared import markdown_table
from ..tables import materialized_schema
from .marts import DDL, DOCUMENT_STATS, refresh_audit, refresh_runs

RUN_HISTORY = dg.AssetKey(["ops", "run_history"])
AUDIT_TRAIL = dg.AssetKey(["ops", "audit_trail"])
DOCUMENT_STATS_KEY = dg.AssetKey(["ops", "document_stats"])
API_AUDIT = dg.AssetKey(["ops", "api_audit"])

API_AUDIT_DDL = """CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.api_audit (
    id BIGINT NOT NULL, "at" TIMESTAMP NOT NULL, request_id VARCHAR NOT NULL, actor VARCHAR, role VARCHAR,
    credential VARCHAR, method VARCHAR NOT NULL, route VARCHAR NOT NULL, status INTEGER NOT NULL,
    outcome VARCHAR NOT NULL, client VARCHAR, loaded_at TIMESTAMP NOT NULL
)"""


@dg.asset(key=RUN_HISTORY, group_name="ops", kinds={"duckdb", "dagster"}, owners=OWNERS)
def run_history(context: dg.AssetExecutionContext, warehouse: LakehouseResource) -> dg.MaterializeResult:
    """Every run of the instance (ops.runs) and per-job and per-chain statistics (ops.run_stats)."""
    with warehouse.writer(DDL) as con:
        n = refresh_runs(con, context.instance)
        stats = con.execute(
            "SELECT job_name, chain, runs, succeeded, failed, mean_s, p95_s FROM ops.run_stats"
        ).fetchall()
        daily = con.execute("""SELECT CAST(created_at AS DATE) AS day, count(*) FILTER (status = 'SUCCESS'),
                                      count(*) FILTER (status = 'FAILURE') FROM ops.runs GROUP BY 1 ORDER BY 1""").fetchall()
        failed = con.execute("SELECT count(*) FROM ops.runs WHERE status = 'FAILURE'").fetchall()[0][0]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "failed_runs": failed,
            "failure_rate": round(failed / n, 4) if n else 0.0,
            "by_job": dg.MetadataValue.md(
                markdown_table(["job", "chain", "runs", "ok", "failed", "mean s", "p95 s"], stats)
            ),
            "runs_per_day": dg.MetadataValue.md(
                png_chart(
                    {"succeeded": [(d, s) for d, s, _ in daily], "failed": [(d, f) for d, _, f in daily]},
                    "Runs per day",
                    "runs",
                )
            ),
        }
    )


@dg.asset(
    key=AUDIT_TRAIL,
    deps=[RUN_HISTORY],
    group_name="ops",
    kinds={"duckdb", "dagster"},
    owners=OWNERS,  # an hourly schedule refreshes it
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2)),
)
def audit_trail(context: dg.AssetExecutionContext, warehouse: LakehouseResource) -> dg.MaterializeResult:
    """Who or what (schedule, sensor, automation, person) materialised which asset, when, with which code version."""
    with warehouse.writer(DDL) as con:
        added = refresh_audit(con, context.instance)
        total = con.execute("SELECT count(*) FROM ops.audit_trail").fetchall()[0][0]
        actors = con.execute(
            "SELECT actor, runs, materializations, assets, last_seen FROM ops.activity_by_actor"
        ).fetchall()
        latest = con.execute("""SELECT materialized_at, asset_key, launched_by, code_version FROM ops.audit_trail
                                ORDER BY storage_id DESC LIMIT 10""").fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "added": added,
            "by_actor": dg.MetadataValue.md(
                markdown_table(["actor", "runs", "materializations", "assets", "last seen"], actors)
            ),
            "latest": dg.MetadataValue.md(markdown_table(["when", "asset", "by", "code version"], latest)),
        }
    )


@dg.asset(key=DOCUMENT_STATS_KEY, deps=[DOCUMENTS], group_name="ops", kinds={"duckdb"}, owners=OWNERS)
def document_stats(warehouse: LakehouseResource) -> dg.MaterializeResult:
    """Documents, versions, tombstones and words ingested per day and format (ops.document_stats_daily)."""
    with warehouse.writer(f"{DOCS_DDL};{DDL}") as con:
        con.execute(DOCUMENT_STATS)
        per_day = con.execute("""SELECT day, sum(new_documents), sum(new_versions), sum(tombstones)
                                 FROM ops.document_stats_daily GROUP BY 1 ORDER BY 1""").fetchall()
        current = con.execute("SELECT count(*) FROM docs.documents WHERE is_current AND status = 'active'").fetchall()[
            0
        ][0]
        table = materialized_schema(con, "ops.document_stats_daily")  # CREATE TABLE AS: no DDL to read
    return dg.MaterializeResult(
        metadata={
            **table,
            "current_documents": current,
            "new_documents_total": int(sum(r[1] or 0 for r in per_day)),
            "per_day": dg.MetadataValue.md(
                png_chart(
                    {
                        "new documents": [(r[0], r[1]) for r in per_day],
                        "new versions": [(r[0], r[2]) for r in per_day],
                        "tombstones": [(r[0], r[3]) for r in per_day],
                    },
                    "Documents ingested per day",
                    "documents",
                )
            ),
        }
    )


@dg.asset(key=API_AUDIT, group_name="ops", kinds={"duckdb", "sqlite"}, owners=OWNERS)
def api_audit(warehouse: LakehouseResource) -> dg.MaterializeResult:
    """The /api/v3 service's audit log (logins, writes, denied requests) appended to ops.api_audit."""
    from datetime import UTC, datetime

    from dwc_api.store import database_url, new_audit_rows

    with warehouse.writer(API_AUDIT_DDL) as con:
        last = con.execute("SELECT coalesce(max(id), 0) FROM ops.api_audit").fetchall()[0][0]
        rows = new_audit_rows(database_url(), last)
        now = datetime.now(UTC).replace(tzinfo=None)
        if rows:
            con.executemany(
                "INSERT INTO ops.api_audit VALUES (?, to_timestamp(?)::TIMESTAMP, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*r, now) for r in rows],
            )
        total = con.execute("SELECT count(*) FROM ops.api_audit").fetchall()[0][0]
        outcomes = con.execute("SELECT outcome, count(*) FROM ops.api_audit GROUP BY 1 ORDER BY 2 DESC").fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "added": len(rows),
            "by_outcome": dg.MetadataValue.md(markdown_table(["outcome", "requests"], outcomes)),
        }
    )
