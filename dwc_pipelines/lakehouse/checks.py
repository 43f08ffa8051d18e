from datetime import UTC, datetime

import dagster as dg

from dwc_resources import LakehouseResource
from dwc_resources.lakehouse import LAKE, lake_stats

from .assets import LAKE_MAINTENANCE

# After compaction a table needs few files; many more means maintenance is not keeping up.
MAX_FILES_PER_TABLE = 50


def _stats(warehouse: LakehouseResource) -> tuple[dict, int]:
    con = warehouse.connect()
    try:
        tables = con.execute(f"SELECT count(*) FROM ducklake_table_info('{LAKE}')").fetchall()[0][0]
        return lake_stats(con, LAKE), tables
    finally:
        con.close()


@dg.asset_check(asset=LAKE_MAINTENANCE, description="Data files per table stay few (small files are compacted)")
def lake_file_count(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    stats, tables = _stats(warehouse)
    per_table = stats["data_files"] / max(tables, 1)
    return dg.AssetCheckResult(
        passed=per_table <= MAX_FILES_PER_TABLE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"data_files": stats["data_files"], "tables": tables, "files_per_table": round(per_table, 2)},
    )


@dg.asset_check(asset=LAKE_MAINTENANCE, description="No snapshot is older than the retention window plus a day")
def lake_snapshot_age(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    import duckdb

    stats, _ = _stats(warehouse)
    oldest = datetime.fromisoformat(stats["oldest_snapshot"]) if stats["oldest_snapshot"] else None
    age_days = (datetime.now(UTC) - oldest).total_seconds() / 86400 if oldest else 0.0
    con = duckdb.connect()
    try:
        window_days = con.execute(
            f"SELECT extract(epoch FROM INTERVAL '{warehouse.snapshot_retention}') / 86400"
        ).fetchall()[0][0]
    finally:
        con.close()
    return dg.AssetCheckResult(
        passed=age_days <= window_days + 1,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "oldest_snapshot_age_days": round(age_days, 3),
            "snapshots": stats["snapshots"],
            "window_days": float(window_days),
        },
    )
