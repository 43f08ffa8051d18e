"""Operations marts from a real Dagster instance: run history, audit trail, document statistics."""

import dagster as dg

from dwc_pipelines import ingestion, ops
from dwc_pipelines.ops.marts import launched_by

from .test_ingestion import PROSE


def test_launched_by_reads_the_run_tags():
    assert launched_by({"dagster/sensor_name": "landing_zone_sensor"}) == "sensor:landing_zone_sensor"
    assert launched_by({"dagster/schedule_name": "s", "dagster/sensor_name": "x"}) == "schedule:s"
    assert (
        launched_by({"dagster/from_automation_condition": "true", "dagster/sensor_name": "dwc_automation"})
        == "automation"
    )
    assert launched_by({"dagster/user": "ann@example.com"}) == "user:ann@example.com"
    assert launched_by({}) == "manual"


def test_marts_record_runs_actors_and_code_versions(env, instance):
    defs = dg.Definitions.merge(ingestion.defs, ops.defs, dg.Definitions(resources=env.resources()))
    env.write("a.txt", "The committee approved the budget. " + PROSE)
    ingest = defs.resolve_job_def("ingest_job")
    assert ingest.execute_in_process(instance=instance).success
    env.write("b.txt", "The harbour reopened after the storm. " + PROSE)
    assert ingest.execute_in_process(instance=instance, tags={"dagster/sensor_name": "landing_zone_sensor"}).success
    marts = defs.resolve_job_def("ops_marts_job")
    result = marts.execute_in_process(instance=instance)
    assert result.success

    runs = env.query(
        "SELECT job_name, status, launched_by FROM ops.runs WHERE job_name = 'ingest_job' ORDER BY created_at"
    )
    assert runs == [("ingest_job", "SUCCESS", "manual"), ("ingest_job", "SUCCESS", "sensor:landing_zone_sensor")]
    stats = env.query("SELECT runs, succeeded, failed FROM ops.run_stats WHERE job_name = 'ingest_job'")
    assert stats == [(2, 2, 0)]
    trail = env.query("""SELECT launched_by, code_version IS NOT NULL FROM ops.audit_trail
                         WHERE asset_key = 'docs/documents' ORDER BY storage_id""")
    assert trail == [("manual", True), ("sensor:landing_zone_sensor", True)]
    daily = env.query("SELECT sum(new_documents) FROM ops.document_stats_daily")
    assert daily == [(2,)]
    meta = {
        ev.asset_key.to_user_string(): ev.step_materialization_data.materialization.metadata
        for ev in result.all_events
        if ev.is_step_materialization
    }
    assert meta["ops/run_history"]["runs_per_day"].value.startswith("![Runs per day](data:image/png;base64,")
    assert meta["ops/run_history"]["failure_rate"].value == 0.0

    before = env.query("SELECT count(*) FROM ops.audit_trail")[0][0]
    again = marts.execute_in_process(instance=instance)
    added = {
        ev.asset_key.to_user_string(): ev.step_materialization_data.materialization.metadata
        for ev in again.all_events
        if ev.is_step_materialization
    }["ops/audit_trail"]["added"].value
    assert added == 4, "only what happened since: the four marts of the previous refresh"
    assert env.query("SELECT count(*) FROM ops.audit_trail")[0][0] == before + 4
