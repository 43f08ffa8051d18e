"""Assets that follow documents on their own are set off by a change of content, not by a run that
found nothing new (an unchanged data version)."""

import os
import time

import dagster as dg

from dwc_pipelines import enrichment, ingestion


def requested(result) -> set[str]:
    return {r.key.to_user_string() for r in result.results if r.true_subset.size}


def test_a_run_that_finds_nothing_new_sets_off_nothing(env, instance):
    env.write("notes/a.md", "# Alpha\n\nThe quarterly report covers revenue and hiring in detail.\n")
    env.write("notes/b.md", "# Beta\n\nA memo about the office move and the new badge system.\n")
    defs = dg.Definitions.merge(ingestion.defs, enrichment.defs, dg.Definitions(resources=env.resources()))
    ingest = defs.resolve_job_def("ingest_job")
    start = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # the first evaluation starts the clock
    assert ingest.execute_in_process(instance=instance).success
    # Everything downstream catches up once (the evaluation that follows the first ingestion).
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    assert "ai/document_enrichment" in requested(first), requested(first)
    assert dg.materialize(list(enrichment.defs.assets), resources=env.resources(), instance=instance).success
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)

    # A run that finds nothing new: documents materialize with the same data version.
    assert ingest.execute_in_process(instance=instance).success
    noop = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert noop.total_requested == 0, requested(noop)

    # A changed document does set them off.
    path = env.write("notes/a.md", "# Alpha\n\nThe quarterly report now also covers the new product line.\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert ingest.execute_in_process(instance=instance).success
    changed = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=noop.cursor)
    assert "ai/document_enrichment" in requested(changed), requested(changed)
