"""Governance: personal-data findings and masking, encryption at rest, retention and erasure."""

import dagster as dg

from .assets import blob_encryption, erasure_log, pii_findings, retention_log

retention_job = dg.define_asset_job(
    "retention_job",
    selection=[retention_log.key],
    description="Apply the retention policies: expired documents lose their text, derived rows and blobs.",
)
erasure_job = dg.define_asset_job(
    "erasure_job",
    selection=[erasure_log.key],
    description="Carry out one erasure request written by `dwc erase` (the subject never appears in run config).",
)
blob_rotation_job = dg.define_asset_job(
    "blob_rotation_job",
    selection=[blob_encryption.key],
    config={"ops": {"gov__blob_encryption": {"config": {"reseal": True}}}},
    description="Re-encrypt every blob not sealed with the active key (after adding a key to DWC_BLOB_KEYS).",
)
retention_schedule = dg.ScheduleDefinition(
    name="retention_daily",
    job=retention_job,
    cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 03:00: documents past their retention period are removed.",
)

defs = dg.Definitions(
    assets=[pii_findings, retention_log, erasure_log, blob_encryption],
    jobs=[retention_job, erasure_job, blob_rotation_job],
    schedules=[retention_schedule],
)
