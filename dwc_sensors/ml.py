import json
import os

import dagster as dg

from dwc_pipelines.ml.drift import labels_grew, psi
from dwc_pipelines.ml.labels import read_label_files
from dwc_resources import LakehouseResource
from dwc_resources.landing import DropFolderResource

# Retrain when the users' labels grew by this fraction since the last retraining request, or when
# the champion's predictions drift this far (PSI) from the labels it was trained on.
LABEL_GROWTH = float(os.environ.get("DWC_RETRAIN_LABEL_GROWTH", "0.2"))
PSI_THRESHOLD = float(os.environ.get("DWC_RETRAIN_PSI", "0.25"))

ml_weekly_retrain = dg.ScheduleDefinition(
    name="ml_weekly_retrain",
    cron_schedule="0 3 * * 0",
    job_name="ml_classifier_job",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrains the document classifier every Sunday 03:00 UTC.",
)


def champion_drift(con) -> tuple[str, float] | None:
    """(champion version, PSI of its current predictions against its training labels), if known."""
    rows = con.execute("""
        SELECT t.model_version, t.label_distribution FROM ml.trainings t
        JOIN (SELECT challenger_version FROM ml.model_decisions WHERE decision = 'promoted'
              ORDER BY decided_at DESC LIMIT 1) d ON d.challenger_version = t.model_version""").fetchall()
    if not rows:
        return None
    version, distribution = rows[0]
    predicted = dict(
        con.execute(
            """
        SELECT p.label, count(*) FROM ml.document_predictions p JOIN docs.documents d
          ON d.doc_id = p.doc_id AND d.version = p.version AND d.is_current AND d.status = 'active'
        WHERE p.model_version = ? GROUP BY 1""",
            [version],
        ).fetchall()
    )
    if not predicted:
        return None
    return version, psi(json.loads(distribution), predicted)


@dg.sensor(
    name="ml_retrain_sensor",
    job_name="ml_classifier_job",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retrains the classifier when labels grow or the champion's predictions drift (PSI).",
)
def ml_retrain_sensor(
    context: dg.SensorEvaluationContext, labels_folder: DropFolderResource, warehouse: LakehouseResource
):
    state = json.loads(context.cursor) if context.cursor else {}
    rows, _ = read_label_files(labels_folder.path)
    requests, reasons = [], []
    baseline = state.get("labels")
    if baseline is None:
        state["labels"] = len(rows)  # the first look sets the baseline
    elif labels_grew(baseline, len(rows), LABEL_GROWTH):
        requests.append(dg.RunRequest(run_key=f"labels-{len(rows)}", tags={"dwc/retrain": "labels"}))
        reasons.append(f"labels grew from {baseline} to {len(rows)}")
        state["labels"] = len(rows)
    try:
        with warehouse.reader() as con:
            drift = champion_drift(con)
    except Exception as exc:  # no snapshot or no model yet
        drift = None
        context.log.info(f"no drift measured: {str(exc).splitlines()[0]}")
    if drift and drift[1] > PSI_THRESHOLD and not requests:
        # One drift retraining per champion: the next champion is measured afresh.
        requests.append(
            dg.RunRequest(run_key=f"drift-v{drift[0]}", tags={"dwc/retrain": "drift", "dwc/psi": f"{drift[1]:.3f}"})
        )
        reasons.append(f"champion v{drift[0]} drifted: PSI {drift[1]:.3f} > {PSI_THRESHOLD}")
    if not requests:
        return dg.SensorResult(
            skip_reason=f"labels {len(rows)}, drift {drift[1]:.3f}" if drift else f"labels {len(rows)}",
            cursor=json.dumps(state),
        )
    context.log.info("; ".join(reasons))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state))
