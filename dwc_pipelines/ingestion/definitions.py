"""The ingestion domain's Dagster definitions (loaded on first use of `ingestion.defs`)."""

import dagster as dg

from .assets import chunks, landing_documents, near_duplicates
from .checks import accepted_documents_have_text, documents_unique_versions, quarantine_reasons_present

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingestion"),
    description="Ingest the landing zone and derive chunks and near-duplicates.",
    tags={"dwc/landing": "ingest"},
)

defs = dg.Definitions(
    assets=[landing_documents, chunks, near_duplicates],
    asset_checks=[documents_unique_versions, accepted_documents_have_text, quarantine_reasons_present],
    jobs=[ingest_job],
)
