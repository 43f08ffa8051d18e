"""Great Expectations suites as real asset checks: blocking where bad data must not flow on."""

import dagster as dg
import pandas as pd

from dwc_pipelines import enrichment, ingestion, ml, quality, recs
from dwc_pipelines.quality.suites import suites, validate

from .test_ingestion import PROSE


def test_suite_reports_the_offending_rows():
    s = suites()["documents"]
    frame = pd.DataFrame(
        {
            "doc_id": ["a", "b"],
            "version": [1, 1],
            "content_hash": ["0" * 64, None],
            "status": ["active", "active"],
            "format": ["text"] * 2,
            "language": ["en"] * 2,
            "word_count": [3, 4],
            "title": ["x", "y"],
            "is_current": [True, True],
        }
    )
    outcomes = {o.expectation + ":" + o.column: o for o in validate(frame, s.critical, s.id_columns, "t")}
    null = outcomes["expect_column_values_to_not_be_null:content_hash"]
    assert not null.success and null.unexpected_count == 1 and null.examples[0]["doc_id"] == "b"
    assert outcomes["expect_column_values_to_be_in_set:status"].success


def defs(env) -> dg.Definitions:
    return dg.Definitions.merge(
        ingestion.defs, enrichment.defs, ml.defs, recs.defs, quality.defs, dg.Definitions(resources=env.resources())
    )


def checks_of(result) -> dict:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }


def test_checks_pass_on_good_data_and_block_bad_data(env, instance):
    env.write("a.txt", "The committee approved the budget. " + PROSE)
    env.write("b.txt", "The harbour reopened after the storm. " + PROSE)
    job = defs(env).resolve_job_def("ingest_job")
    first = job.execute_in_process(instance=instance)
    assert first.success
    checks = checks_of(first)
    assert checks["gx_documents_critical"].passed and checks["gx_chunks_critical"].passed
    assert {"gx_documents_warnings", "gx_chunks_warnings"} <= set(checks)
    assert "reused_from_run" not in checks["gx_documents_critical"].metadata

    # Nothing new: the data versions are unchanged, so a suite that passed is not re-read (the result
    # says so); one that did not pass runs again, so that its failures stay in view.
    again = checks_of(job.execute_in_process(instance=instance))
    gx = [name for name in again if name.startswith("gx_")]
    assert {"gx_documents_critical", "gx_chunks_critical"} <= {n for n in gx if checks[n].passed}
    for name in gx:
        meta = {k: v.value for k, v in again[name].metadata.items()}
        if checks[name].passed:
            assert again[name].passed and meta["reused_from_run"] == first.run_id, name
            assert meta["rows_checked"] == checks[name].metadata["rows_checked"].value
        else:
            assert "reused_from_run" not in meta and not again[name].passed, name

    # Damage the warehouse behind ingestion's back: a hash that is not a sha256.
    with env.warehouse.writer() as con:
        con.execute("UPDATE docs.documents SET content_hash = 'not-a-hash' WHERE source_path = 'b.txt'")
    second = job.execute_in_process(instance=instance, raise_on_error=False)
    check = checks_of(second)["gx_documents_critical"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    meta = {k: v.value for k, v in check.metadata.items()}
    assert meta["failed_expectations"] == 1
    failing = meta["failing: expect_column_values_to_match_regex (content_hash)"]
    assert "not-a-hash" in failing and "1 rows" in failing
    materialized = {e.asset_key.to_user_string() for e in second.all_events if e.is_step_materialization}
    assert "docs/chunks" not in materialized, "a blocking check stops downstream assets"
