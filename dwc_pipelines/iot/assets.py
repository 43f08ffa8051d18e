"""IoT telemetry as assets: hourly partitions of landed micro-batches, the device registry, hourly
rollups, anomalies from two detectors, and the commands those anomalies send back to devices."""

import hashlib
from collections import Counter
from datetime import timedelta

import dagster as dg
from pydantic import Field

from dwc_resources import LakehouseResource
from dwc_resources.broker import BrokerResource
from dwc_resources.landing import DropFolderResource
from dwc_resources.notify import Message, NotificationsResource

from ..automation import eager
from ..ingestion.assets import OWNERS
from ..plots import png_chart, series_by
from ..shared import markdown_table
from . import detectors as det
from .schema import DDL
from .store import (
    detect_anomalies,
    folder_of,
    folder_signature,
    load_folder,
    publish_commands,
    read_registry,
    refresh_devices,
    refresh_rollups,
)

TELEMETRY = dg.AssetKey(["iot", "telemetry"])
QUARANTINE = dg.AssetKey(["iot", "telemetry_quarantine"])
DEVICES = dg.AssetKey(["iot", "devices"])
ROLLUPS = dg.AssetKey(["iot", "rollups_hourly"])
ANOMALIES = dg.AssetKey(["iot", "anomalies"])
COMMANDS = dg.AssetKey(["iot", "commands"])
# The hours micro-batches landed in (`2026-11-22-08:00`), added as they appear (by the telemetry
# sensor, or the demo), so the partition bar starts where the data starts and has no empty hours.
HOURLY = dg.DynamicPartitionsDefinition(name="iot_landed_hours")
TAGS = {"domain": "telemetry"}


class TelemetryConfig(dg.Config):
    require_registration: bool = Field(
        default=True, description="Quarantine telemetry of devices that never registered"
    )
    max_payload_bytes: int = Field(default=8192)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            TELEMETRY,
            description="Device readings, one row per (device, seq, metric), exactly once.",
            kinds={"duckdb"},
            owners=OWNERS,
            tags=TAGS,
        ),
        dg.AssetSpec(
            QUARANTINE,
            description="Payloads that failed validation, with the reason.",
            kinds={"duckdb"},
            owners=OWNERS,
            tags=TAGS,
        ),
    ],
    group_name="iot",
    partitions_def=HOURLY,
)
def telemetry(
    context: dg.AssetExecutionContext,
    config: TelemetryConfig,
    warehouse: LakehouseResource,
    telemetry_folder: DropFolderResource,
):
    """Load one hour's landed micro-batches; duplicates by (device, seq) are dropped, bad payloads quarantined."""
    from pathlib import Path

    root = telemetry_folder.path
    folder = Path(root) / folder_of(context.partition_key)
    registry = read_registry(root)
    with warehouse.writer(DDL) as con:
        if folder.is_dir():
            stats = load_folder(
                con,
                folder,
                context.run.run_id,
                registry,
                config.require_registration,
                config.max_payload_bytes,
                log=context.log.info,
            )
        else:
            context.log.info(f"no landing folder {folder}: nothing landed in this hour")
            from .store import LoadStats

            stats = LoadStats()
        hour = folder.name
        part = con.execute(
            """SELECT count(*), count(DISTINCT (device_id, seq)), count(DISTINCT device_id)
                              FROM iot.telemetry WHERE strftime(landed_hour, '%Y-%m-%d-%H') = ?""",
            [hour],
        ).fetchall()[0]
        by_metric = con.execute(
            """SELECT metric, count(*), round(min(value), 2), round(avg(value), 2), round(max(value), 2)
                                   FROM iot.telemetry WHERE strftime(landed_hour, '%Y-%m-%d-%H') = ?
                                   GROUP BY 1 ORDER BY 1""",
            [hour],
        ).fetchall()
        reasons = con.execute(
            """SELECT reason, count(*) FROM iot.telemetry_quarantine
                                 WHERE strftime(landed_hour, '%Y-%m-%d-%H') = ? GROUP BY 1 ORDER BY 2 DESC""",
            [hour],
        ).fetchall()
        examples = con.execute(
            """SELECT device_id, reason, detail FROM iot.telemetry_quarantine
                                  WHERE strftime(landed_hour, '%Y-%m-%d-%H') = ? ORDER BY batch_file, line LIMIT 10""",
            [hour],
        ).fetchall()
    yield dg.MaterializeResult(
        asset_key=TELEMETRY,
        metadata={
            "dagster/row_count": part[0],
            "messages": part[1],
            "devices": part[2],
            "files_loaded": stats.files,
            "new_messages": stats.messages,
            "duplicates_dropped": stats.duplicates,
            "device_metas": stats.metas,
            "landing_folder": str(folder),
            # What the telemetry sensor compares on its first look (a new instance, or after the demo).
            "landing_signature": folder_signature(folder) if folder.is_dir() else "",
            "metrics": dg.MetadataValue.md(markdown_table(["metric", "rows", "min", "mean", "max"], by_metric)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE,
        metadata={
            "dagster/row_count": sum(n for _, n in reasons),
            "new_rows": stats.quarantined,
            "by_reason": dg.MetadataValue.md(markdown_table(["reason", "payloads"], reasons)),
            "examples": dg.MetadataValue.md(markdown_table(["device", "reason", "detail"], examples)),
        },
    )


class DevicesConfig(dg.Config):
    online_seconds: float = Field(default=300, description="Seen within this: online")
    offline_seconds: float = Field(default=3600, description="Not seen for longer: offline (in between: stale)")


@dg.asset(
    key=DEVICES,
    deps=[TELEMETRY, QUARANTINE],
    group_name="iot",
    kinds={"duckdb"},
    owners=OWNERS,
    tags=TAGS,
    automation_condition=eager(),
)
def devices(
    context: dg.AssetExecutionContext,
    config: DevicesConfig,
    warehouse: LakehouseResource,
    telemetry_folder: DropFolderResource,
) -> dg.MaterializeResult:
    """The device registry: type, location, firmware (and its history), last seen, status; unknown devices flagged."""
    registry = read_registry(telemetry_folder.path)
    with warehouse.writer(DDL) as con:
        rows = refresh_devices(con, registry, config.online_seconds, config.offline_seconds)
    status = Counter(r[13] for r in rows)
    firmware = Counter((r[1] or "?", r[5] or "?") for r in rows if r[7])
    unknown = [r[0] for r in rows if r[13] == "unregistered"]
    if unknown:
        context.log.warning(f"{len(unknown)} unregistered devices sent telemetry: {', '.join(unknown[:10])}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            **{f"status_{k}": v for k, v in sorted(status.items())},
            "fleet_health": dg.MetadataValue.md(
                png_chart({"devices": sorted(status.items())}, "Fleet health", "devices", kind="bar")
                if rows
                else "no devices yet"
            ),
            "firmware": dg.MetadataValue.md(
                markdown_table(["type", "firmware", "devices"], [(t, f, n) for (t, f), n in sorted(firmware.items())])
            ),
            "unregistered": dg.MetadataValue.md(", ".join(unknown) or "none"),
            "preview": dg.MetadataValue.md(
                markdown_table(
                    ["device", "type", "location", "firmware", "status", "messages", "quarantined"],
                    [(r[0], r[1], r[2], r[5], r[13], r[11], r[12]) for r in rows[:20]],
                )
            ),
        }
    )


@dg.asset(
    key=ROLLUPS,
    deps=[TELEMETRY],
    group_name="iot",
    kinds={"duckdb"},
    owners=OWNERS,
    tags=TAGS,
    automation_condition=eager(),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2)),
)
def rollups_hourly(context: dg.AssetExecutionContext, warehouse: LakehouseResource) -> dg.MaterializeResult:
    """Per device, metric and hour of measurement: count, min, max, mean and p95 (late readings included)."""
    with warehouse.writer(DDL) as con:
        groups = refresh_rollups(con)
        total = con.execute("SELECT count(*) FROM iot.rollups_hourly").fetchall()[0][0]
        fleet = con.execute("""SELECT metric, hour, avg(mean) FROM iot.rollups_hourly
                               WHERE hour >= (SELECT max(hour) FROM iot.rollups_hourly) - INTERVAL 48 HOUR
                               GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
        preview = con.execute("""SELECT device_id, metric, hour, n, round(min, 2), round(mean, 2), round(p95, 2),
                                        round(max, 2)
                                 FROM iot.rollups_hourly ORDER BY hour DESC, device_id, metric LIMIT 12""").fetchall()
    series: dict[str, list] = {}
    for metric, hour, mean in fleet:
        series.setdefault(metric, []).append((hour, mean))
    context.log.info(f"recomputed {groups} (device, metric, hour) groups")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "groups_recomputed": groups,
            "fleet_means": dg.MetadataValue.md(
                png_chart(dict(list(series.items())[:4]), "Fleet mean per hour (48 h)", "mean")
                if series
                else "no telemetry yet"
            ),
            "preview": dg.MetadataValue.md(
                markdown_table(["device", "metric", "hour", "n", "min", "mean", "p95", "max"], preview)
            ),
        }
    )


@dg.asset(
    key=ANOMALIES,
    deps=[TELEMETRY],
    group_name="iot",
    kinds={"duckdb", "scikitlearn"},
    owners=OWNERS,
    tags=TAGS,
    automation_condition=eager(),
)
def anomalies(
    context: dg.AssetExecutionContext, warehouse: LakehouseResource, notifications: NotificationsResource
) -> dg.MaterializeResult:
    """Readings flagged by a streaming statistical detector (EWMA Gaussian) and a learned one (isolation forest)."""
    with warehouse.writer(DDL) as con:
        found = detect_anomalies(con, context.run.run_id, det.DETECTORS, det.THRESHOLDS, log=context.log.info)
        total = con.execute("SELECT count(*) FROM iot.anomalies").fetchall()[0][0]
        per_device = con.execute(
            "SELECT device_id, detector, count(*) FROM iot.anomalies GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        by_detector: dict[str, int] = {}
        for _, detector, n in per_device:
            by_detector[detector] = by_detector.get(detector, 0) + n
        by = sorted(by_detector.items())
        top = con.execute("""SELECT device_id, metric FROM iot.anomalies GROUP BY 1, 2
                             ORDER BY count(*) DESC, 1, 2 LIMIT 3""").fetchall()
        plots = []
        for device, metric in top:
            points = con.execute(
                """SELECT ts, value FROM iot.telemetry WHERE device_id = ? AND metric = ?
                                    ORDER BY ts DESC LIMIT 2000""",
                [device, metric],
            ).fetchall()[::-1]
            marks = con.execute(
                """SELECT ts, value FROM iot.anomalies WHERE device_id = ? AND metric = ?
                                   AND ts >= ? ORDER BY ts""",
                [device, metric, points[0][0]],
            ).fetchall()
            plots.append(
                png_chart({metric: points}, f"{device} {metric}: anomalies marked", metric, markers={"anomaly": marks})
            )
    if found:
        ids = sorted(a[0] for a in found)
        lines = [f"- {a[1]} {a[2]}={a[5]:g} at {a[4]:%Y-%m-%d %H:%M:%S} ({a[6]}, score {a[7]:.5f})" for a in found[:50]]
        notifications.send(
            Message(
                subject=f"DWC telemetry: {len(found)} new anomalies on {len({a[1] for a in found})} devices",
                body="\n".join(lines)
                + ("\n..." if len(found) > 50 else "")
                + "\n\nSee iot.anomalies in the warehouse.\n",
                source="iot/anomalies",
                idempotency_key="iot-anomalies/" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24],
            ),
            notifications.failure_channels,
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "new_anomalies": len(found),
            "by_detector": dg.MetadataValue.md(markdown_table(["detector", "anomalies"], by)),
            "thresholds": dg.MetadataValue.json({d: det.THRESHOLDS[d] for d in det.DETECTORS}),
            "per_device_chart": dg.MetadataValue.md(
                png_chart(
                    series_by(per_device),
                    "Anomalies per device, by detector",
                    "anomalies",
                    kind="stacked",
                )
                if per_device
                else "no anomalies yet"
            ),
            "series": dg.MetadataValue.md("\n\n".join(plots) or "no anomalies yet"),
            "new": dg.MetadataValue.md(
                markdown_table(
                    ["device", "metric", "ts", "value", "detector", "score"],
                    [(a[1], a[2], a[4], a[5], a[6], round(a[7], 6)) for a in found[:15]],
                )
            ),
        }
    )


class CommandsConfig(dg.Config):
    action: str = Field(default="diagnose", description="What an anomalous device is told to do")
    cooldown_seconds: float = Field(default=3600, description="At most one command per device in this window")


@dg.asset(
    key=COMMANDS,
    deps=[ANOMALIES],
    group_name="iot",
    kinds={"duckdb", "mqtt"},
    owners=OWNERS,
    tags=TAGS,
    automation_condition=eager(),
)
def commands(
    context: dg.AssetExecutionContext, config: CommandsConfig, warehouse: LakehouseResource, broker: BrokerResource
) -> dg.MaterializeResult:
    """Commands published to dwc/devices/<id>/commands (QoS 1) for new anomalies, each attempt audited."""
    with warehouse.writer(DDL) as con:
        result = publish_commands(con, broker, context.run.run_id, config.action, config.cooldown_seconds)
        recent = con.execute("""SELECT device_id, action, status, attempts, coalesce(error, '') FROM iot.commands
                                ORDER BY coalesce(published_at, TIMESTAMP '1970-01-01') DESC, command_id LIMIT 10""").fetchall()
        total = con.execute("SELECT count(*) FROM iot.commands").fetchall()[0][0]
    if result["failed"]:
        context.log.warning(f"{result['failed']} commands not delivered (retried next run): {result['errors'][:3]}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "published": result["published"],
            "failed": result["failed"],
            "broker": f"{broker.host}:{broker.port}",
            "recent": dg.MetadataValue.md(markdown_table(["device", "action", "status", "attempts", "error"], recent)),
        }
    )
