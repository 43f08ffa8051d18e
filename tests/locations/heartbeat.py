"""A second code location for the deployment test: a schedule that ticks every minute, so a test
can watch the daemon fire a schedule without waiting for the project's daily and hourly ones."""

import dagster as dg


@dg.op
def heartbeat(context: dg.OpExecutionContext) -> None:
    context.log.info("heartbeat: a run of the second code location")


@dg.job
def heartbeat_job():
    heartbeat()


defs = dg.Definitions(
    jobs=[heartbeat_job],
    schedules=[
        dg.ScheduleDefinition(
            name="heartbeat_every_minute",
            job=heartbeat_job,
            cron_schedule="* * * * *",
            default_status=dg.DefaultScheduleStatus.RUNNING,
        )
    ],
)
