"""Sensors and schedules shared across domains."""

import dagster as dg

from .freshness import freshness_alerts
from .landing import landing_zone_sensor
from .ml import ml_retrain_sensor, ml_weekly_retrain
from .notify import notify_on_run_failure
from .recs import recs_events_sensor
from .telemetry import telemetry_sensor

defs = dg.Definitions(
    sensors=[
        landing_zone_sensor,
        notify_on_run_failure,
        ml_retrain_sensor,
        recs_events_sensor,
        freshness_alerts,
        telemetry_sensor,
    ],
    schedules=[ml_weekly_retrain],
)
