"""Operations: run history, audit trail and document statistics as marts in the `ops` schema."""

import dagster as dg

from .assets import api_audit, audit_trail, document_stats, run_history

ops_marts_job = dg.define_asset_job(
    "ops_marts_job",
    selection=dg.AssetSelection.groups("ops"),
    description="Refresh the run history, audit trail, API audit log and document statistics.",
)
ops_marts_hourly = dg.ScheduleDefinition(
    name="ops_marts_hourly",
    job=ops_marts_job,
    cron_schedule="17 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    assets=[run_history, audit_trail, document_stats, api_audit], jobs=[ops_marts_job], schedules=[ops_marts_hourly]
)
