import dagster as dg
from pydantic import Field

from dwc_resources import BlobStoreResource, LakehouseResource, LandingZoneResource

from ..automation import eager
from ..plots import png_chart, series_by
from ..shared import markdown_table
from ..tables import content_version
from .derive import build_chunks, find_near_duplicates
from .formats import Limits
from .ingest import IngestSettings, ingest_landing
from .schema import DDL

DOCUMENTS = dg.AssetKey(["docs", "documents"])
QUARANTINE = dg.AssetKey(["docs", "quarantine"])
CHUNKS = dg.AssetKey(["docs", "chunks"])
NEAR_DUPLICATES = dg.AssetKey(["docs", "near_duplicates"])
OWNERS = ["team:data-platform"]


class IngestConfig(dg.Config):
    rehash: bool = Field(default=False, description="Re-read files whose size and mtime did not change")


def _per_day(con, table: str, at: str, by: str, days: int = 30) -> list[tuple]:
    """(day, `by`, rows) over the last `days` days of `table` that saw any rows."""
    return con.execute(
        f"""WITH d AS (SELECT strftime({at}, '%Y-%m-%d') AS day, {by} AS kind FROM {table})
            SELECT day, kind, count(*) FROM d
            WHERE day IN (SELECT DISTINCT day FROM d ORDER BY day DESC LIMIT {days}) GROUP BY 1, 2"""
    ).fetchall()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            DOCUMENTS,
            description="Every version of every accepted document, with extracted text and metadata.",
            kinds={"duckdb", "python"},
            owners=OWNERS,
            tags={"domain": "ingestion"},
        ),
        dg.AssetSpec(
            QUARANTINE,
            description="Files that could not be accepted, each with the reason why.",
            kinds={"duckdb"},
            owners=OWNERS,
            tags={"domain": "ingestion"},
        ),
    ],
    group_name="ingestion",
)
def landing_documents(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    warehouse: LakehouseResource,
    landing: LandingZoneResource,
    blob_store: BlobStoreResource,
):
    """Ingest the landing zone: new and changed files become document versions, removed files tombstones."""
    settings = IngestSettings(
        max_file_bytes=landing.max_file_bytes,
        max_text_chars=landing.max_text_chars,
        limits=Limits(
            max_uncompressed_bytes=landing.max_uncompressed_bytes,
            max_pdf_pages=landing.max_pdf_pages,
            ocr_languages=landing.ocr_languages,
        ),
        batch_size=landing.batch_size,
        workers=landing.effective_workers(),
        rehash=config.rehash,
    )
    with warehouse.writer(DDL) as con:
        report = ingest_landing(
            con, landing.path, blob_store.config(), context.run.run_id, settings, log=context.log.info
        )
        totals = con.execute(
            """SELECT count(*), count(*) FILTER (is_current AND status = 'active'),
                      count(*) FILTER (is_current AND status = 'deleted'),
                      count(*) FILTER (is_current AND status = 'active' AND duplicate_of IS NOT NULL)
               FROM docs.documents"""
        ).fetchall()[0]
        formats = con.execute(
            """SELECT format, count(*) AS documents, sum(word_count) AS words FROM docs.documents
               WHERE is_current AND status = 'active' GROUP BY format ORDER BY documents DESC"""
        ).fetchall()
        newest = con.execute(
            """SELECT title, format, language, word_count, source_path FROM docs.documents
               WHERE is_current AND status = 'active' ORDER BY ingested_at DESC, doc_id LIMIT 10"""
        ).fetchall()
        q_total = con.execute("SELECT count(*) FROM docs.quarantine").fetchall()[0][0]
        versions = (
            content_version(con, "docs.documents", "doc_id, version, content_hash, status"),
            content_version(con, "docs.quarantine", "source_path, content_hash, reason_code"),
        )
        reasons = con.execute(
            "SELECT reason_code, count(*) FROM docs.quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        ingested_daily = _per_day(con, "docs.documents", "ingested_at", "format")
        quarantined_daily = _per_day(con, "docs.quarantine", "quarantined_at", "reason_code")
    rate = report.processed / report.seconds if report.seconds else 0.0
    # The data version is the content: a run that finds nothing new leaves it as it was, and the
    # assets that follow documents on their own (dwc_pipelines.automation.eager) are not set off.
    yield dg.MaterializeResult(
        asset_key=DOCUMENTS,
        data_version=versions[0],
        metadata={
            "dagster/row_count": totals[0],
            "current_documents": totals[1],
            "tombstones": totals[2],
            "exact_duplicates": totals[3],
            "files_scanned": report.scanned,
            "files_processed": report.processed,
            "files_unchanged": report.unchanged,
            "new_versions": report.new_versions,
            "tombstoned_this_run": report.tombstoned,
            "files_per_second": round(rate, 1),
            "by_format": dg.MetadataValue.md(markdown_table(["format", "documents", "words"], formats)),
            "by_format_chart": dg.MetadataValue.md(
                png_chart(
                    {"documents": [(f, n) for f, n, _ in formats]},
                    "Current documents by format",
                    "documents",
                    kind="bar",
                )
                if formats
                else "no documents yet"
            ),
            "ingested_per_day_chart": dg.MetadataValue.md(
                png_chart(
                    series_by(ingested_daily),
                    "Document versions ingested per day, by format",
                    "versions",
                    kind="stacked",
                )
                if ingested_daily
                else "no documents yet"
            ),
            "newest_documents": dg.MetadataValue.md(
                markdown_table(["title", "format", "language", "words", "source"], newest)
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE,
        data_version=versions[1],
        metadata={
            "dagster/row_count": q_total,
            "quarantined_this_run": report.quarantined_new,
            "by_reason": dg.MetadataValue.md(markdown_table(["reason", "files"], reasons)),
            "quarantined_per_day_chart": dg.MetadataValue.md(
                png_chart(series_by(quarantined_daily), "Files quarantined per day, by reason", "files", kind="stacked")
                if quarantined_daily
                else "nothing quarantined"
            ),
        },
    )


class ChunkConfig(dg.Config):
    max_tokens: int = Field(default=256, description="Tokens per chunk at most")
    overlap: int = Field(default=32, description="Tokens shared by neighbouring chunks")


@dg.asset(
    key=CHUNKS,
    deps=[DOCUMENTS],
    group_name="ingestion",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    automation_condition=eager(),
)
def chunks(
    context: dg.AssetExecutionContext, config: ChunkConfig, warehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Token-aware overlapping chunks of current documents, with ids stable for the same content."""
    with warehouse.writer(DDL) as con:
        stats = build_chunks(con, context.run.run_id, config.max_tokens, config.overlap, log=context.log.info)
        total, docs, avg = con.execute(
            "SELECT count(*), count(DISTINCT doc_id), coalesce(avg(n_tokens), 0) FROM docs.chunks"
        ).fetchall()[0]
        version = content_version(con, "docs.chunks", "chunk_id")
    return dg.MaterializeResult(
        data_version=version,
        metadata={"dagster/row_count": total, "documents": docs, "avg_tokens": round(avg, 1), **stats},
    )


class NearDuplicateConfig(dg.Config):
    threshold: float = Field(default=0.8, description="Estimated Jaccard similarity of 5-word shingles")


@dg.asset(
    key=NEAR_DUPLICATES,
    deps=[DOCUMENTS],
    group_name="ingestion",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    automation_condition=eager(),
)
def near_duplicates(
    context: dg.AssetExecutionContext, config: NearDuplicateConfig, warehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Current documents that nearly repeat another (MinHash LSH), each with its nearest twin."""
    with warehouse.writer(DDL) as con:
        stats = find_near_duplicates(con, context.run.run_id, config.threshold)
        preview = con.execute(
            """SELECT a.title, b.title, round(n.similarity, 2) FROM docs.near_duplicates n
               JOIN docs.documents a ON a.doc_id = n.doc_id AND a.is_current
               JOIN docs.documents b ON b.doc_id = n.twin_doc_id AND b.is_current
               ORDER BY n.similarity DESC, n.doc_id LIMIT 10"""
        ).fetchall()
        version = content_version(con, "docs.near_duplicates", "doc_id, twin_doc_id")
    return dg.MaterializeResult(
        data_version=version,
        metadata={
            "dagster/row_count": stats["near_duplicate_documents"],
            **stats,
            "preview": dg.MetadataValue.md(markdown_table(["document", "nearest twin", "similarity"], preview)),
        },
    )
