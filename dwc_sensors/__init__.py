"""Sensors and schedules shared across domains."""

import dagster as dg

from .landing import landing_zone_sensor

defs = dg.Definitions(sensors=[landing_zone_sensor])
