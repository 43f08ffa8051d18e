import time

import dagster as dg

from dwc_pipelines.ingestion import ocr
from dwc_pipelines.ingestion.landing import listing_fingerprint, newest_mtime_ns, pending_in, scan_landing
from dwc_resources import LakehouseResource, LandingZoneResource


def _all_ingested(warehouse: LakehouseResource, files, ocr_ready: bool) -> bool:
    try:
        with warehouse.reader() as con:
            return pending_in(con, files, ocr_ready) == 0
    except Exception as exc:  # no lake or no registry yet: everything is new
        dg.get_dagster_logger().info(f"landing zone against the lake: {str(exc).splitlines()[0]}")
        return False


@dg.sensor(
    job_name="ingest_job",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts one ingest run per settled change of the landing zone, however many files it holds.",
)
def landing_zone_sensor(
    context: dg.SensorEvaluationContext, landing: LandingZoneResource, warehouse: LakehouseResource
):
    try:
        files = scan_landing(landing.path)
    except (FileNotFoundError, PermissionError) as exc:
        # The cursor stays where it was: nothing was scanned.
        return dg.SkipReason(f"cannot scan the landing zone: {exc}")
    # Installing Tesseract changes the state as a new file would: scans that waited for it are read.
    ocr_ready = ocr.available()
    fingerprint = listing_fingerprint(files, salt="ocr" if ocr_ready else "")
    if fingerprint == context.cursor or (not files and context.cursor is None):
        return dg.SkipReason(f"no change in the landing zone ({len(files)} files)")
    if context.cursor is None and _all_ingested(warehouse, files, ocr_ready):
        # First look (a new instance, or after `make demo`): the lake already holds this listing.
        return dg.SensorResult(skip_reason=f"all {len(files)} files are ingested already", cursor=fingerprint)
    age = time.time() - newest_mtime_ns(files) / 1e9
    if landing.settle_seconds > 0 and age < landing.settle_seconds:
        return dg.SkipReason(f"a drop is still arriving (last change {age:.1f}s ago); waiting for it to settle")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"landing-{fingerprint[:32]}",
                tags={"dwc/listing": fingerprint[:16], "dwc/files": str(len(files))},
            )
        ],
        cursor=fingerprint,
    )
