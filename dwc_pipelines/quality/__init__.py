"""Data quality: Great Expectations suites run as Dagster asset checks beside the assets they guard."""

import dagster as dg

from .checks import quality_checks

defs = dg.Definitions(asset_checks=quality_checks())
