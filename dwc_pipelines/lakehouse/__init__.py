"""The lake's upkeep: small files compacted, old snapshots expired, unreferenced files deleted."""

import dagster as dg

from .assets import LAKE_MAINTENANCE, lake_maintenance
from .checks import lake_file_count, lake_snapshot_age

lake_maintenance_job = dg.define_asset_job(
    "lake_maintenance_job",
    selection=dg.AssetSelection.assets(LAKE_MAINTENANCE),
    description="Compact small files, expire snapshots past the retention window, delete unreferenced files.",
)
lake_maintenance_daily = dg.ScheduleDefinition(
    name="lake_maintenance_daily",
    job=lake_maintenance_job,
    cron_schedule="41 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    assets=[lake_maintenance],
    asset_checks=[lake_file_count, lake_snapshot_age],
    jobs=[lake_maintenance_job],
    schedules=[lake_maintenance_daily],
)
