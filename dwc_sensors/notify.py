import os

import dagster as dg

from dwc_resources.notify import Message, NotificationsResource


def failure_message(run_id: str, job_name: str, error: str | None, ui_url: str) -> Message:
    return Message(
        subject=f"DWC run failed: {job_name}",
        body=(
            f"Run {run_id} of job {job_name} failed.\n\n{(error or 'no error message').strip()[:2000]}\n\n"
            f"Logs: {ui_url.rstrip('/')}/runs/{run_id}\n"
        ),
        # One alert per failed run, however often the sensor looks at it.
        idempotency_key=f"run-failure/{run_id}",
        source="run_failure_sensor",
    )


@dg.run_failure_sensor(
    name="notify_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="Sends every failed run of this code location to the configured failure channels.",
)
def notify_on_run_failure(context: dg.RunFailureSensorContext, notifications: NotificationsResource):
    run = context.dagster_run
    error = context.failure_event.message if context.failure_event else None
    message = failure_message(run.run_id, run.job_name, error, os.environ.get("DWC_UI_URL", "http://127.0.0.1:3000"))
    deliveries = notifications.send(message, notifications.failure_channels)
    context.log.info(", ".join(f"{d.channel}: {d.status}" for d in deliveries))
