"""The DWC code location: every domain's definitions merged, with shared resources and executor."""

import warnings

import dagster as dg

import dwc_sensors
from dwc_pipelines import (
    anchoring,
    chains,
    enrichment,
    governance,
    ingestion,
    iot,
    lakehouse,
    ml,
    ops,
    quality,
    quantum,
    recs,
    xr,
)
from dwc_pipelines.groups import with_group
from dwc_pipelines.ingestion.assets import DOCUMENTS
from dwc_pipelines.ops.declared_schedules import declared_schedules
from dwc_pipelines.resources import executor_for, resources_for
from dwc_pipelines.tables import table_describer

all_assets_job = dg.define_asset_job(
    "all_assets_job",
    # An erasure runs on request only (`dwc erase`), never as part of "everything"; telemetry loads
    # one hour partition per run (telemetry_load_job), its downstream assets are in here; certificates
    # are minted on request (certify_job, `dwc certify`).
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(governance.erasure_log, iot.TELEMETRY, iot.QUARANTINE, anchoring.CERTIFICATES),
    description="Materialise every asset (what `make demo` runs).",
)

# The automatic default_automation_condition_sensor starts stopped; this one runs as soon as the
# daemon does, so eager assets (enrichment, chunk indexes, chains with `upstream: true`) follow
# their upstream assets under `make ui` without a click.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "dwc_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition.",
)


def _follow_up_job(domains: dg.Definitions):
    """What new documents set off under `make ui`, as one job: ingestion, the assets downstream of
    documents that update themselves (automation conditions), and the workflow chains."""
    self_updating = [
        spec.key
        for assets in domains.assets or []
        if isinstance(assets, dg.AssetsDefinition)
        for spec in assets.specs
        if spec.automation_condition is not None
    ]
    from_documents = dg.AssetSelection.assets(DOCUMENTS).downstream()
    return dg.define_asset_job(
        "documents_followup_job",
        selection=dg.AssetSelection.groups("ingestion")
        | ((dg.AssetSelection.assets(*self_updating) | dg.AssetSelection.key_prefixes("chains")) & from_documents),
        description="Ingest the landing zone and run what new documents set off: the assets that follow "
        "documents on their own and the workflow chains. `make demo` runs it until the landing zone settles.",
        tags={"dwc/landing": "ingest"},
    )


def _map_specs(defs: dg.Definitions, func) -> dg.Definitions:
    # Definitions.map_asset_specs is marked preview for its selection argument (since removed from
    # it); without one it is dg.map_asset_specs over the assets, which is public.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_asset_specs(func=func)


def _code_location() -> dg.Definitions:
    """Every domain merged, with the shared resources and executor; every asset carries its group's
    description, and its table's name and columns where it has one."""
    domains = dg.Definitions.merge(
        ingestion.defs,
        enrichment.defs,
        chains.defs,
        ml.defs,
        quality.defs,
        ops.defs,
        recs.defs,
        quantum.defs,
        governance.defs,
        iot.defs,
        anchoring.defs,
        xr.defs,
        lakehouse.defs,
        dwc_sensors.defs,
        dg.Definitions(
            jobs=[all_assets_job],
            sensors=[automation_sensor],
            resources=resources_for(),
            executor=executor_for(),
        ),
    )
    follow_up = _follow_up_job(domains)
    declared = declared_schedules({j.name for j in domains.jobs or []} | {follow_up.name})
    describe_table = table_describer()
    return _map_specs(
        dg.Definitions.merge(domains, dg.Definitions(jobs=[follow_up], schedules=declared)),
        lambda spec: with_group(describe_table(spec)),
    )


defs = _code_location()
