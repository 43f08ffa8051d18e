import hashlib
import json
from pathlib import Path

import dagster as dg

from dwc_resources import LakehouseResource

from ..enrichment.assets import DOCUMENT_ENRICHMENT
from ..ingestion.assets import CHUNKS, DOCUMENTS
from ..ml.assets import PREDICTIONS
from ..recs.assets import INTERACTIONS
from ..shared import markdown_table
from . import suites as suites_module
from .suites import suites, validate

# What a passing result holds for: the guarded asset's data version and the suites' code. A check whose
# asset was re-materialized with the same data version (a run that found nothing new) is not re-read.
SUITES_DIGEST = hashlib.sha256(Path(suites_module.__file__).read_bytes()).hexdigest()[:16]

GUARDED = {
    "documents": DOCUMENTS,
    "chunks": CHUNKS,
    "enrichment": DOCUMENT_ENRICHMENT,
    "predictions": PREDICTIONS,
    "interactions": INTERACTIONS,
}


def data_version_of(instance, key: dg.AssetKey) -> str | None:
    """The data version of the latest materialization of `key` (the one this run just wrote)."""
    from dagster._core.definitions.data_version import extract_data_version_from_entry

    record = instance.get_latest_data_version_record(key, is_source=False)
    version = extract_data_version_from_entry(record.event_log_entry) if record else None
    return version.value if version else None


def passed_on(instance, check: dg.AssetCheckKey, version: str | None) -> dict | None:
    """The latest completed evaluation of `check`, if it passed on data version `version` with these suites."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    if version is None:
        return None
    done = {Status.SUCCEEDED, Status.FAILED}
    history = instance.event_log_storage.get_asset_check_execution_history(check, limit=1, status=done)
    if not history or history[0].status != Status.SUCCEEDED or history[0].event is None:
        return None
    evaluation = history[0].event.dagster_event.event_specific_data
    meta = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
    if meta.get("data_version") != version or meta.get("suites_digest") != SUITES_DIGEST:
        return None
    return {"run_id": history[0].run_id, "rows_checked": meta.get("rows_checked", 0)}


def _result(
    name: str, level: str, outcomes, rows: int, severity: dg.AssetCheckSeverity, version: str | None
) -> dg.AssetCheckResult:
    failed = [o for o in outcomes if not o.success]
    summary = markdown_table(
        ["expectation", "column", "passed", "unexpected rows", "%"],
        [
            (o.expectation, o.column, "yes" if o.success else "NO", o.unexpected_count, f"{o.unexpected_percent:.2f}")
            for o in outcomes
        ],
    )
    metadata = {
        "rows_checked": rows,
        "expectations": len(outcomes),
        "failed_expectations": len(failed),
        "results": dg.MetadataValue.md(summary),
        "suites_digest": SUITES_DIGEST,
    }
    if version is not None:
        metadata["data_version"] = version
    for o in failed:
        examples = [(json.dumps({k: v for k, v in e.items()}, default=str),) for e in o.examples]
        metadata[f"failing: {o.expectation} ({o.column})"] = dg.MetadataValue.md(
            f"{o.unexpected_count} rows ({o.unexpected_percent:.2f}%); the first of them:\n\n"
            + markdown_table(["row (ids and offending value)"], examples, 200)
        )
    return dg.AssetCheckResult(
        passed=not failed,
        severity=severity,
        metadata=metadata,
        description=f"{len(failed)} of {len(outcomes)} {level} expectations failed" if failed else None,
    )


def _check(name: str, level: str) -> dg.AssetChecksDefinition:
    blocking = level == "critical"

    @dg.asset_check(
        asset=GUARDED[name],
        name=f"gx_{name}_{level}",
        blocking=blocking,
        description=(
            f"Great Expectations suite '{name}', {level} expectations"
            + (": bad data stops here, downstream assets do not run." if blocking else ": reported, not blocking.")
        ),
    )
    def _gx(context: dg.AssetCheckExecutionContext, warehouse: LakehouseResource) -> dg.AssetCheckResult:
        severity = dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN
        version = data_version_of(context.instance, GUARDED[name])
        earlier = passed_on(context.instance, dg.AssetCheckKey(GUARDED[name], f"gx_{name}_{level}"), version)
        if earlier is not None:
            context.log.info(f"data version {version} unchanged since run {earlier['run_id']} passed: not re-read")
            return dg.AssetCheckResult(
                passed=True,
                severity=severity,
                metadata={
                    "rows_checked": earlier["rows_checked"],
                    "data_version": version,
                    "suites_digest": SUITES_DIGEST,
                    "reused_from_run": earlier["run_id"],
                },
                description=f"data unchanged since run {earlier['run_id'][:8]}, where every expectation passed",
            )
        suite = suites()[name]
        with warehouse.reader() as con:
            frame = con.execute(suite.query).df()
        expectations = suite.critical if blocking else suite.warnings
        outcomes = validate(frame, expectations, suite.id_columns, f"{name}_{level}")
        return _result(name, level, outcomes, len(frame), severity, version)

    return _gx


def quality_checks() -> list[dg.AssetChecksDefinition]:
    return [_check(name, level) for name in GUARDED for level in ("critical", "warnings")]
