"""The ingestion domain's Dagster definitions (loaded on first use of `ingestion.defs`)."""

import dagster as dg

from dwc_pipelines.resources import light_executor

from .assets import chunks, landing_documents, near_duplicates
from .checks import accepted_documents_have_text, documents_unique_versions, quarantine_reasons_present

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingestion"),
    description="Ingest the landing zone and derive chunks and near-duplicates.",
    tags={"dwc/landing": "ingest"},
    # Extraction runs in a worker pool of its own; the other steps take about a second, and a step
    # process costs three to four to start: a run that finds nothing new is then seconds, not a minute.
    executor_def=light_executor(),
)

defs = dg.Definitions(
    assets=[landing_documents, chunks, near_duplicates],
    asset_checks=[documents_unique_versions, accepted_documents_have_text, quarantine_reasons_present],
    jobs=[ingest_job],
)
