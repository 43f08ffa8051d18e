import dagster as dg
from pydantic import Field

from dwc_resources import LakehouseResource

from ..shared import markdown_table

LAKE_MAINTENANCE = dg.AssetKey(["ops", "lake_maintenance"])


class MaintenanceConfig(dg.Config):
    expire_older_than: str | None = Field(
        default=None, description="Expire snapshots older than this interval ('7 days'); default: the resource's window"
    )


@dg.asset(key=LAKE_MAINTENANCE, group_name="lakehouse", kinds={"duckdb", "parquet"}, owners=["team:data-platform"])
def lake_maintenance(
    context: dg.AssetExecutionContext, config: MaintenanceConfig, warehouse: LakehouseResource
) -> dg.MaterializeResult:
    """The lake and the analyst lake after compaction, snapshot expiry and file cleanup."""
    done = warehouse.maintain(config.expire_older_than, log=context.log.info)
    rows = [
        (
            db,
            d["files_merged"],
            d["snapshots_expired"],
            d["files_deleted"],
            d["data_files"],
            d["snapshots"],
            d["oldest_snapshot"],
        )
        for db, d in done.items()
    ]
    return dg.MaterializeResult(
        metadata={
            "lake_data_files": done["lake"]["data_files"],
            "lake_data_bytes": done["lake"]["data_bytes"],
            "lake_snapshots": done["lake"]["snapshots"],
            "analyst_data_files": done["analyst"]["data_files"],
            "window": config.expire_older_than or warehouse.snapshot_retention,
            "summary": dg.MetadataValue.md(
                markdown_table(
                    [
                        "lake",
                        "files merged",
                        "snapshots expired",
                        "files deleted",
                        "data files",
                        "snapshots",
                        "oldest snapshot",
                    ],
                    rows,
                )
            ),
        }
    )
