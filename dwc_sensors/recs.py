import dagster as dg

from dwc_pipelines.recs.assets import INTERACTIONS
from dwc_pipelines.recs.store import event_files, events_digest
from dwc_pipelines.shared import recorded
from dwc_resources.landing import DropFolderResource


@dg.sensor(
    name="recs_events_sensor",
    job_name="recs_incremental_job",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New or changed event files refresh the recommendations of the users they concern (no retraining).",
)
def recs_events_sensor(context: dg.SensorEvaluationContext, events_folder: DropFolderResource):
    try:
        files = event_files(events_folder.path)
    except OSError as exc:
        return dg.SkipReason(f"cannot scan the events folder: {exc}")
    digest = events_digest(files)
    if not files or digest == context.cursor:
        return dg.SkipReason(f"no change in the events folder ({len(files)} files)")
    if context.cursor is None and digest == recorded(context.instance, INTERACTIONS, "events_digest"):
        # First look (a new instance, or after `make demo`): the last load read these very files.
        return dg.SensorResult(skip_reason=f"the {len(files)} event files are loaded already", cursor=digest)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"events-{digest[:32]}", tags={"dwc/events": str(len(files))})],
        cursor=digest,
    )
