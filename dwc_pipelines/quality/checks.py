import json

import dagster as dg

from dwc_resources import LakehouseResource

from ..enrichment.assets import DOCUMENT_ENRICHMENT
from ..ingestion.assets import CHUNKS, DOCUMENTS
from ..ml.assets import PREDICTIONS
from ..recs.assets import INTERACTIONS
from ..shared import markdown_table
from .suites import suites, validate

GUARDED = {
    "documents": DOCUMENTS,
    "chunks": CHUNKS,
    "enrichment": DOCUMENT_ENRICHMENT,
    "predictions": PREDICTIONS,
    "interactions": INTERACTIONS,
}


def _result(name: str, level: str, outcomes, rows: int, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
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
    }
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
    def _gx(warehouse: LakehouseResource) -> dg.AssetCheckResult:
        suite = suites()[name]
        with warehouse.reader() as con:
            frame = con.execute(suite.query).df()
        expectations = suite.critical if blocking else suite.warnings
        outcomes = validate(frame, expectations, suite.id_columns, f"{name}_{level}")
        return _result(
            name, level, outcomes, len(frame), dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN
        )

    return _gx


def quality_checks() -> list[dg.AssetChecksDefinition]:
    return [_check(name, level) for name in GUARDED for level in ("critical", "warnings")]
