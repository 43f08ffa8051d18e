"""Sensors and schedules shared across domains."""

import dagster as dg

from .landing import landing_zone_sensor
from .notify import notify_on_run_failure

defs = dg.Definitions(sensors=[landing_zone_sensor, notify_on_run_failure])
