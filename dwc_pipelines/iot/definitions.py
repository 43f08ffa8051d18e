"""The IoT domain's Dagster definitions: assets, checks and jobs."""

import dagster as dg

from .assets import (
    ANOMALIES,
    COMMANDS,
    DEVICES,
    QUARANTINE,
    ROLLUPS,
    TELEMETRY,
    anomalies,
    commands,
    devices,
    rollups_hourly,
    telemetry,
)
from .checks import telemetry_checks

telemetry_load_job = dg.define_asset_job(
    "telemetry_load_job",
    selection=dg.AssetSelection.assets(TELEMETRY, QUARANTINE),
    description="Load one hour of landed telemetry micro-batches (what the telemetry sensor requests).",
)
iot_job = dg.define_asset_job(
    "iot_job",
    selection=dg.AssetSelection.assets(DEVICES, ROLLUPS, ANOMALIES, COMMANDS),
    description="Refresh the registry, rollups, anomalies and commands from the loaded telemetry.",
)

defs = dg.Definitions(
    assets=[telemetry, devices, rollups_hourly, anomalies, commands],
    asset_checks=telemetry_checks,
    jobs=[telemetry_load_job, iot_job],
)
