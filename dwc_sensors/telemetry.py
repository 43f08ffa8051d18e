"""Telemetry micro-batches landed by the MQTT consumer become runs of `telemetry_load_job`, one per
hour folder that changed: a busy hour makes one run per sensor tick, never one per file. The run
key names the folder and its file set, and the cursor (per folder: file count and newest file)
moves only after a scan that could read every folder."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from dwc_pipelines.iot.assets import HOURLY, TELEMETRY
from dwc_pipelines.iot.store import HOUR_FORMAT, folder_signature, hour_folders, partition_key
from dwc_pipelines.shared import recorded
from dwc_resources.landing import DropFolderResource


def scan(root: str) -> dict[str, str]:
    """Per hour folder: a signature of the batch files in it."""
    out = {}
    for folder in hour_folders(root):
        signature = folder_signature(folder)
        if signature:
            out[folder.name] = signature
    return out


@dg.sensor(
    name="telemetry_sensor",
    job_name="telemetry_load_job",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Loads the hour partitions whose telemetry landing folders received micro-batches.",
)
def telemetry_sensor(context: dg.SensorEvaluationContext, telemetry_folder: DropFolderResource):
    root = telemetry_folder.path
    try:
        now = scan(root)
    except OSError as exc:
        return dg.SkipReason(f"cannot scan {root}: {exc}")
    if context.cursor:
        before = json.loads(context.cursor)
    else:  # first look: the hours already loaded, as their loads recorded them
        before = {f: recorded(context.instance, TELEMETRY, "landing_signature", partition_key(f)) for f in now}
    # A folder stamped more than an hour ahead comes from a clock far off: left for an operator.
    latest = (datetime.now(UTC) + timedelta(hours=1)).strftime(HOUR_FORMAT)
    requests, skipped = [], []
    for folder, signature in sorted(now.items()):
        if before.get(folder) == signature:
            continue
        if folder > latest:
            skipped.append(folder)
            continue
        digest = hashlib.sha256(f"{folder}\0{signature}".encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"telemetry-{folder}-{digest}",
                partition_key=partition_key(folder),
                tags={"dwc/telemetry_files": signature.split(":")[0]},
            )
        )
    if skipped:
        context.log.warning(f"landing folders stamped in the future: {', '.join(skipped[:5])}")
    if not requests and context.cursor is None and now:
        return dg.SensorResult(
            skip_reason=f"the {len(now)} hour folders are loaded already", cursor=json.dumps(now, sort_keys=True)
        )
    if not requests:
        return dg.SkipReason(f"no new micro-batches in {root} ({len(now)} hour folders)")
    known = set(context.instance.get_dynamic_partitions(HOURLY.name))
    new_hours = sorted({r.partition_key for r in requests} - known)
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps(now, sort_keys=True),
        dynamic_partitions_requests=[HOURLY.build_add_request(new_hours)] if new_hours else [],
    )
