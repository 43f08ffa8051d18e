"""Checks beside the telemetry assets: exactly once, and nothing absurd got past validation."""

import dagster as dg

from dwc_resources import LakehouseResource

from .assets import ROLLUPS, TELEMETRY


@dg.asset_check(asset=TELEMETRY, description="No (device, seq, metric) appears twice: duplicates were removed.")
def telemetry_exactly_once(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    with warehouse.reader() as con:
        dup = con.execute("""SELECT count(*) FROM (SELECT 1 FROM iot.telemetry GROUP BY device_id, seq, metric
                                                   HAVING count(*) > 1)""").fetchall()[0][0]
    return dg.AssetCheckResult(passed=dup == 0, metadata={"duplicated_keys": dup})


@dg.asset_check(
    asset=ROLLUPS, description="Every rollup is ordered (min <= mean <= p95 <= max) and counts agree with the readings."
)
def rollups_consistent(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    with warehouse.reader() as con:
        bad = con.execute("""SELECT count(*) FROM iot.rollups_hourly
                             WHERE NOT (min <= mean + 1e-9 AND mean <= max + 1e-9 AND p95 <= max + 1e-9 AND min <= p95 + 1e-9)
                             """).fetchall()[0][0]
        counts = con.execute("""SELECT (SELECT coalesce(sum(n), 0) FROM iot.rollups_hourly),
                                       (SELECT count(*) FROM iot.telemetry)""").fetchall()[0]
    return dg.AssetCheckResult(
        passed=bad == 0 and counts[0] == counts[1],
        metadata={"unordered_rows": bad, "rollup_count": counts[0], "readings": counts[1]},
    )


telemetry_checks = [telemetry_exactly_once, rollups_consistent]
