import dagster as dg

from dwc_resources import LakehouseResource

from .assets import DOCUMENTS, QUARANTINE


def _no_offending_rows(warehouse: LakehouseResource, count_sql: str, label: str) -> dg.AssetCheckResult:
    """Passes when `count_sql` (a count of rows that break the rule) returns 0."""
    with warehouse.reader() as con:
        offending = con.execute(count_sql).fetchall()[0][0]
    return dg.AssetCheckResult(passed=offending == 0, metadata={label: offending})


@dg.asset_check(asset=DOCUMENTS, blocking=True, description="(doc_id, version) identifies one row")
def documents_unique_versions(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    with warehouse.reader() as con:
        dupes = con.execute(
            "SELECT doc_id, version, count(*) FROM docs.documents GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 20"
        ).fetchall()
        multi_current = con.execute(
            "SELECT count(*) FROM (SELECT doc_id FROM docs.documents WHERE is_current GROUP BY 1 HAVING count(*) > 1)"
        ).fetchall()[0][0]
    return dg.AssetCheckResult(
        passed=not dupes and multi_current == 0,
        metadata={
            "duplicate_keys": len(dupes),
            "docs_with_several_current_rows": multi_current,
            "sample": str(dupes[:5]),
        },
    )


@dg.asset_check(
    asset=DOCUMENTS,
    blocking=True,
    description="Accepted documents never have empty text (unless governance removed the document since)",
)
def accepted_documents_have_text(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    return _no_offending_rows(
        warehouse,
        """SELECT count(*) FROM docs.documents WHERE status = 'active' AND (text IS NULL OR trim(text) = '')
           AND doc_id NOT IN (SELECT doc_id FROM docs.documents WHERE is_current AND status IN ('expired', 'erased'))""",
        "empty_accepted_documents",
    )


@dg.asset_check(asset=QUARANTINE, blocking=True, description="Every quarantined file says why")
def quarantine_reasons_present(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    return _no_offending_rows(
        warehouse,
        "SELECT count(*) FROM docs.quarantine WHERE reason IS NULL OR trim(reason) = '' OR reason_code IS NULL",
        "rows_without_reason",
    )
