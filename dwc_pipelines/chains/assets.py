"""Chains as Dagster definitions: per chain a group of assets (`chains/<chain>/select` and one per
step), a job, and the trigger it declares (a sensor on new documents, a schedule, or automation
when its upstream assets change). A registry asset lists every spec, the invalid ones with why.
"""

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from dwc_resources import AIResource, LakehouseResource, LandingZoneResource
from dwc_resources.chain import ChainResource
from dwc_resources.notify import NotificationsResource

from ..anchoring.assets import PROOFS
from ..automation import eager
from ..enrichment.assets import DOCUMENT_ENRICHMENT
from ..enrichment.schema import DDL as AI_DDL
from ..ingestion.assets import DOCUMENTS, OWNERS
from ..ingestion.schema import DDL as DOCS_DDL
from ..ml.assets import PREDICTIONS
from ..ml.schema import DDL as ML_DDL
from ..shared import markdown_table, recorded
from ..tables import column_schema, ddl_columns
from .run import StepContext, ddl, run_select, run_step, selection_digest, selection_sql, table
from .spec import Chain, ChainSpecError, Step, load_chains

CHAINS_DIR = Path(__file__).resolve().parents[2] / "chains"
REGISTRY = dg.AssetKey(["chains", "registry"])


REGISTRY_DDL = """CREATE TABLE IF NOT EXISTS chains.registry (chain VARCHAR, file VARCHAR NOT NULL,
    status VARCHAR NOT NULL, line INTEGER, error VARCHAR, trigger_kind VARCHAR, steps INTEGER,
    version VARCHAR, loaded_at TIMESTAMP NOT NULL)"""


def _table_metadata(chain: Chain, step_name: str) -> dict:
    """The table a chain's asset writes, with its columns (the UI shows them before a run)."""
    name = table(chain, step_name)
    return {"dagster/table_name": name, "dagster/column_schema": column_schema(ddl_columns(ddl(chain))[name])}


def chains_dir() -> Path:
    return Path(os.environ.get("DWC_CHAINS_DIR") or CHAINS_DIR)


def declared_chains_dir() -> Path:
    """Where chains declared through the API are written (`POST /api/v3/ai-workflows`)."""
    from dwc_resources.lakehouse import dwc_home

    return Path(os.environ.get("DWC_DECLARED_CHAINS_DIR") or Path(dwc_home()) / "api" / "chains")


def step_key(chain: Chain, step_name: str) -> dg.AssetKey:
    return dg.AssetKey(["chains", chain.name, step_name])


def group(chain: Chain) -> str:
    return f"workflow_{chain.name}"


def job_name(chain: Chain) -> str:
    return f"workflow_{chain.name}_job"


def _select_asset(chain: Chain, by_name: dict[str, Chain], automation) -> dg.AssetsDefinition:
    deps = [DOCUMENTS, DOCUMENT_ENRICHMENT] + ([PREDICTIONS] if "predicted_topic" in chain.select else [])
    src = chain.select.get("from_chain")
    if src:
        # Lineage: the source chain's documents come back through ingestion, after its generate step.
        deps += [step_key(by_name[src], s.name) for s in by_name[src].steps if s.uses == "generate"]

    @dg.asset(
        key=step_key(chain, "select"),
        deps=deps,
        group_name=group(chain),
        kinds={"duckdb", "sql"},
        owners=chain.owners or OWNERS,
        metadata=_table_metadata(chain, "select"),
        code_version=chain.select_version,
        automation_condition=automation,
        description=f"The documents chain `{chain.name}` works on. {chain.description}".strip(),
    )
    def _select(context: dg.AssetExecutionContext, warehouse: LakehouseResource) -> dg.MaterializeResult:
        with warehouse.writer(f"{DOCS_DDL};{AI_DDL};{ML_DDL};{ddl(chain)}") as con:
            stats = run_select(con, chain, context.run.run_id)
            preview = con.execute(f"SELECT title, source_path FROM {table(chain, 'select')} LIMIT 10").fetchall()
        context.log.info(f"chain {chain.name}: {stats['selected']} documents selected")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": stats["selected"],
                "selection_digest": stats["selection_digest"],
                "spec": chain.file,
                "preview": dg.MetadataValue.md(markdown_table(["title", "source"], preview)),
            }
        )

    return _select


def _step_asset(chain: Chain, step: Step, previous: dg.AssetKey, automation) -> dg.AssetsDefinition:
    spec = chain  # inside the asset function, `chain` is the resource of that key (the EVM chains)

    @dg.asset(
        # A certificate is minted for an anchored document: after chain/proofs.
        key=step_key(chain, step.name),
        deps=[previous] + ([PROOFS] if step.uses == "certify" else []),
        group_name=group(chain),
        kinds={"duckdb", "python"},
        owners=chain.owners or OWNERS,
        metadata=_table_metadata(chain, step.name),
        code_version=step.version,
        automation_condition=automation,
        description=f"Chain `{chain.name}`, step `{step.name}` ({step.uses}, per {step.per}).",
    )
    def _step(
        context: dg.AssetExecutionContext,
        warehouse: LakehouseResource,
        ai: AIResource,
        landing: LandingZoneResource,
        notifications: NotificationsResource,
        chain: ChainResource,
    ) -> dg.MaterializeResult:
        provider = ai.provider()
        ctx = StepContext(provider, context.run.run_id, landing.path, notifications, log=context.log.info, chain=chain)
        with warehouse.writer(f"{DOCS_DDL};{AI_DDL};{ML_DDL};{ddl(spec)}") as con:
            stats = run_step(con, spec, step, ctx)
            preview = con.execute(
                f"""SELECT doc_id, status, left(CAST(output AS VARCHAR), 120), error FROM {table(spec, step.name)}
                    WHERE step_version = ? ORDER BY created_at DESC, doc_id LIMIT 8""",
                [step.version],
            ).fetchall()
            total = con.execute(f"SELECT count(*) FROM {table(spec, step.name)}").fetchall()[0][0]
        usage = {f"usage/{k}": v for k, v in provider.usage().items()} if step.uses not in ("notify", "certify") else {}
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": total,
                **stats,
                **usage,
                "provider": provider.name,
                "model": provider.model,
                "step_version": step.version,
                "preview": dg.MetadataValue.md(markdown_table(["doc_id", "status", "output", "error"], preview, 80)),
            }
        )

    return _step


def _sensor(chain: Chain) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"workflow_{chain.name}_on_new_documents",
        job_name=job_name(chain),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs chain `{chain.name}` when the documents it selects change (read from the analyst snapshot).",
    )
    def _on_new_documents(context: dg.SensorEvaluationContext, warehouse: LakehouseResource):
        sql, params = selection_sql(chain)
        try:
            with warehouse.reader() as con:
                rows = con.execute(sql, params).fetchall()
        except Exception as exc:  # no snapshot yet, or no enrichment published: nothing to select from
            return dg.SkipReason(f"cannot read the selection: {str(exc).splitlines()[0]}")
        digest = selection_digest(rows)
        # First look (a new instance, or after `make demo`): the selection the last select run recorded.
        if context.cursor is None and rows:
            if recorded(context.instance, step_key(chain, "select"), "selection_digest") == digest[:16]:
                return dg.SensorResult(
                    skip_reason=f"chain {chain.name} ran on these {len(rows)} documents", cursor=digest
                )
        if not rows or digest == context.cursor:
            return dg.SkipReason(f"no change in the {len(rows)} documents chain {chain.name} selects")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{chain.name}-{digest[:32]}", tags={"dwc/chain": chain.name})],
            cursor=digest,
        )

    return _on_new_documents


def _schedule(chain: Chain) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"workflow_{chain.name}_schedule",
        cron_schedule=chain.trigger["cron"],
        job_name=job_name(chain),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Runs chain `{chain.name}` on its cron.",
    )
    def _on_schedule(context: dg.ScheduleEvaluationContext):
        when = context.scheduled_execution_time.astimezone(UTC).strftime("%Y%m%dT%H%M")
        return dg.RunRequest(run_key=f"{chain.name}-{when}", tags={"dwc/chain": chain.name})

    return _on_schedule


def chain_definitions(chain: Chain, by_name: dict[str, Chain]) -> dg.Definitions:
    automation = eager() if chain.trigger.get("upstream") else None
    assets = [_select_asset(chain, by_name, automation)]
    previous = assets[0].key
    for step in chain.steps:
        assets.append(_step_asset(chain, step, previous, automation))
        previous = assets[-1].key
    job = dg.define_asset_job(
        job_name(chain),
        selection=dg.AssetSelection.groups(group(chain)),
        description=chain.description or f"Chain {chain.name}",
        tags={"dwc/chain": chain.name},
    )
    sensors = [_sensor(chain)] if chain.trigger.get("new_documents") else []
    schedules = [_schedule(chain)] if "cron" in chain.trigger else []
    return dg.Definitions(assets=assets, jobs=[job], sensors=sensors, schedules=schedules)


def _registry_asset(chains: list[Chain], errors: list[ChainSpecError], directory: Path) -> dg.AssetsDefinition:
    rows = [
        (
            c.name,
            Path(c.file).name,
            "valid",
            None,
            None,
            ", ".join(f"{k}={v}" for k, v in c.trigger.items()) or "manual",
            len(c.steps),
            c.steps[-1].version,
        )
        for c in chains
    ]
    rows += [(None, Path(e.file).name, "invalid", e.line, f"{e.where}: {e.message}", None, None, None) for e in errors]
    version = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
    problems = "".join(f"\n- `{e}`" for e in errors)

    @dg.asset(
        key=REGISTRY,
        group_name="chains",
        kinds={"duckdb", "yaml"},
        owners=OWNERS,
        code_version=version,
        # Refreshed whenever the specs change (their digest is the code version).
        automation_condition=dg.AutomationCondition.on_missing() | dg.AutomationCondition.code_version_changed(),
        description=f"Every chain spec in `{directory}`, valid or not."
        + (f"\n\nInvalid specs:{problems}" if errors else ""),
    )
    def chain_registry(warehouse: LakehouseResource) -> dg.MaterializeResult:
        """Every chain spec, valid or not, with the reason an invalid one was not loaded."""
        now = datetime.now(UTC).replace(tzinfo=None)
        with warehouse.writer(REGISTRY_DDL) as con:
            con.execute("DELETE FROM chains.registry")
            if rows:
                con.executemany(
                    "INSERT INTO chains.registry VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(*r, now) for r in rows]
                )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(rows),
                "valid": len(chains),
                "invalid": len(errors),
                "specs": dg.MetadataValue.md(
                    markdown_table(["chain", "file", "status", "line", "error", "trigger"], [r[:6] for r in rows], 100)
                ),
            }
        )

    return chain_registry


def build_defs(directory: Path | None = None) -> dg.Definitions:
    directory = directory or chains_dir()
    chains, errors = load_chains(directory, declared_chains_dir())
    for e in errors:
        # Reported, not fatal: the other chains load, and the registry asset shows this one.
        dg.get_dagster_logger().error(f"chain spec not loaded: {e}")
    by_name = {c.name: c for c in chains}
    return dg.Definitions.merge(
        dg.Definitions(assets=[_registry_asset(chains, errors, directory)]),
        *(chain_definitions(c, by_name) for c in chains),
    )
