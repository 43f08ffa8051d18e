"""The DWC code location: every domain's definitions merged, with shared resources and executor."""

import dagster as dg

import dwc_sensors
from dwc_pipelines import chains, enrichment, ingestion
from dwc_pipelines.resources import resources_for

all_assets_job = dg.define_asset_job(
    "all_assets_job",
    selection=dg.AssetSelection.all(),
    description="Materialise every asset (what `make demo` runs).",
)

defs = dg.Definitions.merge(
    ingestion.defs,
    enrichment.defs,
    chains.defs,
    dwc_sensors.defs,
    dg.Definitions(
        jobs=[all_assets_job],
        resources=resources_for(),
        executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    ),
)
